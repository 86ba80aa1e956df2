"""The Trace contract on a hand-built trace (no engine needed): text, HTML, JSON, typed details, immutability."""
import dataclasses
import json
from fractions import Fraction

import pytest

from kplab.errors import KplabError
from kplab.netfilter.packet import Packet
from kplab.walk.trace import (DeliverDetail, Flow, FlowDiff, Hop, NatDetail, Outcome, RouteDetail, RuleDetail, Step,
                              Trace)
from kplab.views.walk import trace_frame, trace_page


def sample(outcomes=None) -> Trace:
    syn = Flow.of(Packet("10.244.1.5", "10.96.0.10", "tcp", 43210, 80))
    dnat = dataclasses.replace(syn, dst="10.244.2.10", dport=8080)
    rule = "-A KUBE-SEP-X -p tcp -j DNAT --to-destination 10.244.2.10:8080"
    hops = (
        Hop("default/client", "pod", None, "eth0", syn, syn,
            (Step("route", "forward", "default via 10.244.1.1 dev eth0",
                  RouteDetail("default via 10.244.1.1 dev eth0", "eth0", "10.244.1.1")),)),
        Hop("node-1", "node", "cni0", "eth0", syn, dnat,
            (Step("nat", "DNAT", rule, NatDetail("nat", "KUBE-SEP-X", "PREROUTING", 2, rule, "DNAT"),
                  diff=FlowDiff.between(syn, dnat)),)),
        Hop("default/web-b", "pod", "eth0", None, dnat, None,
            (Step("deliver", "deliver", "to 10.244.2.10:8080", DeliverDetail("10.244.2.10:8080", "10.244.1.5:43210")),)),
    )
    if outcomes is None:
        outcomes = (Outcome(Fraction(1), "ACCEPT", "default/web-b", "10.244.1.5:43210",
                            ("default/client", "node-1", "default/web-b"), dnat, "delivered to default/web-b"),)
    return Trace(source="default/client", destination="default/web", packet=syn, verdict="ACCEPT", hops=hops,
                 delivered_to="default/web-b", source_seen="10.244.1.5:43210", packet_delivered=dnat,
                 reason="delivered to default/web-b", all_outcomes=outcomes, seed=0)


def test_flowdiff_lists_changed_fields_only():
    a = Packet("1.1.1.1", "2.2.2.2", "tcp", 1, 80)
    d = FlowDiff.between(a, a.replace(dst="3.3.3.3", dport=8080))
    assert d.changes == (("dst", "2.2.2.2", "3.3.3.3"), ("dport", 80, 8080))
    assert str(d) == "dst 2.2.2.2 -> 3.3.3.3, dport 80 -> 8080"
    assert not FlowDiff.between(a, a)


def test_str_is_a_numbered_listing():
    text = str(sample())
    lines = text.splitlines()
    assert lines[0] == "trace default/client -> default/web: tcp 10.244.1.5:43210 -> 10.96.0.10:80 [SYN]"
    assert lines[1].startswith("hop 1: default/client (pod)")
    assert "    2. nat" in text and "nat/KUBE-SEP-X#2" in text and "dst 10.96.0.10 -> 10.244.2.10" in text
    assert lines[-1].startswith("=> ACCEPT delivered to default/web-b, source seen 10.244.1.5:43210")


def test_table_has_one_row_per_step():
    df = trace_frame(sample())
    assert list(df["host"]) == ["default/client", "node-1", "default/web-b"]
    assert list(df["kind"]) == ["route", "nat", "deliver"]
    assert df.loc[1, "changes"] == "dst 10.96.0.10 -> 10.244.2.10, dport 80 -> 8080"


def test_json_is_stable_and_has_the_contract_fields():
    t = sample()
    data = json.loads(t.to_json())
    assert data["verdict"] == "ACCEPT" and len(data["hops"]) == 3 and data["version"] == 1
    assert data["outcomes"] == [{"probability": "1", "verdict": "ACCEPT", "delivered_to": "default/web-b",
                                 "source_seen": "10.244.1.5:43210",
                                 "hosts": ["default/client", "node-1", "default/web-b"],
                                 "packet_delivered": data["packet_delivered"],
                                 "reason": "delivered to default/web-b"}]
    assert data["hops"][1]["steps"][0]["diff"] == [{"field": "dst", "before": "10.96.0.10", "after": "10.244.2.10"},
                                                   {"field": "dport", "before": 80, "after": 8080}]
    assert data["hops"][1]["steps"][0]["detail"] == {
        "table": "nat", "chain": "KUBE-SEP-X", "hook": "PREROUTING", "rule_number": 2,
        "rule": "-A KUBE-SEP-X -p tcp -j DNAT --to-destination 10.244.2.10:8080", "target": "DNAT"}
    assert t.to_json() == sample().to_json()
    assert Trace.from_json(t.to_json()) == t


def test_outcomes_are_values_with_exact_fractions():
    third = Outcome(Fraction(1, 3), "DROP", None, None, ("default/client",), None, "dropped")
    t = sample(outcomes=(third,))
    assert [o.probability for o in t.outcomes()] == [Fraction(1, 3)]
    assert t.to_dict()["outcomes"][0]["probability"] == "1/3"
    assert Trace.from_dict(t.to_dict()).outcomes()[0].probability == Fraction(1, 3)
    assert "<table" in t._repr_html_() and "<pre>" not in t._repr_html_() and "<h1>" in trace_page(t)


def test_every_level_renders_text_and_html():
    t = sample()
    hop = t.hops[1]
    step = hop.steps[0]
    for thing in (t, hop, step, step.diff, t.outcomes()[0], step.detail):
        assert str(thing) and "<table" in thing._repr_html_()
    assert "KUBE-SEP-X" in hop._repr_html_() and "10.244.2.10" in step.diff._repr_html_()
    assert "&lt;" not in str(t) and "<script" not in t._repr_html_()


def test_frozen_and_tuples():
    t = sample()
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.verdict = "DROP"
    assert isinstance(t.hops, tuple) and isinstance(t.hops[0].steps, tuple) and isinstance(t.outcomes(), tuple)
    hash(t)


def test_step_needs_the_detail_of_its_kind():
    with pytest.raises(KplabError, match="RuleDetail"):
        Step("rule", "ACCEPT", "-A X -j ACCEPT", RouteDetail("default dev eth0"))
    RuleDetail("filter", "X", "FORWARD", 1, "-A X -j ACCEPT", "ACCEPT")


def test_from_dict_names_the_faulty_field():
    data = sample().to_dict()
    del data["hops"][1]["steps"][0]["detail"]["chain"]
    with pytest.raises(KplabError, match=r"trace\.hops\[1\]\.steps\[0\]\.detail: missing field 'chain'"):
        Trace.from_dict(data)
    data = sample().to_dict()
    data["outcomes"][0]["probability"] = "a third"
    with pytest.raises(KplabError, match=r"outcomes\[0\]\.probability"):
        Trace.from_dict(data)
    with pytest.raises(KplabError, match="version"):
        Trace.from_dict({**sample().to_dict(), "version": 99})
