"""`kplab trace-rules`' report of one packet through one node: the JSON data (the CLI contract in DESIGN.md) and
its text form."""
from __future__ import annotations

from fractions import Fraction

from kplab.kubeproxy.verdict import kube_proxy_verdict, walk_verdict
from kplab.netfilter.node import endpoints, masquerade, overall_verdict
from kplab.netfilter.stack import Step, Walk


def _hop(step: Step) -> dict:
    if step.kind == "policy":
        text = f"policy {step.action}"
    elif step.kind == "fall-off":
        text = "end of chain"
    else:
        text = step.rule_text
    return {"table": step.table, "chain": step.chain, "rule": step.rule_number, "text": text,
            "verdict": step.action}


def report(outcomes: list[tuple[Fraction, Walk]]) -> dict:
    first = outcomes[0][1]
    return {
        "verdict": overall_verdict(outcomes),
        "endpoints": endpoints(outcomes),
        "masquerade": masquerade(outcomes),
        "outcomes": [{"probability": float(p), "probability_exact": str(p), "verdict": w.verdict,
                      "endpoint": w.dnat, "masquerade": w.masqueraded} for p, w in outcomes],
        "hops": [_hop(s) for s in first.steps if s.kind in ("rule", "policy", "fall-off")],
        "kube_proxy_verdict": kube_proxy_verdict(outcomes),
        "path": first.path,
    }


def text_report(outcomes: list[tuple[Fraction, Walk]], data: dict) -> str:
    lines = [f"verdict: {data['verdict']}   (kube-proxy tracer vocabulary: {data['kube_proxy_verdict']})",
             f"endpoints: {', '.join(data['endpoints']) or '-'}",
             f"masquerade: {'yes' if data['masquerade'] else 'no'}", "", "outcomes:"]
    for p, w in outcomes:
        lines.append(f"  {str(p):>8}  {w.verdict:<6}  {w.dnat or '-':<24} "
                     f"{'masqueraded' if w.masqueraded else ''}  ({walk_verdict(w)})".rstrip())
    lines += ["", f"walk of the first outcome ({outcomes[0][1].path} path):", str(outcomes[0][1])]
    return "\n".join(lines)
