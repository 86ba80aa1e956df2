"""RestorePayload: the text kube-proxy hands to `iptables-restore --noflush --counters`, built table by table.

kube-proxy writes each table as chain declarations (`:CHAIN - [0:0]`, which also flushes an existing chain),
then `-A` rules, then `-X` deletions, then COMMIT. Comments with spaces are quoted, as kube-proxy quotes them.
"""
from __future__ import annotations

from dataclasses import dataclass, field


def comment(text: str) -> str:
    """`-m comment --comment X`, quoted only when X has a space (kube-proxy quotes exactly those)."""
    return f'-m comment --comment "{text}"' if " " in text else f"-m comment --comment {text}"


@dataclass
class TableBuffer:
    name: str
    chains: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)

    def chain(self, name: str) -> None:
        self.chains.append(name)

    def rule(self, chain: str, spec: str = "") -> None:
        self.rules.append(f"-A {chain} {spec}".rstrip())

    def delete(self, chain: str) -> None:
        self.deletions.append(chain)

    def lines(self) -> list[str]:
        out = [f"*{self.name}"]
        out += [f":{c} - [0:0]" for c in self.chains]
        out += self.rules
        out += [f"-X {c}" for c in self.deletions]
        out.append("COMMIT")
        return out


def join_tables(*tables: TableBuffer) -> str:
    lines: list[str] = []
    for t in tables:
        lines += t.lines()
    return "\n".join(lines) + "\n"
