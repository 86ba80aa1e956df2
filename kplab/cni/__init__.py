"""kplab.cni: NetworkPolicy semantics (verdicts that name the deciding rule) and Calico-style enforcement."""
from __future__ import annotations

from kplab.cni.verdict import PolicyVerdict, evaluate

__all__ = ["PolicyVerdict", "evaluate", "reach_table"]


def __getattr__(name: str):
    # pandas is imported only when a table is asked for.
    if name == "reach_table":
        from kplab.cni.reach import reach_table
        return reach_table
    if name in ("calico_ruleset_text", "calico_ipsets_text", "interface_name"):
        from kplab.cni import calico
        return getattr(calico, name)
    raise AttributeError(name)
