from __future__ import annotations

from fractions import Fraction

import pytest

from kplab.netfilter import Packet, Route, SeededChooser, Stack, enumerate_outcomes, parse_ruleset

SERVICE = """*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-X - [0:0]
:KUBE-SEP-1 - [0:0]
:KUBE-SEP-2 - [0:0]
:KUBE-SEP-3 - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A OUTPUT -j KUBE-SERVICES
-A POSTROUTING -j KUBE-POSTROUTING
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -j MASQUERADE
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m tcp -p tcp -d 10.96.0.5 --dport 80 -j KUBE-SVC-X
-A KUBE-SVC-X ! -s 10.244.0.0/16 -m tcp -p tcp -d 10.96.0.5 --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-X -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-1
-A KUBE-SVC-X -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-2
-A KUBE-SVC-X -j KUBE-SEP-3
-A KUBE-SEP-1 -m tcp -p tcp -j DNAT --to-destination 10.244.1.1:8080
-A KUBE-SEP-2 -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SEP-3 -m tcp -p tcp -j DNAT --to-destination 10.244.1.3:8080
COMMIT
"""


def node(text: str = SERVICE, **kw) -> Stack:
    return Stack(parse_ruleset(text, "t"), ["192.168.0.10"], {"eth0": ["192.168.0.10/24"], "lo": ["127.0.0.1/8"]}, **kw)


SYN = Packet("10.244.2.7", "10.96.0.5", "tcp", 5555, 80, "SYN")


def test_one_third_each_for_kube_proxys_chain():
    stack = node()
    outcomes = enumerate_outcomes(lambda ch: stack.copy().receive(SYN, "eth0", ch))
    assert sorted((w.dnat, p) for p, w in outcomes) == [
        ("10.244.1.1:8080", Fraction(1, 3)), ("10.244.1.2:8080", Fraction(1, 3)), ("10.244.1.3:8080", Fraction(1, 3))]
    exact = enumerate_outcomes(lambda ch: stack.copy().receive(SYN, "eth0", ch), exact_kernel=True)
    assert exact[0][0] == Fraction(715827883, 2**31)
    assert sum(p for p, _ in exact) == 1


def test_seeded_chooser_is_deterministic():
    picks = [node().receive(SYN, "eth0", SeededChooser(s)).dnat for s in range(30)]
    assert picks == [node().receive(SYN, "eth0", SeededChooser(s)).dnat for s in range(30)]
    assert len(set(picks)) == 3


def test_nat_decided_on_first_packet_only_and_reply_is_de_natted():
    stack = node()
    first = stack.receive(SYN, "eth0", SeededChooser(1))
    endpoint = first.packet
    assert first.ctstate == "NEW" and first.dnat
    assert len(stack.conntrack) == 1
    # The reply from the endpoint is de-NATed back to the service address, without nat chains.
    reply = Packet(endpoint.dst, SYN.src, "tcp", endpoint.dport, SYN.sport, "SYN,ACK")
    back = stack.receive(reply, "eth0")
    assert back.ctstate == "ESTABLISHED"
    assert (back.packet.src, back.packet.sport) == ("10.96.0.5", 80)
    assert not any(s.table == "nat" for s in back.steps)
    # Later packets follow the connection, whatever the random chooser would say.
    for seed in range(5):
        later = stack.receive(SYN.replace(tcp_flags="ACK"), "eth0", SeededChooser(seed))
        assert later.packet.dst == endpoint.dst
        assert later.ctstate == "ESTABLISHED"
        assert not any(s.table == "nat" and s.kind == "rule" for s in later.steps)
    conn = stack.conntrack.connections[0]
    assert conn.tcp_state == "ESTABLISHED" and conn.assured
    line = str(stack.conntrack).splitlines()[0]
    assert line.startswith("tcp      6 432000 ESTABLISHED src=10.244.2.7 dst=10.96.0.5 sport=5555 dport=80 src=10.244.1.")
    assert line.endswith("[ASSURED] mark=0 use=1")


