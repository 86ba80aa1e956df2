"""kplab.cni: NetworkPolicy semantics (verdicts that name the deciding rule) and Calico-style enforcement."""
from __future__ import annotations

from kplab.cni.verdict import PolicyVerdict, evaluate

__all__ = ["PolicyVerdict", "TruthTable", "evaluate", "truth_table"]


def __getattr__(name: str):
    # numpy is imported only when a truth table is asked for.
    if name in ("truth_table", "TruthTable"):
        from kplab.cni import reach
        return getattr(reach, name)
    if name in ("calico_ruleset_text", "calico_ipsets_text", "interface_name"):
        from kplab.cni import calico
        return getattr(calico, name)
    raise AttributeError(name)
