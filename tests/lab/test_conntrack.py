"""The kernel decides per namespace whether to track connections (nf_ct_netns_get, Linux >= 4.10): checked in
real namespaces against kplab.netfilter.stack.uses_conntrack, which decides where kplab shows conntrack."""
from __future__ import annotations

import socket

import pytest

from kplab.lab import namespace as ns
from kplab.netfilter import parse_ruleset
from kplab.netfilter.stack import uses_conntrack

pytestmark = pytest.mark.kernel

RULESETS = [
    ("", False),  # a pod's namespace: no rules at all
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -j ACCEPT\nCOMMIT\n", False),
    ("*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j RETURN\nCOMMIT\n", False),  # a nat chain alone
    ("*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp -j CT --notrack\nCOMMIT\n", False),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n", True),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m state --state ESTABLISHED -j ACCEPT\nCOMMIT\n", True),
    ("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp --dport 9 -j DNAT --to-destination 10.9.0.2:8080\n"
     "COMMIT\n", True),
]


def _tracked_after_a_connection(rules: str, tag: str) -> tuple[int, str]:
    """Two namespaces joined by a veth, `rules` loaded in the server's; one TCP connection; the server side's
    `conntrack -L` line count and its iptables-save text."""
    prefix = ns.run_prefix(tag)
    client, server = prefix + "c", prefix + "s"
    ns.create([client, server])
    try:
        ns.batch([f"link add eth0 type veth peer name eth0 netns {server}", "addr add 10.9.0.1/24 dev eth0",
                  "link set eth0 up", "link set lo up"], namespace=client)
        ns.batch(["addr add 10.9.0.2/24 dev eth0", "link set eth0 up", "link set lo up"], namespace=server)
        if rules:
            ns.run(["iptables-restore"], input=rules, namespace=server)
        with ns.inside(server):
            listener = socket.socket()
        with listener:
            listener.bind(("10.9.0.2", 8080))
            listener.listen()
            with ns.inside(client):
                conn = socket.socket()
            with conn:
                conn.settimeout(5)
                conn.connect(("10.9.0.2", 8080))
                accepted, _ = listener.accept()
                accepted.close()
        entries = [line for line in ns.run(["conntrack", "-L"], namespace=server).splitlines() if line.strip()]
        saved = ns.run(["iptables-save"], namespace=server)
        return len(entries), saved
    finally:
        assert ns.delete([client, server]) == []


@pytest.mark.parametrize("rules,tracks", RULESETS, ids=[f"rules{i}" for i in range(len(RULESETS))])
def test_the_kernel_tracks_only_where_the_rules_need_conntrack(rules, tracks):
    count, saved = _tracked_after_a_connection(rules, f"ct{RULESETS.index((rules, tracks))}")
    assert (count > 0) == tracks, f"kernel: {count} conntrack entries with rules:\n{rules or '(none)'}"
    # kplab reads the kernel's own rendering of the rules the same way
    assert uses_conntrack(parse_ruleset(saved, "iptables-save")) == tracks


def test_side_by_side_kplab_and_the_kernel_track_in_the_same_namespaces():
    # A pod -> ClusterIP connection: kplab's conntrack steps (on the nodes only, none in the pods) all pair with
    # the kernel's in the side-by-side player; no conntrack step is kplab's alone.
    import kplab
    from kplab.lab import Lab
    from kplab.views.player import play
    cluster = kplab.load("article")
    with Lab(cluster) as lab:
        hosts = lab.network.topology.hosts
        pod = next(name for name, host in sorted(hosts.items()) if host.kind == "pod" and "auth" in name)
        simulated, kernel, verdict = lab.side_by_side(pod, "10.96.1.3", 80)
    tracked = {hop.host for t in (simulated, simulated.reply) for hop, _ in t.steps("conntrack")}
    assert tracked and {hosts[h].kind for h in tracked} == {"node"}
    assert {hop.host for t in (kernel, kernel.reply) for hop, _ in t.steps("conntrack")} == tracked
    compare = play(simulated, compare=kernel, verdict=verdict).data["compare"]
    rows = [st for part in ("main", "reply") for row in compare[part]["rows"] for st in row["steps"]]
    ours = [st for st in rows if st["s"].startswith("conntrack")]
    assert ours and all(st["state"] == "same" for st in ours), ours
