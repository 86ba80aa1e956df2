"""The Trace model's views, on a hand-built trace (no engine needed)."""
import json
from fractions import Fraction

from kplab.netfilter.packet import Packet
from kplab.walk.trace import FlowDiff, Hop, Step, Trace
from kplab.views.walk import trace_frame, trace_page


def sample() -> Trace:
    syn = Packet("10.244.1.5", "10.96.0.10", "tcp", 43210, 80)
    dnat = syn.replace(dst="10.244.2.10", dport=8080)
    hops = [
        Hop("default/client", "pod", None, "eth0", syn, syn,
            [Step("route", "default via 10.244.1.1 dev eth0", action="forward")]),
        Hop("node-1", "node", "cni0", "eth0", syn, dnat,
            [Step("nat", '-A KUBE-SEP-X -p tcp -j DNAT --to-destination 10.244.2.10:8080', action="DNAT",
                  table="nat", chain="KUBE-SEP-X", rule_number=2, diff=FlowDiff.between(syn, dnat))]),
        Hop("default/web-b", "pod", "eth0", None, dnat, None, [Step("deliver", "to 10.244.2.10:8080", "deliver")]),
    ]
    t = Trace(packet=syn, verdict="ACCEPT", hops=hops, delivered_to="default/web-b",
              source_seen="10.244.1.5:43210", source="default/client", destination="default/web")
    return t


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
    assert data["verdict"] == "ACCEPT" and len(data["hops"]) == 3
    assert data["outcomes"] == [{"probability": 1.0, "probability_fraction": "1", "verdict": "ACCEPT",
                                 "delivered_to": "default/web-b", "source_seen": "10.244.1.5:43210",
                                 "hops": ["default/client", "node-1", "default/web-b"]}]
    assert data["hops"][1]["steps"][0]["diff"] == {"dst": ["10.96.0.10", "10.244.2.10"], "dport": [80, 8080]}
    assert t.to_json() == sample().to_json()


def test_outcomes_come_from_the_enumerator_when_given():
    t = sample()
    t._outcomes = lambda: [t.as_outcome(Fraction(1, 3))]
    assert [o.probability for o in t.outcomes()] == [Fraction(1, 3)]
    assert "<pre>" in t._repr_html_() and "<h1>" in trace_page(t)
