"""Dependency: a rule whose outcome rests on state a packet walk does not have.

`-m limit` matches while a token bucket has credit, `-m socket` when a local socket fits the packet, `-m string`
when the payload holds a pattern, `-j NFQUEUE` when a userspace program says so. kplab knows none of that (no
rates, no sockets, no payloads), so instead of refusing the rule set or guessing, the walk branches: the chooser
decides (`Chooser.assume`), and each branch records an Assumption naming the rule and what it depended on.
`enumerate_outcomes` explores both branches; a seeded walk takes the first ("matches") branch and says so.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Assumption:
    """One decision the walk could not make from the packet: `table chain #rule` (`text`) depended on
    `depends_on`; the branch took `matched` (for a target: `matched` True = the first outcome it names)."""
    table: str
    chain: str
    rule: int
    text: str
    depends_on: str
    matched: bool

    def __str__(self) -> str:
        return (f"{self.table} {self.chain} #{self.rule} depends on {self.depends_on}: "
                f"{'assumed to match' if self.matched else 'assumed not to match'}")

    def to_dict(self) -> dict:
        return {"table": self.table, "chain": self.chain, "rule": self.rule, "text": self.text,
                "depends_on": self.depends_on, "matched": self.matched}


def assume(chooser, rule, depends_on: str) -> bool:
    """The chooser's decision for a state-dependent match (True = it matches). Choosers without `assume`
    (a plain seeded walk) take the matching branch."""
    decide = getattr(chooser, "assume", None)
    return True if decide is None else bool(decide(rule, depends_on))


# Targets after which a walk goes on exactly as if the rule had not matched (logging, counters, things kplab
# does not model): a state-dependent match on such a rule needs no branch.
_NO_EFFECT = frozenset({"LOG", "NFLOG", "TRACE", "ULOG", "AUDIT", "CHECKSUM", "CLASSIFY", "DSCP", "TOS", "ECN",
                        "TCPMSS", "TCPOPTSTRIP", "IDLETIMER", "LED", "RATEEST", "SECMARK", "CONNSECMARK", "TEE",
                        "SET", "HMARK"})


def without_effect(rule) -> bool:
    """True when the rule's outcome cannot change the walk: no target (counters only) or one of _NO_EFFECT."""
    target = getattr(rule, "target", "?")
    return target is None or target in _NO_EFFECT
