"""Property tests: the fast path (rules indexed by destination) gives exactly what plain linear evaluation gives,
and parse(save(x)) == x, on random rule sets and packets."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kplab.netfilter import Packet, SeededChooser, Stack, parse_ruleset

ADDRS = ["10.0.0.1", "10.0.0.2", "10.0.1.1", "192.168.0.10"]
CHAINS = ["C1", "C2", "C3"]


@st.composite
def rule_line(draw, chain: str, allowed_targets: list[str]):
    parts = [f"-A {chain}"]
    if draw(st.booleans()):
        parts.append(("! " if draw(st.booleans()) else "") + "-s " + draw(st.sampled_from(ADDRS + ["10.0.0.0/16"])))
    if draw(st.booleans()):
        parts.append(("! " if draw(st.integers(0, 4)) == 0 else "") + "-d " + draw(st.sampled_from(ADDRS + ["10.0.0.0/24"])))
    proto = draw(st.sampled_from([None, "tcp", "udp"]))
    if proto:
        parts.append(f"-p {proto}")
        if draw(st.booleans()):
            parts.append(f"-m {proto} --dport {draw(st.sampled_from(['80', '53', '1:100']))}")
    if draw(st.booleans()):
        parts.append(f"-m comment --comment \"{draw(st.sampled_from(['a b', 'x', 'ns/svc:p']))}\"")
    if draw(st.integers(0, 3)) == 0:
        parts.append(f"-m statistic --mode random --probability {draw(st.sampled_from(['0.5', '0.33333333349']))}")
    if draw(st.integers(0, 4)) == 0:
        parts.append("-m mark --mark 0x1/0x1")
    target = draw(st.sampled_from(allowed_targets))
    if target == "MARK":
        parts.append("-j MARK --or-mark 0x1")
    elif target == "DNAT":
        port = ":8080" if proto else ""  # iptables takes a NAT port only with -p tcp/udp/sctp/dccp
        parts.append(f"-j DNAT --to-destination {draw(st.sampled_from(ADDRS))}{port}")
    elif target != "none":
        parts.append(("-g " if draw(st.integers(0, 3)) == 0 and target in CHAINS else "-j ") + target)
    return " ".join(parts)


@st.composite
def nat_ruleset(draw):
    lines = ["*nat"] + [f":{c} - [0:0]" for c in CHAINS]
    # C1 may jump to C2/C3, C2 to C3: no loops by construction.
    chain_targets = {"PREROUTING": CHAINS, "C1": ["C2", "C3"], "C2": ["C3"], "C3": []}
    for chain, jumps in chain_targets.items():
        for _ in range(draw(st.integers(0, 6))):
            lines.append(draw(rule_line(chain, jumps + ["RETURN", "MARK", "DNAT", "ACCEPT", "none"])))
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


packets = st.builds(Packet, st.sampled_from(ADDRS), st.sampled_from(ADDRS), st.sampled_from(["tcp", "udp"]),
                    st.just(1234), st.sampled_from([80, 53, 443]))


@settings(max_examples=150, deadline=None)
@given(nat_ruleset(), packets, st.integers(0, 10))
def test_fast_path_equals_linear(text, packet, seed):
    ruleset = parse_ruleset(text, "random")
    fast = Stack(ruleset, ["192.168.0.10"], {"eth0": ["192.168.0.10/24"]}, fast_path=True)
    slow = Stack(ruleset, ["192.168.0.10"], {"eth0": ["192.168.0.10/24"]}, fast_path=False)
    a = fast.receive(packet, "eth0", SeededChooser(seed))
    b = slow.receive(packet, "eth0", SeededChooser(seed))
    assert (a.verdict, a.packet, [str(s) for s in a.steps]) == (b.verdict, b.packet, [str(s) for s in b.steps])


@settings(max_examples=150, deadline=None)
@given(nat_ruleset())
def test_parse_save_parse_identity(text):
    first = parse_ruleset(text, "random")
    second = parse_ruleset(first.save(), "saved")
    assert second == first
    assert second.save() == first.save()