def test_stray_packets():
    stack = node(tcp_loose=False)
    walk = stack.receive(SYN.replace(tcp_flags="ACK"), "eth0")
    assert walk.ctstate == "INVALID" and walk.connection is None
    assert len(stack.conntrack) == 0
    # The kernel default (nf_conntrack_tcp_loose=1) picks a mid-stream ACK up as NEW; a stray RST never starts one.
    loose = node()
    assert loose.receive(SYN.replace(tcp_flags="ACK"), "eth0").ctstate == "NEW"
    assert node().receive(SYN.replace(tcp_flags="RST"), "eth0").ctstate == "INVALID"


def test_invalid_is_dropped_by_kube_forward():
    rules = "*filter\n:KUBE-FORWARD - [0:0]\n-A FORWARD -j KUBE-FORWARD\n" \
            "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n"
    assert node(rules, tcp_loose=False).receive(SYN.replace(tcp_flags="FIN,ACK"), "eth0").verdict == "DROP"
    assert node(rules).receive(SYN, "eth0").verdict == "ACCEPT"


def test_masquerade_uses_out_interface_address_and_avoids_port_clash():
    stack = node()
    outside = Packet("203.0.113.9", "10.96.0.5", "tcp", 5555, 80)
    one = stack.receive(outside, "eth0", SeededChooser(3))
    assert one.masqueraded and (one.packet.src, one.packet.sport) == ("192.168.0.10", 5555)
    # A second client with the same source port to the same endpoint: the reply tuple would clash.
    stack2 = stack.copy()
    other = stack2.receive(outside.replace(src="203.0.113.10"), "eth0", SeededChooser(3))
    assert other.packet.dst == one.packet.dst
    assert other.packet.sport != 5555
    assert other.connection.reply.dport == other.packet.sport


JUMPS = """*filter
:INPUT DROP [0:0]
:A - [0:0]
:B - [0:0]
:C - [0:0]
-A INPUT -p tcp --dport 1 -j A
-A INPUT -p tcp --dport 2 -g B
-A INPUT -p tcp --dport 3 -j C
-A INPUT -p tcp -j ACCEPT
-A A -j RETURN
-A B -j C
-A C -p tcp --dport 3 -j RETURN
COMMIT
"""


def kinds(walk):
    return [(s.kind, s.chain, s.action) for s in walk.steps if s.table == "filter"]


def test_jump_return_goto_fall_off_policy():
    stack = node(JUMPS)
    to_me = Packet("192.168.0.1", "192.168.0.10", "tcp", 1000, 1)
    assert kinds(stack.copy().receive(to_me, "eth0")) == [
        ("rule", "INPUT", "jump A"), ("rule", "A", "RETURN"), ("rule", "INPUT", "ACCEPT")]
    # -g: falling off C returns to INPUT's caller, i.e. nowhere: the policy decides.
    walk = stack.copy().receive(to_me.replace(dport=2), "eth0")
    assert kinds(walk) == [("rule", "INPUT", "goto B"), ("rule", "B", "jump C"), ("fall-off", "C", "RETURN"),
                           ("fall-off", "B", "RETURN"), ("policy", "INPUT", "DROP")]
    assert walk.verdict == "DROP"
    walk = stack.copy().receive(to_me.replace(dport=3), "eth0")
    assert kinds(walk) == [("rule", "INPUT", "jump C"), ("rule", "C", "RETURN"), ("rule", "INPUT", "ACCEPT")]
    udp = Packet("192.168.0.1", "192.168.0.10", "udp", 1000, 53)
    assert kinds(stack.copy().receive(udp, "eth0")) == [("policy", "INPUT", "DROP")]


def test_return_in_builtin_chain_uses_policy():
    stack = node("*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j RETURN\n-A FORWARD -j ACCEPT\nCOMMIT\n")
    assert stack.receive(SYN, "eth0").verdict == "DROP"


def test_reject_with():
    stack = node("*filter\n-A FORWARD -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n")
    walk = stack.receive(SYN, "eth0")
    assert (walk.verdict, walk.reject_with) == ("REJECT", "tcp-reset")


