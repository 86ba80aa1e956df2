"""RELATED: ICMP errors filed under the connection they quote, and NAT undone on both headers."""
from __future__ import annotations

from kplab.netfilter import Packet, Route, Stack, parse_ruleset
from kplab.netfilter.conntrack import Conntrack

ROUTER_IFACES = {"eth0": ["192.168.0.10/24"], "cni0": ["10.244.1.1/24"], "lo": ["127.0.0.1/8"]}


def router(rules: str) -> Stack:
    """A node: pods on cni0 (10.244.1.0/24), everything else out eth0."""
    def route(p: Packet) -> Route:
        if p.dst in ("192.168.0.10", "10.244.1.1", "127.0.0.1"):
            return Route(local=True, src=p.dst)
        if p.dst.startswith("10.244.1."):
            return Route(local=False, out_iface="cni0", src="10.244.1.1")
        return Route(local=False, out_iface="eth0", gateway="192.168.0.1", src="192.168.0.10")
    return Stack(parse_ruleset(rules, "t"), [], ROUTER_IFACES, route=route)


NO_ENDPOINTS = """*filter
:FORWARD ACCEPT [0:0]
-A FORWARD -d 10.96.0.9/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
COMMIT
"""
DNAT_THEN_REJECT = """*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.9/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.2.5:8080
COMMIT
*filter
:FORWARD ACCEPT [0:0]
-A FORWARD -d 10.244.2.5/32 -j REJECT
COMMIT
"""
MASQ = """*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 10.244.0.0/16 -o eth0 -j MASQUERADE
COMMIT
"""
SYN = Packet("10.244.1.5", "10.96.0.9", "tcp", 43210, 80, "SYN")


def unreachable(src: str, dst: str, about: Packet, code: int = 3) -> Packet:
    return Packet(src, dst, "icmp", icmp_type="destination-unreachable", icmp_code=code, embedded=about)


def test_error_about_a_tracked_connection_is_related_in_reply_direction():
    ct = Conntrack()
    conn, _, state, _ = ct.track(SYN, 0)
    ct.confirm(conn, 0)
    found, reply, state, _ = ct.track(unreachable("10.244.1.1", "10.244.1.5", SYN), 1)
    assert (found, reply, state) == (conn, True, "RELATED")
    assert conn.tcp_state == "SYN_SENT" and not conn.seen_reply  # an error never moves the connection on


def test_error_about_no_connection_or_to_the_wrong_address_is_invalid():
    ct = Conntrack()
    assert ct.track(unreachable("10.244.1.1", "10.244.1.5", SYN), 0)[2] == "INVALID"
    conn, *_ = ct.track(SYN, 0)
    ct.confirm(conn, 0)
    assert ct.track(unreachable("10.244.1.1", "10.244.1.99", SYN), 1)[2] == "INVALID"
    assert ct.track(Packet("10.244.1.1", "10.244.1.5", "icmp", icmp_type="destination-unreachable"), 1)[2] == \
        "INVALID"


def test_reject_in_forward_sends_port_unreachable_from_the_address_facing_the_sender():
    stack = router(NO_ENDPOINTS)
    walk = stack.receive(SYN, "cni0")
    assert walk.verdict == "REJECT"
    error = stack.reject_error(walk)
    assert (error.src, error.dst, error.icmp_type, error.icmp_code) == \
        ("10.244.1.1", "10.244.1.5", "destination-unreachable", 3)
    assert error.embedded == SYN
    sent = stack.send_reject(walk)
    assert sent.verdict == "ACCEPT" and sent.ctstate == "RELATED" and sent.packet == error  # no NAT: unchanged
    assert sent.route.out_iface == "cni0"
    assert len(stack.conntrack) == 0  # the rejected connection was never confirmed, and the error does not


def test_reject_with_tcp_reset_answers_from_the_rejected_destination():
    stack = router(NO_ENDPOINTS.replace("icmp-port-unreachable", "tcp-reset"))
    walk = stack.receive(SYN, "cni0")
    rst = stack.reject_error(walk)
    assert (rst.src, rst.sport, rst.dst, rst.dport, rst.tcp_flags) == ("10.96.0.9", 80, "10.244.1.5", 43210,
                                                                       "RST,ACK")
    ack = stack.receive(SYN.replace(tcp_flags="ACK", sport=43211), "cni0")
    assert stack.reject_error(ack).tcp_flags == "RST"


def test_reject_for_this_host_answers_from_the_address_it_was_sent_to():
    stack = router("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 31000 -j REJECT\nCOMMIT\n")
    walk = stack.receive(Packet("203.0.113.7", "192.168.0.10", "tcp", 5000, 31000), "eth0")
    assert stack.reject_error(walk).src == "192.168.0.10"


def test_error_after_dnat_is_translated_back_outer_source_and_quoted_packet():
    stack = router(DNAT_THEN_REJECT)
    walk = stack.receive(SYN, "cni0")
    assert walk.verdict == "REJECT" and walk.packet.dst == "10.244.2.5"
    assert stack.reject_error(walk).embedded.dst == "10.244.2.5"  # quotes the packet as it was rejected
    sent = stack.send_reject(walk)
    error = sent.packet
    assert (error.src, error.dst) == ("10.96.0.9", "10.244.1.5")  # the client sees it come from the ClusterIP
    assert (error.embedded.dst, error.embedded.dport) == ("10.96.0.9", 80)
    assert any(s.kind == "nat" and s.hook == "POSTROUTING" for s in sent.steps)


def test_forwarded_error_of_a_masqueraded_connection_reaches_the_real_client():
    stack = router(MASQ)
    out = stack.receive(Packet("10.244.1.5", "8.8.8.8", "tcp", 43210, 443), "cni0")
    assert out.packet.src == "192.168.0.10"
    error = unreachable("198.51.100.1", "192.168.0.10", out.packet, code=1)
    back = stack.receive(error, "eth0")
    assert back.ctstate == "RELATED" and back.verdict == "ACCEPT"
    assert (back.packet.src, back.packet.dst) == ("198.51.100.1", "10.244.1.5")  # outer source kept
    assert (back.packet.embedded.src, back.packet.embedded.sport) == ("10.244.1.5", 43210)
    assert back.route.out_iface == "cni0"


def test_related_errors_pass_a_related_established_accept_and_skip_new_only_rules():
    rules = """*filter
:FORWARD DROP [0:0]
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -m conntrack --ctstate NEW -s 10.244.0.0/16 -j ACCEPT
COMMIT
"""
    stack = router(rules)
    out = stack.receive(Packet("10.244.1.5", "8.8.8.8", "tcp", 43210, 443), "cni0")
    assert out.verdict == "ACCEPT"
    back = stack.receive(unreachable("198.51.100.1", "10.244.1.5", out.packet), "eth0")
    assert back.verdict == "ACCEPT" and back.deciding_step().rule_number == 1
    stray = stack.receive(unreachable("198.51.100.1", "10.244.1.5", out.packet.replace(sport=1)), "eth0")
    assert stray.ctstate == "INVALID" and stray.verdict == "DROP"
