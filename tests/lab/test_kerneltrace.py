"""The kernel's Trace of real connections: route, rule, nat, conntrack, deliver and drop steps taken from what the
kernel reported (nftrace, ctnetlink events, its own route lookups), for the first packet and for the answer back
through the de-NAT; a valid frozen Trace (JSON round trip, the schema)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from kplab.k8s import load_cluster
from kplab.lab import Lab
from kplab.lab.namespace import run
from kplab.walk.trace import Trace

from .conftest import DATA, ROOT

SCHEMA = jsonschema.Draft202012Validator(json.loads((ROOT / "kplab" / "walk" / "trace.schema.json").read_text()))
CLIENT = "default/auth-565fbb4985-5kr4m"


def _kinds(trace) -> list[str]:
    return [s.kind for _, s in trace.steps()]


def _valid(trace) -> None:
    assert Trace.from_dict(trace.to_dict()) == trace
    SCHEMA.validate(trace.to_dict())


@pytest.fixture(scope="module")
def article():
    with Lab(load_cluster(DATA / "article")) as lab:
        yield lab


@pytest.mark.kernel
def test_pod_to_cluster_ip_and_back_every_step_kind(article):
    t = article.trace(CLIENT, "10.96.1.3", 80)
    _valid(t)
    assert t.verdict == "ACCEPT" and t.delivered_to.startswith("default/webapp-")
    node = t.hops[1]
    assert node.host == "minikube" and node.path == "forward"
    kinds = [s.kind for s in node.steps]
    # conntrack first (the SYN is NEW), nat PREROUTING with the DNAT, routing after it, FORWARD, POSTROUTING, confirm
    assert kinds[0] == "conntrack" and node.steps[0].detail.state == "NEW" and node.steps[0].hook == "PREROUTING"
    dnat = next(s for s in node.steps if s.kind == "nat")
    assert dnat.action == "DNAT" and dnat.diff.get("dst") == ("10.96.1.3", t.packet_delivered.dst)
    route = next(s for s in node.steps if s.kind == "route")
    assert kinds.index("route") > kinds.index("nat") and route.detail.out_iface == "eth0" \
        and route.detail.next_hop == "192.168.49.3"
    rules = [s for s in node.steps if s.kind == "rule"]
    assert {s.hook for s in rules} == {"PREROUTING", "FORWARD", "POSTROUTING"}
    confirm = node.steps[-1]
    assert confirm.kind == "conntrack" and confirm.detail.state == "confirm"
    assert re.match(r"tcp +6 120 SYN_SENT src=10\.244\.0\.3 dst=10\.96\.1\.3 sport=\d+ dport=80 \[UNREPLIED\] "
                    rf"src={t.packet_delivered.dst} dst=10\.244\.0\.3 sport=80 dport=\d+ mark=0$", confirm.detail.entry)
    assert t.hops[-1].steps[-1].kind == "deliver" and t.hops[-1].steps[-2].detail.route.startswith("local ")
    # the pods' namespaces have no rule that uses conntrack, so the kernel tracks nothing there
    assert "conntrack" not in [s.kind for s in t.hops[0].steps + t.hops[-1].steps]
    # the SYN-ACK back: ESTABLISHED in the reply direction on both nodes, de-DNAT on the client's node, delivered
    r = t.reply
    assert r is not None and r.packet.tcp_flags == "SYN,ACK" and r.verdict == "ACCEPT" and r.delivered_to == CLIENT
    assert [h.host for h in r.hops] == [h.host for h in reversed(t.hops)]
    states = [s.detail.state for _, s in r.steps("conntrack")]
    assert states == ["ESTABLISHED", "update", "ESTABLISHED", "update"]
    (_, denat), = r.steps("nat")
    assert denat.action == "conntrack NAT" and denat.diff.get("src") == (t.packet_delivered.dst, "10.96.1.3")
    assert r.source_seen == "10.96.1.3:80"


@pytest.mark.kernel
def test_conntrack_entry_is_the_one_conntrack_lists(article):
    t = article.trace(CLIENT, "10.96.0.10", 53, "udp")
    _valid(t)
    (_, confirm), = [(h, s) for h, s in t.steps("conntrack") if s.detail.state == "confirm"]
    listed = run(["conntrack", "-L", "-p", "udp", "--orig-port-src", str(t.packet.sport)],
                 namespace=article.namespace("minikube"))
    tuples = lambda text: re.findall(r"src=\S+ dst=\S+ sport=\d+ dport=\d+", text)  # noqa: E731
    assert tuples(confirm.detail.entry) == tuples(listed) and len(tuples(listed)) == 2


@pytest.mark.kernel
def test_route_text_is_what_ip_route_get_fibmatch_prints(article):
    t = article.trace("minikube", "10.96.1.3", 80)
    _valid(t)
    checked = 0
    for trace in (t, t.reply):
        for hop in trace.hops:
            for step in hop.steps:
                if step.kind != "route" or step.note:
                    continue
                flow = hop.packet_in
                argv = ["ip", "route", "get", "fibmatch", flow.dst]
                if hop.in_iface:
                    argv += ["from", flow.src, "iif", hop.in_iface]
                printed = run(argv, namespace=article.namespace(hop.host)).strip()
                assert step.detail.route == printed, (hop.host, argv)
                checked += 1
    assert checked >= 5


@pytest.mark.kernel
def test_refused_and_dropped_end_as_the_kernel_said():
    with Lab(load_cluster(DATA / "nodeport-local")) as lab:
        drop = lab.trace("203.0.113.10", "192.168.49.2", 31380)  # eTP=Local, no endpoint on this node
        _valid(drop)
        assert drop.verdict == "DROP" and drop.reply is None
        end = drop.hops[-1].steps[-1]
        assert end.kind == "drop" and "has no local endpoints" in end.detail.reason
        refused = lab.trace("203.0.113.10", "192.168.49.3", 31999)  # no NodePort, nothing listens
        _valid(refused)
        assert refused.verdict == "REJECT" and refused.hops[-1].steps[-1].kind == "drop"
        assert refused.reply.packet.tcp_flags == "RST,ACK" and refused.reply.delivered_to == "203.0.113.10"


@pytest.mark.kernel
def test_an_outside_server_listens_where_kplab_says_it_answers(article):
    """kplab takes an outside host to listen on every port (it cannot know what it runs): before the real
    connection the lab listens on the asked port there, so the kernel delivers it too instead of a reset."""
    simulated, kernel, verdict = article.side_by_side(CLIENT, "203.0.113.10", 8081)
    assert simulated.verdict == kernel.verdict == "ACCEPT" and kernel.delivered_to == "203.0.113.10"
    assert ("203.0.113.10", "tcp", 8081) in article.servers.listening
    assert verdict.agrees, verdict