AFFINITY = """*nat
:KUBE-SVC-X - [0:0]
:KUBE-SEP-1 - [0:0]
:KUBE-SEP-2 - [0:0]
-A PREROUTING -p tcp -d 10.96.0.5 --dport 80 -j KUBE-SVC-X
-A KUBE-SVC-X -m recent --name KUBE-SEP-1 --rcheck --seconds 10800 --reap -j KUBE-SEP-1
-A KUBE-SVC-X -m recent --name KUBE-SEP-2 --rcheck --seconds 10800 --reap -j KUBE-SEP-2
-A KUBE-SVC-X -m statistic --mode random --probability 0.5 -j KUBE-SEP-1
-A KUBE-SVC-X -j KUBE-SEP-2
-A KUBE-SEP-1 -p tcp -m recent --name KUBE-SEP-1 --set -j DNAT --to-destination 10.244.1.1:80
-A KUBE-SEP-2 -p tcp -m recent --name KUBE-SEP-2 --set -j DNAT --to-destination 10.244.1.2:80
COMMIT
"""


def test_client_ip_affinity_with_recent_and_clock():
    stack = node(AFFINITY)
    first = stack.receive(SYN, "eth0", SeededChooser(0)).packet.dst
    for seed, sport in enumerate(range(6000, 6010)):  # new connections, other random draws
        assert stack.receive(SYN.replace(sport=sport), "eth0", SeededChooser(seed)).packet.dst == first
    stack.clock.advance(10801)
    after = {stack.copy().receive(SYN.replace(sport=7000), "eth0", SeededChooser(s)).packet.dst for s in range(20)}
    assert after == {"10.244.1.1", "10.244.1.2"}  # affinity expired: random again


def test_statistic_nth_is_deterministic_per_rule():
    rules = "*nat\n:A - [0:0]\n-A PREROUTING -p udp -m statistic --mode nth --every 3 --packet 1 " \
            "-j DNAT --to-destination 10.0.0.1\nCOMMIT\n"
    stack = node(rules)
    hits = [stack.receive(Packet("10.1.1.1", "10.2.2.2", "udp", 1000 + i, 53), "eth0").dnat is not None
            for i in range(7)]
    assert hits == [False, True, False, False, True, False, False]


def test_local_packet_to_local_address_comes_back_through_lo():
    rules = "*filter\n:INPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n"
    walk = node(rules).send(Packet("192.168.0.10", "192.168.0.10", "tcp", 1, 2))
    assert walk.verdict == "ACCEPT" and walk.route.local and walk.path == "output"
    assert walk.steps[-1].chain == "INPUT"


def test_ip_forward_off_drops_forwarded_packets():
    assert node(ip_forward=False).receive(Packet("1.1.1.1", "8.8.8.8", "udp", 1, 53), "eth0").verdict == "DROP"


def test_route_is_the_callers():
    seen = []

    def route(p):
        seen.append(p.dst)
        return Route(local=False, out_iface="tunl0")
    stack = Stack(parse_ruleset("*filter\n-A FORWARD -o tunl0 -j DROP\nCOMMIT\n"), [], {"tunl0": ["10.1.0.1/32"]},
                  route=route)
    assert stack.receive(SYN, "eth0").verdict == "DROP"
    assert seen == ["10.96.0.5"]


def test_connmark_save_and_restore():
    rules = "*mangle\n-A PREROUTING -j CONNMARK --restore-mark\n-A PREROUTING -m mark --mark 0 -j MARK --set-mark 0x7\n" \
            "-A PREROUTING -j CONNMARK --save-mark\nCOMMIT\n"
    stack = node(rules)
    stack.receive(SYN, "eth0")
    second = stack.receive(SYN.replace(tcp_flags="ACK"), "eth0")
    assert second.packet.mark == 0x7
    assert stack.conntrack.connections[0].mark == 0x7


MASQ_ALL = """*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -j MASQUERADE
COMMIT
"""


