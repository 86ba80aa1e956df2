"""sort_restore: the order kube-proxy's own tests compare restore payloads in (their sortIPTablesRules).

kube-proxy iterates Services over a Go map, so the order of its output is random between runs; sorting makes two
payloads comparable — and two syncs easy to diff in the course.
"""
from __future__ import annotations

import re

_NAME_IN_COMMENT = re.compile(r'--comment "?([^ ":]*)')
_LAST_RULE = "must be the last rule"


def _chain_key(chain: str) -> tuple[int, str]:
    if chain == "KUBE-NODEPORTS":
        return (0, "")
    if chain == "KUBE-SERVICES":
        return (1, "")
    if chain.startswith("KUBE-"):
        return (2, chain)
    return (3, chain)


def _service_name(rule: str) -> str:
    m = _NAME_IN_COMMENT.search(rule)
    return m.group(1) if m else ""


def sort_restore(text: str) -> str:
    """Tables by name; chain lines first (KUBE-NODEPORTS, KUBE-SERVICES, other KUBE-* by name, then the rest);
    rules chain by chain in that order, those of KUBE-NODEPORTS and KUBE-SERVICES stably sorted by the Service
    named in their comment (the "must be the last rule" rule kept last); then the -X lines."""
    tables: dict[str, dict] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            current = tables.setdefault(line[1:], {"chains": [], "rules": {}, "deletes": []})
        elif line == "COMMIT" or current is None:
            continue
        elif line.startswith(":"):
            name = line[1:].split()[0]
            if name not in current["chains"]:
                current["chains"].append(name)
        elif line.startswith("-A "):
            chain = line.split()[1]
            current["rules"].setdefault(chain, []).append(line)
        elif line.startswith("-X "):
            current["deletes"].append(line)
    out: list[str] = []
    for name in sorted(tables):
        t = tables[name]
        chains = sorted(set(t["chains"]) | set(t["rules"]), key=_chain_key)
        declared = [c for c in chains if c in t["chains"]]
        out.append(f"*{name}")
        out += [f":{c} - [0:0]" for c in declared]
        for c in chains:
            rules = t["rules"].get(c, [])
            if c in ("KUBE-NODEPORTS", "KUBE-SERVICES"):
                last = [r for r in rules if _LAST_RULE in r]
                rest = [r for r in rules if _LAST_RULE not in r]
                rules = sorted(rest, key=_service_name) + last
            out += rules
        out += sorted(t["deletes"])
        out.append("COMMIT")
    return "\n".join(out) + "\n"
