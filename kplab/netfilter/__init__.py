"""kplab.netfilter — Linux packet filtering as data (work in progress; see the full API description below).

    parse_ruleset(text, source="<rules>", partial=False) -> Ruleset
    Ruleset.save() -> str ; Ruleset.combine(other) -> Ruleset
"""
from kplab.netfilter.ruleset import Chain, Ruleset, Table, parse_ruleset

__all__ = ["Chain", "Ruleset", "Table", "parse_ruleset"]