def test_masquerade_out_of_an_unnumbered_device_borrows_another_devices_address():
    """A Calico `cali*` veth has no IPv4 address: inet_select_addr takes the first global address of another device
    (the kernel only drops, "ate my IP address", when no device has one). Hairpin Service traffic leaves that way."""
    stack = Stack(parse_ruleset(MASQ_ALL, "t"), [], {"lo": ["127.0.0.1/8"], "eth0": ["192.168.49.3/24"], "cali1": []},
                  route=lambda p: Route(local=False, out_iface="cali1"))
    walk = stack.receive(Packet("10.244.120.102", "10.244.120.102", "tcp", 43210, 80, "SYN"), "cali1")
    assert walk.verdict == "ACCEPT" and walk.packet.src == "192.168.49.3"
    bare = Stack(parse_ruleset(MASQ_ALL, "t"), [], {"lo": ["127.0.0.1/8"], "cali1": []},
                 route=lambda p: Route(local=False, out_iface="cali1"))
    assert bare.receive(Packet("10.244.120.102", "10.244.120.102", "tcp", 43210, 80, "SYN"), "cali1").verdict == "DROP"


OUT_DEVICE = """*nat
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A OUTPUT -d 10.96.0.5/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.3:8080
-A POSTROUTING -o cali+ -j MARK --set-xmark 0x2/0xffffffff
COMMIT
*filter
:OUTPUT ACCEPT [0:0]
-A OUTPUT -o cali+ -j MARK --set-xmark 0x1/0xffffffff
-A OUTPUT -o eth0 -j ACCEPT
COMMIT
"""


def test_output_tables_match_the_first_routes_device_after_nat_reroutes():
    """nf_hook() fixes state->out once for LOCAL_OUT: after nat OUTPUT's DNAT re-routes the packet to a Calico
    pod's cali* device, filter OUTPUT's `-o` still sees eth0 (the ClusterIP's route); POSTROUTING sees cali*.
    Found by the kernel lab (host -> ClusterIP -> local Calico pod)."""
    def route(packet):
        if packet.dst == "10.244.1.3":
            return Route(local=False, out_iface="cali1", gateway=None, src="192.168.0.10")
        return Route(local=False, out_iface="eth0", gateway="192.168.0.1", src="192.168.0.10")
    stack = Stack(parse_ruleset(OUT_DEVICE, "t"), ["192.168.0.10"],
                  {"lo": ["127.0.0.1/8"], "eth0": ["192.168.0.10/24"], "cali1": []}, route=route)
    walk = stack.send(Packet("192.168.0.10", "10.96.0.5", "tcp", 5555, 80, "SYN"))
    decided = [(s.table, s.chain, s.rule_number) for s in walk.steps if s.kind == "rule" and s.rule_number]
    assert ("filter", "OUTPUT", 2) in decided and ("filter", "OUTPUT", 1) not in decided
    assert ("nat", "POSTROUTING", 1) in decided and walk.packet.mark == 0x2
    assert walk.route.out_iface == "cali1" and walk.packet.dst == "10.244.1.3"


@pytest.mark.parametrize("text, tracks", [
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 1.2.3.4 -j DROP\nCOMMIT\n", False),
    ("*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n", False),  # an empty nat table
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n", True),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m state --state NEW -j ACCEPT\nCOMMIT\n", True),
    ("*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j RETURN\nCOMMIT\n", False),  # a nat chain alone
    ("*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -j CT --notrack\nCOMMIT\n", False),
    ("*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -j CT --zone 1\nCOMMIT\n", True),
    ("*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j CONNMARK --restore-mark\nCOMMIT\n", True),
    (SERVICE, True),  # DNAT, MASQUERADE
])
def test_conntrack_only_where_a_rule_needs_it(text, tracks):
    """Linux registers conntrack's hooks in a namespace only when a rule needs them (checked in a kpl- namespace:
    after a datagram, `conntrack -L` lists nothing with the first two rule sets, one entry with the third)."""
    stack = node(text)
    walk = stack.receive(Packet("192.168.0.7", "192.168.0.10", "udp", 5555, 9), "eth0")
    kinds = [s.kind for s in walk.steps]
    assert ("conntrack" in kinds) == tracks, kinds
    # the stack still follows the connection, so the answer is known from a new packet either way
    back = stack.send(Packet("192.168.0.10", "192.168.0.7", "udp", 9, 5555))
    assert back.reply_direction
