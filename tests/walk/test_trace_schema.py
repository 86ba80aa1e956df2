"""The Trace's JSON shape: real traces validate against kplab/walk/trace.schema.json (jsonschema), the schema names
exactly the dataclasses' fields, and from_dict(to_dict(t)) == t over generated traces (hypothesis)."""
import dataclasses
import json
from fractions import Fraction
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kplab.k8s import load_cluster
from kplab.walk import branches, trace
from kplab.walk.trace import (DETAILS, STEP_KINDS, Flow, FlowDiff, Hop, Outcome, Step, Trace)

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "kplab" / "walk" / "trace.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
DATA = Path(__file__).resolve().parents[2] / "data"


def test_schema_is_valid_and_names_every_field():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    defs = SCHEMA["$defs"]
    for kind, detail in DETAILS.items():
        assert list(defs[f"detail_{kind}"]["properties"]) == [f.name for f in dataclasses.fields(detail)], kind
    for name, cls in (("flow", Flow), ("hop", Hop), ("outcome", Outcome)):
        assert set(defs[name]["properties"]) == {f.name for f in dataclasses.fields(cls)}, name
    assert set(defs["step"]["properties"]["kind"]["enum"]) == set(STEP_KINDS)
    trace_fields = {f.name for f in dataclasses.fields(Trace) if f.compare} - {"all_outcomes"} | {"outcomes", "version"}
    assert set(defs["trace"]["properties"]) == trace_fields


@pytest.fixture(scope="module")
def article():
    return load_cluster(DATA / "article")


def _pods(cluster, prefix):
    return sorted(k for k in cluster.pods if k.startswith(prefix))


def test_real_traces_validate(article, cluster):
    auth = _pods(article, "default/auth")[0]
    traces = [trace(article, auth, "default/frontend", reply=True),
              trace(article, auth, "default/webapp", protocol="udp", port=53),
              trace(cluster, "default/client", "default/web", reply=True),
              trace(cluster, "203.0.113.7", "node-3:30080"),
              trace(cluster, "default/client", "web", port=80),
              trace(cluster, "default/client", "default/web-b", port=8080, overlay="vxlan", cni="calico")]
    traces += [t for _, t in branches(article, auth, "default/frontend")]
    policy = load_cluster(DATA / "clusters" / "two-node.yaml", DATA / "policy")
    traces.append(trace(policy, _pods(policy, "default/frontend")[0], "default/db", cni="calico"))
    kinds = set()
    for t in traces:
        data = json.loads(t.to_json())
        errors = sorted(VALIDATOR.iter_errors(data), key=str)
        assert not errors, errors[0]
        assert Trace.from_dict(data) == t
        kinds |= {s["kind"] for h in data["hops"] for s in h["steps"]} | {s["kind"] for s in data["dns"]}
    assert kinds >= {"route", "rule", "nat", "conntrack", "policy", "dns", "link", "deliver", "drop", "encapsulation"}


def test_schema_refuses_a_wrong_detail():
    t = json.loads(trace(load_cluster(DATA / "article"), _pods(load_cluster(DATA / "article"), "default/auth")[0],
                         "default/frontend").to_json())
    step = t["hops"][1]["steps"][0]
    step["detail"] = {"route": "default dev eth0", "out_iface": None, "next_hop": None}
    step["kind"] = "rule"
    assert any("required" in e.message or "additional" in e.message.lower() for e in VALIDATOR.iter_errors(t))


# ---- generated traces -------------------------------------------------------------------------------------

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
maybe_text = st.none() | text
small = st.integers(0, 65535)
address = st.ip_addresses().map(str)


def flows(depth: int = 1):
    inner = st.none() if depth == 0 else st.none() | flows(depth - 1)
    return st.builds(Flow, src=address, dst=address, protocol=st.sampled_from(["tcp", "udp", "sctp", "icmp"]),
                     sport=st.none() | small, dport=st.none() | small, tcp_flags=st.sampled_from(["", "SYN", "SYN,ACK"]),
                     mark=st.integers(0, 2**32 - 1), icmp_type=maybe_text, icmp_code=st.none() | st.integers(0, 15),
                     embedded=inner)


