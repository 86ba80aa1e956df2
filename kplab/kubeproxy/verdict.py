"""Mapping a kernel-faithful walk to the vocabulary of kube-proxy's own test tracer.

kube-proxy's unit tests (proxier_test.go, `tracePacket`) judge a packet with a simplified tracer and say DNAT,
ACCEPT, DROP, REJECT or NO_MATCH. kplab.netfilter walks the packet the way the kernel does (every hook, conntrack,
routing), then names the result in that vocabulary, per outcome:

1. DROP or REJECT when the walk was dropped or rejected (by a rule, or by a policy);
2. DNAT when the packet's destination was translated (a DNAT happened);
3. ACCEPT when an explicit ACCEPT rule in a kube-proxy chain (KUBE-*) decided, e.g. a health-check node port;
4. NO_MATCH otherwise (the packet went through on the built-in chains' ACCEPT policies).

Across several outcomes (random endpoint choice): DNAT if any outcome DNATs (kube-proxy's tracer ignores
`-m statistic` and lists every endpoint a service could pick); otherwise the verdict of the most probable outcome.

Where the kernel and kube-proxy's tracer differ, the walk (the kernel) wins: e.g. a packet that is DNATed and then
dropped by a filter rule is DROP here, while the tracer would print the endpoint and then DROP; `masq` here means
MASQUERADE/SNAT really happened in POSTROUTING, not merely that KUBE-MARK-MASQ set the mark.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Iterable

from kplab.netfilter.node import weighted
from kplab.netfilter.stack import Walk

VOCABULARY = ("DNAT", "ACCEPT", "DROP", "REJECT", "NO_MATCH")


def walk_verdict(walk: Walk) -> str:
    """One walk in kube-proxy's vocabulary (rules 1-4 of the module docstring)."""
    if walk.verdict in ("DROP", "REJECT"):
        return walk.verdict
    if walk.dnat is not None:
        return "DNAT"
    decided = walk.deciding_step()
    if decided is not None and decided.kind == "rule" and (decided.chain or "").startswith("KUBE-"):
        return "ACCEPT"
    return "NO_MATCH"


def kube_proxy_verdict(walks: Iterable) -> str:
    """`walks`: Walks, or (probability, Walk) pairs as enumerate_outcomes returns them."""
    pairs = weighted(walks)
    if not pairs:
        raise ValueError("no walks")
    verdicts = [(p, walk_verdict(w)) for p, w in pairs]
    if any(v == "DNAT" for _, v in verdicts):
        return "DNAT"
    totals: dict[str, Fraction] = {}
    for p, v in verdicts:
        totals[v] = totals.get(v, Fraction(0)) + p
    return max(totals, key=lambda v: (totals[v], -VOCABULARY.index(v)))
