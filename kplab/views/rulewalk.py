"""`kplab trace-rules`' report of one packet through one node: the JSON data (the CLI contract in DESIGN.md) and
its text form."""
from __future__ import annotations

from fractions import Fraction

from kplab.kubeproxy.verdict import kube_proxy_verdict, walk_verdict
from kplab.netfilter.node import (connection_failure, decided_by, dependencies, endpoints, masquerade,
                                  overall_verdict)
from kplab.netfilter.packet import join_host_port
from kplab.netfilter.stack import Decision, Walk


def _hop(step: Decision) -> dict:
    if step.kind == "policy":
        text = f"policy {step.action}"
    elif step.kind == "fall-off":
        text = "end of chain"
    else:
        text = step.rule_text
    return {"table": step.table, "chain": step.chain, "rule": step.rule_number, "text": text,
            "verdict": step.action}


def _decider(walk: Walk) -> dict | None:
    step = decided_by(walk)
    if step is None:
        return None
    if step.kind == "route":
        return {"table": None, "chain": None, "rule": None, "text": f"routing: {step.note}"}
    text = f"policy {step.action}" if step.kind == "policy" else step.rule_text
    return {"table": step.table, "chain": step.chain, "rule": step.rule_number, "text": text}


def _route_note(walk: Walk) -> str | None:
    notes = [s.note for s in walk.steps if s.kind == "route" and "assumed" in s.note]
    return notes[0] if notes else None


def report(outcomes: list[tuple[Fraction, Walk]], stack=None) -> dict:
    first = outcomes[0][1]
    depends = dependencies(outcomes)
    failure = connection_failure(first)
    return {
        "verdict": overall_verdict(outcomes),
        "endpoints": endpoints(outcomes),
        "masquerade": masquerade(outcomes),
        "out_iface": first.out_iface if first.route is not None and not first.route.local
        and not first.route.failure else None,
        "in_iface": first.in_iface if first.path != "output" else None,
        "snat": join_host_port(first.packet.src, first.packet.sport) if first.masqueraded else None,
        "decided_by": _decider(first),
        "connection": "fails" if failure else None,
        "why": failure,
        "route_assumption": _route_note(first),
        "depends_on": [a.to_dict() for a in depends],
        "outcomes": [{"probability": float(p), "probability_exact": str(p), "verdict": w.verdict,
                      "endpoint": w.dnat, "masquerade": w.masqueraded,
                      "assuming": [str(a) for a in w.assumptions]} for p, w in outcomes],
        "hops": [_hop(s) for s in first.steps if s.kind in ("rule", "policy", "fall-off")],
        "kube_proxy_verdict": kube_proxy_verdict(outcomes),
        "path": first.path,
    }


def text_report(outcomes: list[tuple[Fraction, Walk]], data: dict) -> str:
    lines = [f"warning: {w}" for w in data.get("warnings", [])]
    lines += [f"verdict: {data['verdict']}   (kube-proxy tracer vocabulary: {data['kube_proxy_verdict']})"]
    if data["depends_on"]:
        lines.append("  the verdict depends on state kplab does not have (both outcomes below):")
        lines += [f"    {a['table']} {a['chain']} #{a['rule']}: {a['depends_on']}" for a in data["depends_on"]]
    decider = data["decided_by"]
    if decider:
        where = f"{decider['table']} {decider['chain']}" + (f" #{decider['rule']}" if decider["rule"] else "")
        lines.append(f"decided by: {where + ': ' if decider['table'] else ''}{decider['text']}")
    if data["why"]:
        lines.append(f"connection fails: {data['why']}")
    lines += [f"out interface: {data['out_iface'] or '-'}" + (
                  f"   (assumption: {data['route_assumption']})" if data["route_assumption"] else "")]
    if data.get("in_iface_assumption"):
        lines.append(f"in interface: {data['in_iface']}   (assumption: {data['in_iface_assumption']})")
    lines += [f"source after SNAT: {data['snat'] or '-'}",
              f"endpoints: {', '.join(data['endpoints']) or '-'}",
              f"masquerade: {'yes' if data['masquerade'] else 'no'}", "", "outcomes:"]
    for p, w in outcomes:
        lines.append(f"  {str(p):>8}  {w.verdict:<6}  {w.dnat or '-':<24} "
                     f"{'masqueraded' if w.masqueraded else ''}  ({walk_verdict(w)})".rstrip())
        lines += [f"            assuming {a}" for a in w.assumptions]
    lines += ["", f"walk of the first outcome ({outcomes[0][1].path} path):", str(outcomes[0][1])]
    return "\n".join(lines)
