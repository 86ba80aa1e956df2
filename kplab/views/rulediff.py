"""What a kube-proxy sync changed on a node: two iptables-save texts compared rule by rule.

    before = kplab.rules(cluster, "minikube"); after = kplab.rules(scaled, "minikube")
    rules_diff(before, after)          # HTML in a notebook (removed red, added green), text in a terminal

The comparison is per table and chain, as iptables-restore sees a ruleset: a chain that appears or disappears is
listed as such, and a rule that moved or changed shows as one removed and one added line. Counters (`[p:b]`) and
comments starting with `#` are ignored, so a live node's `iptables-save -c` compares with a generated one.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

_COUNTERS = re.compile(r"^\[\d+:\d+\]\s+")


def _chains(text: str) -> dict[tuple[str, str], list[str]]:
    """(table, chain) -> its rules in order, from iptables-save text; declared chains without rules map to []."""
    chains: dict[tuple[str, str], list[str]] = {}
    table = ""
    for raw in text.splitlines():
        line = _COUNTERS.sub("", raw.strip())
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            chains.setdefault((table, line[1:].split()[0]), [])
        elif line.startswith("-A "):
            chains.setdefault((table, line.split()[1]), []).append(line)
    return chains


@dataclass(frozen=True)
class ChainChange:
    """One chain's change: `table`, `chain`, `status` ("added", "removed" or "changed"), and the rule lines that
    are only in the old ruleset (`removed`) and only in the new one (`added`), each in chain order."""

    table: str
    chain: str
    status: str
    removed: tuple[str, ...]
    added: tuple[str, ...]


@dataclass(frozen=True)
class RulesDiff:
    """The chains that differ between two rulesets, sorted by table then chain name."""

    changes: tuple[ChainChange, ...]

    @property
    def added_chains(self) -> tuple[str, ...]:
        return tuple(c.chain for c in self.changes if c.status == "added")

    @property
    def removed_chains(self) -> tuple[str, ...]:
        return tuple(c.chain for c in self.changes if c.status == "removed")

    @property
    def changed_chains(self) -> tuple[str, ...]:
        return tuple(c.chain for c in self.changes if c.status == "changed")

    def summary(self) -> str:
        rules_added = sum(len(c.added) for c in self.changes)
        rules_removed = sum(len(c.removed) for c in self.changes)
        return (f"{len(self.added_chains)} chains added, {len(self.removed_chains)} removed, "
                f"{len(self.changed_chains)} changed; {rules_added} rule lines added, {rules_removed} removed")

    def __str__(self) -> str:
        if not self.changes:
            return "no change"
        out = [self.summary()]
        for c in self.changes:
            out.append(f"{c.table} {c.chain} ({c.status})")
            out += [f"  - {r}" for r in c.removed] + [f"  + {r}" for r in c.added]
        return "\n".join(out)

    def _repr_html_(self) -> str:
        if not self.changes:
            return "<p>no change</p>"
        parts = [f'<div class="kplab-rulediff" data-testid="rulediff"><p><b>{html.escape(self.summary())}</b></p>']
        for c in self.changes:
            parts.append(f'<div style="margin:0.6em 0"><b>{html.escape(c.table)} {html.escape(c.chain)}</b> '
                         f"({html.escape(c.status)})<pre style=\"margin:0.2em 0;font-size:13px;white-space:pre-wrap\">")
            parts += [f'<span style="background:#fde2e2;color:#7a1010">- {html.escape(r)}</span>\n' for r in c.removed]
            parts += [f'<span style="background:#dcf5dc;color:#0c5a0c">+ {html.escape(r)}</span>\n' for r in c.added]
            parts.append("</pre></div>")
        parts.append("</div>")
        return "".join(parts)


def rules_diff(before: str, after: str) -> RulesDiff:
    """Compare two iptables-save texts chain by chain (see the module docstring)."""
    old, new = _chains(before), _chains(after)
    changes = []
    for key in sorted(set(old) | set(new)):
        table, chain = key
        if key not in old:
            changes.append(ChainChange(table, chain, "added", (), tuple(new[key])))
        elif key not in new:
            changes.append(ChainChange(table, chain, "removed", tuple(old[key]), ()))
        elif old[key] != new[key]:
            gone = [r for r in old[key] if r not in new[key]]
            came = [r for r in new[key] if r not in old[key]]
            if not gone and not came:  # same rules, new order
                gone, came = old[key], new[key]
            changes.append(ChainChange(table, chain, "changed", tuple(gone), tuple(came)))
    return RulesDiff(tuple(changes))
