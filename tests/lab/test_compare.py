"""The comparison, hop by hop, on the simulator's own traces: a walk equals itself; a different route (out
interface or next hop), conntrack entry, interface or reply path is reported with the hop and the field; what
differs by design (client port, SNAT port, the timeout countdown, use count) is left out of conntrack entries."""
from __future__ import annotations

from dataclasses import replace

import kplab
from kplab.lab.compare import entry_key, judge, path, routes
from kplab.lab.connection import Observation
from kplab.walk import network
from kplab.walk.trace import ConntrackDetail, RouteDetail, Step
from kplab.walk.walker import run_branches

CLIENT = "default/auth-565fbb4985-5kr4m"


def _branches():
    net = network(kplab.load("article"), overlay=None)
    return run_branches(net, CLIENT, "10.96.1.3", port=80, protocol="tcp", reply=True)


def _observed(trace) -> Observation:
    return Observation("reached", trace.delivered_to, trace.source_seen)


def _judge(branches, first_path):
    """judge() with every branch observed once, the first one walked as `first_path` says."""
    seen = [_observed(t) for _, t in branches]
    return judge("c", branches, seen, [first_path] + [path(t) for _, t in branches[1:]])


def _edit_step(trace, hop_index: int, kind: str, change):
    hop = trace.hops[hop_index]
    i = next(i for i, s in enumerate(hop.steps) if s.kind == kind)
    steps = hop.steps[:i] + (change(hop.steps[i]),) + hop.steps[i + 1:]
    hops = trace.hops[:hop_index] + (replace(hop, steps=steps),) + trace.hops[hop_index + 1:]
    return replace(trace, hops=hops)


def test_entry_key_leaves_out_what_differs_by_design():
    sim = ("tcp      6 120 SYN_SENT src=10.244.0.3 dst=10.96.1.3 sport=43210 dport=80 [UNREPLIED] "
           "src=10.244.1.2 dst=10.244.0.3 sport=80 dport=43210 mark=0 use=1")
    kernel = ("tcp      6 119 SYN_SENT src=10.244.0.3 dst=10.96.1.3 sport=10911 dport=80 [UNREPLIED] "
              "src=10.244.1.2 dst=10.244.0.3 sport=80 dport=27311 mark=0")
    assert entry_key(sim) == entry_key(kernel)
    assert entry_key(sim) != entry_key(sim.replace("src=10.244.1.2", "src=10.244.1.3"))  # another backend
    assert entry_key(sim) != entry_key(sim.replace("SYN_SENT", "ESTABLISHED"))
    assert entry_key(sim) != entry_key(sim.replace(" [UNREPLIED]", ""))
    assert entry_key(sim) != entry_key(sim.replace("dport=80 [", "dport=81 ["))


def test_a_walk_agrees_with_itself_and_every_change_is_reported():
    branches = _branches()
    p, t = branches[0]
    assert t.reply is not None and t.reply.verdict == "ACCEPT"
    same = _judge(branches, path(t))
    assert same.agrees, same

    node = next(i for i, h in enumerate(t.hops) if h.host == "minikube")
    moved = _edit_step(t, node, "route", lambda s: replace(s, detail=RouteDetail(s.detail.route, "eth1",
                                                                                 s.detail.next_hop)))
    v = _judge(branches, path(moved))
    assert not v.agrees and "on minikube" in v.problems[0] and "routes" in v.problems[0] and "eth1" in v.problems[0]

    def other_entry(s):
        if s.detail.state != "confirm":
            return s
        entry = s.detail.entry.replace("SYN_SENT", "ESTABLISHED")
        return replace(s, detail=ConntrackDetail(s.detail.hook, "confirm", s.detail.tuple, entry))
    confirm = next(k for k, s in enumerate(t.hops[node].steps) if s.kind == "conntrack" and s.detail.state == "confirm")
    hop = t.hops[node]
    steps = hop.steps[:confirm] + (other_entry(hop.steps[confirm]),) + hop.steps[confirm + 1:]
    changed = replace(t, hops=t.hops[:node] + (replace(hop, steps=steps),) + t.hops[node + 1:])
    v = _judge(branches, path(changed))
    assert not v.agrees and "conntrack" in v.problems[0] and "ESTABLISHED" in v.problems[0]

    # the reply: a different last hop on the way back
    back = t.reply
    lost = replace(t, reply=replace(back, hops=back.hops[:-1]))
    v = _judge(branches, path(lost))
    assert not v.agrees and "the reply" in v.problems[0]
    no_reply = replace(t, reply=None)
    v = _judge(branches, path(no_reply))
    assert not v.agrees and "kernel traced none" in v.problems[0]


def test_routes_fold_a_multipath_choice_into_its_lookup():
    hop = _branches()[0][1].hops[0]
    lookup = Step("route", "forward", "x nexthop via 1.1.1.1 dev eth0 nexthop via 1.1.1.2 dev eth0",
                  RouteDetail("x", "eth0", "1.1.1.1"))
    choose = Step("route", "choose", "nexthop via 1.1.1.2 dev eth0", RouteDetail("x", "eth0", "1.1.1.2"))
    assert routes(replace(hop, steps=(lookup, choose))) == (("forward", "eth0", "1.1.1.2"),)
    loop = Step("route", "loopback", "local 10.0.0.1 dev eth0", RouteDetail("local 10.0.0.1 dev eth0", "eth0"))
    assert routes(replace(hop, steps=(loop,))) == (("loopback", "eth0", None),)
