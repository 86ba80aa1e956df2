"""Every match and target iptables ships is read; what a walk can decide is decided, the rest branches with an
Assumption naming the rule and what it depended on (match.py, target.py, dependency.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from kplab.netfilter import Packet, parse_ruleset
from kplab.netfilter.fib import node_fib, parse_addrs
from kplab.netfilter.node import node_stack, trace_first_packet

FIELD = Path(__file__).resolve().parents[2] / ".." / "shared" / "field"

# `iptables-save` output of iptables v1.8.9 after restoring these rules into a fresh network namespace
# (kpl-ext-PID, 2026-11-30): the kernel accepted every one; this is exactly what it printed back.
REAL_SAVE = """*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -m ttl --ttl-lt 5 -j TTL --ttl-set 64
-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu
-A POSTROUTING -o virbr0 -p udp -m udp --dport 68 -j CHECKSUM --checksum-fill
-A POSTROUTING -j CLASSIFY --set-class 0001:0010
-A POSTROUTING -p tcp -j DSCP --set-dscp 0x0a
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:ufw-not-local - [0:0]
-A INPUT -m pkttype --pkt-type broadcast -j DROP
-A INPUT -p tcp -m tcp --dport 80 -m hashlimit --hashlimit-above 10/sec --hashlimit-burst 5 --hashlimit-mode srcip --hashlimit-name http -j DROP
-A INPUT -m policy --dir in --pol ipsec -j DROP
-A INPUT -p tcp -m string --string "GET /admin" --algo bm -j DROP
-A INPUT -m length --length 0:100 -j ACCEPT
-A INPUT -m connlimit --connlimit-above 10 --connlimit-mask 32 --connlimit-saddr -j REJECT --reject-with icmp-port-unreachable
-A INPUT -m socket --transparent -j ACCEPT
-A INPUT -m u32 --u32 "0x0>>0x16&0x3c@0x4&0xffff=0x1" -j DROP
-A INPUT -m addrtype --dst-type LOCAL -m tos --tos 0x10/0x3f -j ACCEPT
-A INPUT -m dscp --dscp 0x0a -j ACCEPT
-A INPUT -p tcp -m ecn --ecn-tcp-cwr -j ACCEPT
-A INPUT -m helper --helper ftp -j ACCEPT
-A INPUT -m mac --mac-source 00:11:22:33:44:55 -j ACCEPT
-A INPUT -m time --timestart 08:00:00 --timestop 17:00:00 --datestop 2038-01-19T03:14:07 -j ACCEPT
-A INPUT -m quota --quota 1000 -j ACCEPT
-A INPUT -p tcp -m tcpmss --mss 1000:1500 -j ACCEPT
-A INPUT -m connbytes --connbytes 10:100 --connbytes-mode bytes --connbytes-dir both -j ACCEPT
-A INPUT -m devgroup --src-group 0x1 -j ACCEPT
-A INPUT -m cpu --cpu 0 -j ACCEPT
-A INPUT -m cgroup --cgroup 1 -j ACCEPT
-A INPUT -p tcp -j NFQUEUE --queue-num 1 --queue-bypass
-A INPUT -j AUDIT --type drop
-A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j SYNPROXY --sack-perm --timestamp --wscale 7 --mss 1460
-A OUTPUT -m owner --uid-owner 1000 -j ACCEPT
-A ufw-not-local -m limit --limit 3/min --limit-burst 10 -j RETURN
COMMIT
"""

BASE = """*filter
:INPUT {policy} [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
{rules}
COMMIT
"""


def walk(rules: str, packet: Packet, policy: str = "DROP", local=("192.0.2.11",), in_iface="eth0"):
    ruleset = parse_ruleset(BASE.format(policy=policy, rules=rules))
    return trace_first_packet(node_stack(ruleset, list(local)), packet, in_iface)


SYN = Packet("203.0.113.7", "192.0.2.11", "tcp", 40000, 80)


def test_real_iptables_save_reads_back_unchanged():
    assert parse_ruleset(REAL_SAVE).save() == REAL_SAVE


@pytest.mark.parametrize("name", ["F2-unknown-match-limit.rules", "F2b-unknown-target-checksum.rules"])
def test_field_dumps_are_read(name):
    path = FIELD / name
    if not path.is_file():
        pytest.skip(f"field data not found at {path}")
    outcomes = trace_first_packet(node_stack(parse_ruleset(path.read_text(), str(path)), ["192.0.2.11"]), SYN)
    assert {w.verdict for _, w in outcomes} == {"ACCEPT"}


@pytest.mark.parametrize("rule, dst, verdict", [
    ("-A INPUT -m pkttype --pkt-type broadcast -j ACCEPT", "192.0.2.255", "ACCEPT"),
    ("-A INPUT -m pkttype --pkt-type broadcast -j ACCEPT", "192.0.2.11", "DROP"),
    ("-A INPUT -m pkttype --pkt-type unicast -j ACCEPT", "192.0.2.11", "ACCEPT"),
    ("-A INPUT -m pkttype ! --pkt-type unicast -j ACCEPT", "192.0.2.11", "DROP"),
])
def test_pkttype_from_the_destination(rule, dst, verdict):
    fib = node_fib(parse_addrs("2: eth0    inet 192.0.2.11/24 brd 192.0.2.255 scope global eth0\n"), None)
    stack = node_stack(parse_ruleset(BASE.format(policy="DROP", rules=rule)), [], fib=fib)
    outcomes = trace_first_packet(stack, Packet("203.0.113.7", dst, "udp", 40000, 67))
    assert [w.verdict for _, w in outcomes] == [verdict]


@pytest.mark.parametrize("rule, verdict", [
    ("-A INPUT -m policy --dir in --pol none -j ACCEPT", "ACCEPT"),   # no IPsec in kplab: 'none' matches
    ("-A INPUT -m policy --dir in --pol ipsec -j ACCEPT", "DROP"),
    ("-A INPUT -m helper --helper ftp -j ACCEPT", "DROP"),            # no conntrack helper assigned
    ("-A INPUT -m owner --uid-owner 0 -j ACCEPT", "DROP"),            # received: no socket, owner fails
    ("-A INPUT -m owner ! --uid-owner 0 -j ACCEPT", "ACCEPT"),        # ... unless every option is negated
    ("-A INPUT -m tos --tos 0x00/0xff -j ACCEPT", "ACCEPT"),          # a socket's default TOS
    ("-A INPUT -m dscp --dscp 0x0a -j ACCEPT", "DROP"),
    ("-A INPUT -p tcp -m ecn --ecn-tcp-cwr -j ACCEPT", "DROP"),       # a plain SYN has no CWR
    ("-A INPUT -j CHECKSUM --checksum-fill\n-A INPUT -j ACCEPT", "ACCEPT"),
    ("-A INPUT -j AUDIT --type accept\n-A INPUT -j TCPMSS --set-mss 1400", "DROP"),
    ("-A INPUT -p tcp -m tcp --syn -j SYNPROXY --mss 1460", "DROP"),  # SYNPROXY answers the SYN itself
])
def test_decided_without_assumptions(rule, verdict):
    outcomes = walk(rule, SYN)
    assert [(w.verdict, w.assumptions) for _, w in outcomes] == [(verdict, ())]


@pytest.mark.parametrize("rule, depends", [
    ("-A INPUT -m limit --limit 3/min -j ACCEPT", "-m limit"),
    ("-A INPUT -m hashlimit --hashlimit-upto 5/sec --hashlimit-name x -j ACCEPT", "-m hashlimit"),
    ("-A INPUT -m socket --transparent -j ACCEPT", "-m socket"),
    ('-A INPUT -p tcp -m string --string "GET /" --algo bm -j ACCEPT', "payload"),
    ("-A INPUT -m length --length 0:100 -j ACCEPT", "length"),
    ("-A INPUT -m ttl --ttl-gt 10 -j ACCEPT", "TTL"),
    ("-A INPUT -p tcp -j NFQUEUE --queue-num 3", "NFQUEUE --queue-num 3"),
])
def test_state_dependent_rules_give_both_outcomes_naming_the_rule(rule, depends):
    outcomes = walk(rule, SYN)
    assert sorted(w.verdict for _, w in outcomes) == ["ACCEPT", "DROP"]
    for _, w in outcomes:
        (assumption,) = w.assumptions
        assert (assumption.table, assumption.chain, assumption.rule) == ("filter", "INPUT", 1)
        assert depends in assumption.depends_on
        assert assumption.matched == (w.verdict == "ACCEPT")


def test_state_dependent_match_on_a_logging_rule_does_not_branch():
    outcomes = walk("-A INPUT -m limit --limit 3/min -j LOG --log-prefix x\n-A INPUT -j ACCEPT", SYN)
    assert [(w.verdict, w.assumptions) for _, w in outcomes] == [("ACCEPT", ())]


def test_known_ttl_is_decided_and_forwarding_decrements_it():
    rules = "-A FORWARD -m ttl --ttl-eq 63 -j DROP"
    ruleset = parse_ruleset(BASE.format(policy="ACCEPT", rules=rules))
    stack = node_stack(ruleset, ["192.0.2.11"])
    outcomes = trace_first_packet(stack, Packet("203.0.113.7", "198.51.100.1", "tcp", 40000, 80, ttl=64))
    assert [(w.verdict, w.assumptions) for _, w in outcomes] == [("DROP", ())]


def test_owner_on_output_depends_on_the_sending_process():
    ruleset = parse_ruleset("*filter\n:OUTPUT DROP [0:0]\n-A OUTPUT -m owner --uid-owner 1000 -j ACCEPT\nCOMMIT\n")
    outcomes = trace_first_packet(node_stack(ruleset, ["192.0.2.11"]), Packet("192.0.2.11", "8.8.8.8", "tcp", 1, 53))
    assert sorted(w.verdict for _, w in outcomes) == ["ACCEPT", "DROP"]
    assert all("uid" in w.assumptions[0].depends_on for _, w in outcomes)


def test_netmap_maps_the_network_part():
    ruleset = parse_ruleset("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                            ":POSTROUTING ACCEPT [0:0]\n-A PREROUTING -d 10.1.0.0/16 -j NETMAP --to 10.2.0.0/16\n"
                            "COMMIT\n")
    (_, w), = trace_first_packet(node_stack(ruleset, ["192.0.2.11"]), Packet("203.0.113.7", "10.1.3.4", "tcp", 1, 80))
    assert w.packet.dst == "10.2.3.4"


# ---- a rule the packet never reaches never blocks a trace (and never changes its answer)

REACHABLE_LINES = [line for line in REAL_SAVE.splitlines() if line.startswith("-A ")]
FILTER_LINES = [line.split(" ", 2)[2] for line in REACHABLE_LINES
                if line.split()[1] in ("INPUT", "OUTPUT", "ufw-not-local")]
MANGLE_LINES = [line.split(" ", 2)[2] for line in REACHABLE_LINES
                if line.split()[1] in ("PREROUTING", "FORWARD", "POSTROUTING")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(FILTER_LINES), min_size=1, max_size=8),
       st.lists(st.sampled_from(MANGLE_LINES), max_size=4),
       st.sampled_from(["ACCEPT", "DROP"]),
       st.sampled_from([("203.0.113.7", "192.0.2.11", "tcp", 80), ("203.0.113.7", "192.0.2.11", "udp", 53),
                        ("203.0.113.7", "198.51.100.9", "tcp", 443), ("192.0.2.11", "8.8.8.8", "udp", 53)]))
def test_unreached_rules_never_block_a_trace(filter_rules, mangle_rules, policy, flow):
    src, dst, protocol, dport = flow
    base = (f"*filter\n:INPUT {policy} [0:0]\n:FORWARD {policy} [0:0]\n:OUTPUT {policy} [0:0]\n"
            "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n")
    unreached = (base.replace("COMMIT\n", "") + ":UNREACHED - [0:0]\n" +
                 "".join(f"-A UNREACHED {r}\n" for r in filter_rules) + "COMMIT\n*mangle\n:PREROUTING ACCEPT [0:0]\n"
                 ":INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
                 ":UNREACHED2 - [0:0]\n" + "".join(f"-A UNREACHED2 {r}\n" for r in mangle_rules) + "COMMIT\n")
    packet = Packet(src, dst, protocol, 40000, dport)

    def answer(text):
        outcomes = trace_first_packet(node_stack(parse_ruleset(text), ["192.0.2.11"]), packet)
        return [(p, w.verdict, w.assumptions, w.packet) for p, w in outcomes]
    assert answer(unreached) == answer(base)