def details(kind):
    cls = DETAILS[kind]
    args = {}
    for f in dataclasses.fields(cls):
        hint = str(f.type)
        if "tuple" in hint:
            args[f.name] = st.lists(text, max_size=3).map(tuple)
        elif "int" in hint:
            args[f.name] = (st.none() | small) if "None" in hint else small
        else:
            args[f.name] = maybe_text if "None" in hint else text
    return st.builds(cls, **args)


scalar = st.one_of(st.none(), text, small)
quoted = st.none() | flows(0)
change = st.one_of(st.tuples(st.sampled_from(["src", "dst", "dport", "mark"]), scalar, scalar),
                   st.tuples(st.just("embedded"), quoted, quoted))  # only a quoted header is a Flow
diffs = st.lists(change, max_size=2).map(lambda c: FlowDiff(tuple(c)))
steps = st.sampled_from(STEP_KINDS).flatmap(
    lambda k: st.builds(Step, kind=st.just(k), action=text, text=text, detail=details(k), diff=diffs, note=text))
hops = st.builds(Hop, host=text, host_kind=st.sampled_from(["pod", "node", "router", "load-balancer", "outside"]),
                 in_iface=maybe_text, out_iface=maybe_text, packet_in=flows(), packet_out=st.none() | flows(),
                 steps=st.lists(steps, max_size=4).map(tuple), path=st.sampled_from([None, "input", "forward", "output"]))
fractions = st.fractions(min_value=0, max_value=1)
outcomes = st.builds(Outcome, probability=fractions, verdict=st.sampled_from(["ACCEPT", "DROP", "REJECT"]),
                     delivered_to=maybe_text, source_seen=maybe_text, hosts=st.lists(text, max_size=4).map(tuple),
                     packet_delivered=st.none() | flows(), reason=text)


def traces(depth: int = 1):
    reply = st.none() if depth == 0 else st.none() | traces(depth - 1)
    return st.builds(Trace, source=text, destination=text, packet=flows(), verdict=st.sampled_from(["ACCEPT", "DROP", "REJECT"]),
                     hops=st.lists(hops, max_size=3).map(tuple), delivered_to=maybe_text, source_seen=maybe_text,
                     packet_delivered=st.none() | flows(), reason=text, dns=st.lists(steps, max_size=2).map(tuple),
                     all_outcomes=st.lists(outcomes, max_size=3).map(tuple), reply=reply,
                     seed=st.none() | st.integers(0, 2**32), notes=st.lists(text, max_size=2).map(tuple))


@settings(max_examples=75, deadline=None)
@given(traces())
def test_round_trip_is_exact(t):
    data = t.to_dict()
    assert Trace.from_dict(data) == t
    assert Trace.from_json(json.dumps(data)) == t  # through real JSON text too
    assert Trace.from_dict(json.loads(t.to_json())).to_dict() == data


def test_probability_stays_exact():
    o = Outcome(Fraction(1, 3), "ACCEPT", "x", "y", ("a",))
    assert Outcome.from_dict(json.loads(json.dumps(o.to_dict()))).probability == Fraction(1, 3)


def test_origin_is_optional_in_json(article):
    """A simulated trace's JSON has no "origin" (as before it existed); a kernel trace's says "kernel"; both read
    back and validate; anything else is refused by name."""
    t = trace(article, _pods(article, "default/auth")[0], "default/frontend")
    data = json.loads(t.to_json())
    assert "origin" not in data and Trace.from_dict(data).origin == "kplab"
    kernel = dataclasses.replace(t, origin="kernel")
    data = json.loads(kernel.to_json())
    assert data["origin"] == "kernel" and not list(VALIDATOR.iter_errors(data))
    assert Trace.from_dict(data) == kernel and kernel != t
    data["origin"] = "guess"
    assert list(VALIDATOR.iter_errors(data))
    with pytest.raises(Exception, match="origin"):
        Trace.from_dict(data)


def test_the_network_is_context_not_value(article):
    t = trace(article, _pods(article, "default/auth")[0], "default/frontend")
    assert t.network is not None
    assert Trace.from_dict(t.to_dict()) == t and hash(Trace.from_dict(t.to_dict())) == hash(t)
    assert "network=" not in repr(t)
