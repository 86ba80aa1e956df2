"""How Calico enforces NetworkPolicy for one pod: its endpoint chains, the policy chains they call, the ipsets
those match — read from the rules kplab.cni.calico writes for the pod's node (Felix's iptables layout).

    calico_rules(cluster, "deploy/db")   # a pod as kubectl names it (a workload: one of its pods), or a Pod

Shown in `iptables-save` form, one block per chain in the order a packet to the pod meets them: the pod's
`cali-tw-<interface>` (ingress), each `cali-pi-…` it jumps to; then `cali-fw-<interface>` (egress) and its
`cali-po-…`; then every `cali40s:`/`cali40n:` ipset those rules name, with its members.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

from kplab.errors import KplabError


@dataclass(frozen=True)
class EndpointChains:
    """The Calico chains and ipsets that police one pod (a Calico workload endpoint). `pod`: the pod's key;
    `node`: where its rules live; `interface`: its host-side veth; `chains`: (chain name, its rules as `-A` lines)
    in walk order; `ipsets`: (set name, `ipset list` text)."""

    pod: str
    node: str
    interface: str
    chains: tuple[tuple[str, tuple[str, ...]], ...]
    ipsets: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        out = [f"# Calico's filter rules for {self.pod} on {self.node} (interface {self.interface})"]
        for name, rules in self.chains:
            out.append(f":{name}")
            out.extend(rules)
        for name, text in self.ipsets:
            out.append("")
            out.append(text)
        return "\n".join(out)

    def _repr_html_(self) -> str:
        parts = [f'<div data-testid="calico-rules"><p><b>Calico&#39;s filter rules for {html.escape(self.pod)}</b> '
                 f"on {html.escape(self.node)} (interface <code>{html.escape(self.interface)}</code>)</p>"]
        for name, rules in self.chains:
            parts.append(f'<p style="margin:0.5em 0 0.1em"><b><code>{html.escape(name)}</code></b></p>'
                         f'<pre style="margin:0;font-size:13px;white-space:pre-wrap">'
                         + html.escape("\n".join(rules)) + "</pre>")
        for name, text in self.ipsets:
            parts.append(f'<p style="margin:0.5em 0 0.1em"><b>ipset <code>{html.escape(name)}</code></b></p>'
                         f'<pre style="margin:0;font-size:13px">{html.escape(text)}</pre>')
        parts.append("</div>")
        return "".join(parts)


def _ipset_blocks(text: str) -> dict[str, str]:
    """`ipset list` text split per set (each block starts at its `Name:` line, with the comment above it)."""
    blocks: dict[str, str] = {}
    for block in re.split(r"\n\s*\n", text.strip()):
        m = re.search(r"^Name: (\S+)", block, re.M)
        if m:
            blocks[m.group(1)] = block.strip()
    return blocks


def calico_rules(cluster, pod) -> EndpointChains:
    """The Calico chains and ipsets that police POD (a Pod, its `namespace/name` key, or a kubectl name such as
    `deploy/db`, which means one of the workload's pods). KplabError when it names no pod."""
    from kplab.cni.calico import calico_ipsets_text, calico_ruleset_text
    from kplab.cni.caliconame import endpoint_chain, interface_name
    from kplab.netfilter import parse_ruleset

    if isinstance(pod, str):
        from kplab.k8s.reference import resolve

        ref = resolve(cluster, pod, "calico rules for") if pod not in cluster.pods else None
        key = pod if ref is None else ref.key
        if key not in cluster.pods:
            raise KplabError(f"calico rules: {pod!r} is not a pod (known: {', '.join(sorted(cluster.pods))})")
        pod = cluster.pods[key]
    if not pod.node_name:
        raise KplabError(f"calico rules: pod {pod.key} is not scheduled on a node")
    iface = interface_name(pod)
    table = parse_ruleset(calico_ruleset_text(cluster, pod.node_name), source=f"{pod.node_name} calico rules")
    chains = table.tables["filter"].chains
    order: list[str] = []
    for direction in ("Ingress", "Egress"):
        start = endpoint_chain(direction, iface)
        if start not in chains:
            continue
        order.append(start)
        for rule in chains[start].rules:
            if rule.jumps_to_chain and rule.target not in order and rule.target.startswith(("cali-pi-", "cali-po-")):
                order.append(rule.target)
    picked = [(name, chains[name].rules) for name in order]
    wanted = {m.option("--match-set").values[0] for _, rules in picked for r in rules for m in r.matches
              if m.name == "set"}
    sets = _ipset_blocks(calico_ipsets_text(cluster))
    return EndpointChains(pod.key, pod.node_name, iface, tuple((n, tuple(r.display for r in rules)) for n, rules in picked),
                          tuple((n, sets[n]) for n in sorted(wanted) if n in sets))
