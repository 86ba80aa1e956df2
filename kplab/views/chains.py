"""The Service chain view: one Service port on one node, as kube-proxy's nat rules send a new connection.

    view = service_chains(cluster, "default/webapp", node="minikube")
    view                        # notebooks: current and v1.19 layouts side by side, trees and `iptables -L` text
    print(view)                 # the trees as text

The tree starts at the rules in KUBE-SERVICES and KUBE-NODEPORTS whose comment names the Service port
(kube-proxy writes "ns/name[:port] cluster IP", "ns/name[:port]" for node ports) and follows every jump into
the Service's own chains (KUBE-SVC-, KUBE-SVL-, KUBE-EXT-, KUBE-FW-, KUBE-XLB-, KUBE-SEP-). KUBE-MARK-MASQ and
KUBE-MARK-DROP are shared chains and end a branch. A `-m statistic --mode random --probability p` rule takes
p of the connections that reach it; the rest fall through to the next rule, so kube-proxy's 1/3, 1/2, 1 give
three endpoints a third each (proxier.go writes probability 1/(n-i) for endpoint i of n). The rules are the
node's own (kplab.kubeproxy), parsed by kplab.netfilter; nothing here decides anything the rules do not say.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from fractions import Fraction

from kplab.errors import KplabError

OWN_CHAINS = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-XLB-", "KUBE-SEP-")
ENTRY_CHAINS = ("KUBE-SERVICES", "KUBE-NODEPORTS")
LAYOUTS = ("current", "v1.19")
_DROP_FROM_SUMMARY = re.compile(r"-m comment --comment (\"(?:[^\"\\]|\\.)*\"|\S+)\s*|-m statistic --mode random "
                                r"--probability \S+\s*|-m (tcp|udp|sctp)\b\s*|\s*-[jg] \S+.*$")


@dataclass
class Branch:
    """One rule of a chain in the tree: what it tests, where it sends the packet, with what probability.

    `probability` is the rule's own statistic (of the connections reaching the rule), `share` the part of all
    new connections entering this chain that this rule takes (None when the rule only marks or tests a condition
    that the view cannot weigh, such as the source address), `dnat` the DNAT target ("ip:port")."""

    rule: str  # the rule as iptables-save prints it
    condition: str  # the rule's tests, without comment, statistic and target
    comment: str
    target: str
    probability: Fraction | None = None
    share: Fraction | None = None
    dnat: str | None = None
    chain: "ChainNode | None" = None  # the Service chain it jumps to, expanded
    seen: bool = False  # jumps to a chain already expanded above


@dataclass
class ChainNode:
    name: str
    branches: list[Branch] = field(default_factory=list)


@dataclass
class LayoutTree:
    """The tree for one layout: entry rules (from KUBE-SERVICES and KUBE-NODEPORTS) and the rules text."""

    layout: str
    entries: list[tuple[str, Branch]]  # (entry chain, rule)
    chains: list[str]  # chain names in the order they appear in the tree
    listing: str  # `iptables -t nat -L CHAIN -n` for the entry chains' rules of this port and every chain below

    def endpoints(self) -> dict[str, Fraction]:
        """DNAT destination -> share of new connections through KUBE-SERVICES (the ClusterIP path)."""
        out: dict[str, Fraction] = {}
        expanded: dict[str, ChainNode] = {}

        def index(node: ChainNode) -> None:
            expanded[node.name] = node
            for b in node.branches:
                if b.chain is not None:
                    index(b.chain)
        for _, branch in self.entries:
            if branch.chain is not None:
                index(branch.chain)

        def walk(node: ChainNode, weight: Fraction) -> None:
            for b in node.branches:
                if b.dnat and b.share is not None:
                    out[b.dnat] = out.get(b.dnat, Fraction(0)) + weight * b.share
                # a chain drawn once (under an earlier rule) is still where this rule's share goes: with session
                # affinity the `recent --rcheck` rule draws KUBE-SEP-X first, the coin toss jumps to it again
                below = b.chain if b.chain is not None else expanded.get(b.target) if b.seen else None
                if below is not None and b.share is not None:
                    walk(below, weight * b.share)
        for entry, branch in self.entries:
            if entry == "KUBE-SERVICES" and branch.chain is not None and branch.chain.name.startswith("KUBE-SVC-"):
                walk(branch.chain, Fraction(1))
        return out


_RECENT_SET = re.compile(r"\s*-m recent --set(\s+--(name|mask) \S+|\s+--[rd]source)*")


def service_chains(cluster, service: str, port: int | str | None = None, node: str | None = None,
                   layouts: tuple[str, ...] = LAYOUTS) -> "ServiceChains":
    """The chain view of `service` ("ns/name" or "name" in default) port `port` (number or name; default the
    first port) on `node` (default: the first node by name), in each of `layouts`.

    Raises KplabError naming the Service, port or node when it does not exist, or when the node's rules hold
    no rule for that Service port (a headless or ExternalName Service has none)."""
    from kplab.kubeproxy import node_ruleset_text
    from kplab.netfilter import parse_ruleset

    key = service if "/" in service else f"default/{service}"
    svc = cluster.services.get(key)
    if svc is None:
        close = sorted(k for k in cluster.services if k.split("/")[-1] == key.split("/")[-1])
        raise KplabError(f"Service {key} not found" + (f" (did you mean {', '.join(close)}?)" if close else
                                                       f"; Services: {', '.join(sorted(cluster.services))}"))
    if not svc.ports:
        raise KplabError(f"Service {key} has no ports")
    sp = svc.ports[0] if port is None else next(
        (p for p in svc.ports if p.port == port or (p.name and p.name == port) or str(p.port) == str(port)), None)
    if sp is None:
        raise KplabError(f"Service {key} has no port {port} (ports: "
                         + ", ".join(f"{p.name + ' ' if p.name else ''}{p.port}/{p.protocol}" for p in svc.ports) + ")")
    node = node or min(cluster.nodes)
    if node not in cluster.nodes:
        raise KplabError(f"node {node} not found (nodes: {', '.join(sorted(cluster.nodes))})")
    label = f"{key}:{sp.name}" if sp.name else key
    trees = []
    for layout in layouts:
        text = node_ruleset_text(cluster, node, layout=layout)
        rules = parse_ruleset(text, source=f"node {node} ({layout})")
        trees.append(_tree(rules, label, layout))
    if not any(t.entries for t in trees):
        raise KplabError(f"node {node} has no kube-proxy rule for Service {label} port {sp.port}/{sp.protocol} "
                         f"(type {svc.type}{', headless' if svc.cluster_ip in (None, '', 'None') else ''})")
    return ServiceChains(label, f"{sp.port}/{sp.protocol}", node, svc.cluster_ip, trees)


def _tree(rules, label: str, layout: str) -> LayoutTree:
    from kplab.netfilter.probability import Probability
    from kplab.views.listing import list_rules

    nat = rules.tables.get("nat")
    order: list[str] = []

    def branch(rule, remaining: Fraction) -> tuple[Branch, Fraction]:
        probability = None
        for m in rule.matches:
            if m.name == "statistic" and m.option("--probability") is not None:
                probability = Probability.parse(m.option("--probability").values[0]).intended
        target = rule.target or ""
        dnat = None
        if target == "DNAT":
            opt = next((o for o in rule.target_options if o.name == "--to-destination"), None)
            dnat = opt.values[0] if opt else None
        condition = _DROP_FROM_SUMMARY.sub(" ", rule.spec_text()).strip()
        # Only a rule that tests nothing but chance (and the protocol already matched upstream) can be weighed;
        # a rule that also tests the source or address type takes an unknown part. `-m recent --set` (session
        # affinity's DNAT rule) tests nothing: it records the source and matches (xt_recent recent_mt).
        untested = re.fullmatch(r"(-p \w+)?", _RECENT_SET.sub("", condition).strip()) is not None
        ends = target.startswith(OWN_CHAINS) or target in ("DNAT", "DROP", "REJECT", "KUBE-MARK-DROP")
        share = None
        if untested and probability is not None:
            share = remaining * probability
        elif untested and ends:
            share = remaining
        rest = remaining - share if share is not None and ends else remaining
        b = Branch(rule.text(), re.sub(r"\s+", " ", condition), rule.comment or "", target, probability, share, dnat)
        return b, rest

    def expand(name: str, path: tuple[str, ...]) -> ChainNode:
        order.append(name)
        node = ChainNode(name)
        remaining = Fraction(1)
        for rule in nat.chains[name].rules:
            b, remaining = branch(rule, remaining)
            if b.target.startswith(OWN_CHAINS) and b.target in nat.chains and b.target not in path:
                if b.target in order:
                    b.seen = True
                else:
                    b.chain = expand(b.target, path + (b.target,))
            node.branches.append(b)
        return node

    entries: list[tuple[str, Branch]] = []
    if nat is not None:
        for entry in ENTRY_CHAINS:
            chain = nat.chains.get(entry)
            for rule in chain.rules if chain else ():
                c = rule.comment or ""
                if c == label or c.startswith(label + " "):
                    b, _ = branch(rule, Fraction(1))
                    b.share = None
                    if b.target.startswith(OWN_CHAINS) and b.target in nat.chains:
                        if b.target in order:
                            b.seen = True
                        else:
                            b.chain = expand(b.target, (b.target,))
                    entries.append((entry, b))
    listing = ""
    if entries:
        listing = "\n".join(_entry_listing(list_rules(rules, "nat", e), label) for e in dict.fromkeys(e for e, _ in entries))
        listing += "\n" + "\n".join(list_rules(rules, "nat", c) for c in order)
    return LayoutTree(layout, entries, order, listing)


def _entry_listing(block: str, label: str) -> str:
    """An entry chain's listing cut to this Service port's rules (KUBE-SERVICES holds every Service)."""
    lines = block.splitlines()
    keep = lines[:2] + [ln for ln in lines[2:] if f"/* {label} " in ln or ln.endswith(f"/* {label} */")
                        or f"/* {label} */ " in ln]
    return "\n".join(keep) + "\n    (only this Service port's rules shown)\n"


@dataclass
class ServiceChains:
    """The chain trees of one Service port on one node, one per layout. `str()` is the text trees."""

    service: str  # "ns/name" or "ns/name:port-name", as kube-proxy's comments spell it
    port: str  # "80/TCP"
    node: str
    cluster_ip: str | None
    trees: list[LayoutTree]

    def tree(self, layout: str = "current") -> LayoutTree:
        for t in self.trees:
            if t.layout == layout:
                return t
        raise KplabError(f"layout {layout!r} not drawn (layouts: {', '.join(t.layout for t in self.trees)})")

    def lines(self, layout: str) -> list[tuple[str, list[tuple[str, str]]]]:
        """The tree as (prefix, [(css class, text), ...]) lines: the one layout for text and HTML."""
        t = self.tree(layout)
        out: list[tuple[str, list[tuple[str, str]]]] = []

        def rule_parts(b: Branch, after_chance: bool = False) -> list[tuple[str, str]]:
            parts: list[tuple[str, str]] = []
            if b.probability is not None:
                parts.append(("prob", f"p={_frac(b.probability)} "))
            elif after_chance and b.share is not None:
                parts.append(("prob", "the rest "))
            if b.condition:
                parts.append(("cond", b.condition + " "))
            if b.dnat:
                parts.append(("dnat", f"DNAT to {b.dnat}"))
            else:
                parts.append(("target", f"→ {b.target}" + (" (expanded above)" if b.seen else "")))
            if b.share is not None and not b.dnat and (b.probability is not None or b.chain is not None):
                parts.append(("share", "  [all that get here]" if b.share == 1 else
                              f"  [{_frac(b.share)} of all entering]"))
            if b.comment and not b.dnat and not b.target.startswith(("KUBE-SEP-", "KUBE-MARK-MASQ")):
                parts.append(("comment", f"  /* {b.comment} */"))
            return parts

        def walk(node: ChainNode, prefix: str) -> None:
            chance = False
            for i, b in enumerate(node.branches):
                last = i == len(node.branches) - 1
                out.append((prefix + ("└─ " if last else "├─ "), rule_parts(b, chance)))
                chance = chance or b.probability is not None
                if b.chain is not None:
                    child = prefix + ("   " if last else "│  ")
                    out.append((child, [("chain", b.chain.name)]))
                    walk(b.chain, child)
        for entry in dict.fromkeys(e for e, _ in t.entries):
            out.append(("", [("chain", entry)]))
            walk(ChainNode(entry, [b for e, b in t.entries if e == entry]), "")
        return out

    def text(self, layout: str = "current") -> str:
        return "\n".join(prefix + "".join(t for _, t in parts) for prefix, parts in self.lines(layout))

    def __str__(self) -> str:
        return "\n\n".join(f"{self.service} {self.port} on node {self.node}, layout {t.layout}:\n{self.text(t.layout)}"
                           for t in self.trees)

    def _repr_html_(self) -> str:
        cols = []
        for t in self.trees:
            # one block per line, wrapped lines hang under the rule text (not under the tree glyphs)
            body = "".join(f'<div style="padding-left:{len(prefix) + 2}ch;text-indent:-{len(prefix) + 2}ch">'
                           + html.escape(prefix).replace(" ", "&nbsp;")
                           + "".join(f'<span class="{c}">{html.escape(x)}</span>' for c, x in parts) + "</div>"
                           for prefix, parts in self.lines(t.layout))
            ends = t.endpoints()
            summary = ", ".join(f"{ep} {_frac(s)}" for ep, s in sorted(ends.items())) or "no endpoint: no DNAT"
            cols.append(f'<div class="kpc-col" data-testid="chains-{html.escape(t.layout)}">'
                        f"<h4>{html.escape(t.layout)} layout</h4>"
                        f'<div class="kpc-sum">ClusterIP connections end at: {html.escape(summary)}</div>'
                        f'<div class="kpc-tree">{body}</div>'
                        f'<details><summary>iptables -t nat -L -n</summary><pre class="kpc-list">'
                        f"{html.escape(t.listing)}</pre></details></div>")
        head = (f"<b>{html.escape(self.service)}</b> port {html.escape(self.port)}"
                + (f" (ClusterIP {html.escape(self.cluster_ip)})" if self.cluster_ip else "")
                + f", node <b>{html.escape(self.node)}</b>: a new connection through kube-proxy's nat rules")
        return (f'<div class="kplab-chains" data-testid="service-chains"><style>{CHAINS_CSS}</style>'
                f'<div class="kpc-head">{head}</div><div class="kpc-cols">{"".join(cols)}</div></div>')


def _frac(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


CHAINS_CSS = """
.kplab-chains{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:14px;color:#1b2631}
.kplab-chains .kpc-head{font-size:15px;margin:4px 0 8px}
.kplab-chains .kpc-cols{display:flex;gap:16px;flex-wrap:wrap}
.kplab-chains .kpc-col{flex:1 1 560px;min-width:0;border:1px solid #c8d3de;border-radius:6px;padding:6px 10px}
.kplab-chains h4{margin:2px 0 6px;font-size:15px}
.kplab-chains .kpc-sum{margin-bottom:6px}
.kplab-chains pre{font-size:14px;line-height:1.45;white-space:pre-wrap;word-break:break-word;margin:0}
.kplab-chains .kpc-tree{font-size:14px;line-height:1.45;word-break:break-word}
.kplab-chains .kpc-list{font-size:13px;background:#f7f9fb;padding:6px}
.kplab-chains .chain{font-weight:bold;color:#1f4e79}
.kplab-chains .prob{color:#b03a2e;font-weight:bold}
.kplab-chains .share{color:#b03a2e}
.kplab-chains .dnat{color:#1e8449;font-weight:bold}
.kplab-chains .target{color:#1f4e79}
.kplab-chains .comment{color:#6c7a89}
"""
