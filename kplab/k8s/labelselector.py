"""Label selectors: the `matchLabels` + `matchExpressions` form workloads use, and the plain map Services use."""
from __future__ import annotations

from typing import Any

from kplab.errors import KplabError


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """True when `labels` satisfy a LabelSelector (`{matchLabels, matchExpressions}`); an empty selector selects all."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != str(value):
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), [str(v) for v in expr.get("values") or []]
        if op == "In":
            ok = key in labels and labels[key] in values
        elif op == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif op == "Exists":
            ok = key in labels
        elif op == "DoesNotExist":
            ok = key not in labels
        else:
            raise KplabError(f"label selector operator {op!r} is not one of In, NotIn, Exists, DoesNotExist")
        if not ok:
            return False
    return True


def map_matches(selector: dict[str, str] | None, labels: dict[str, str]) -> bool:
    """A Service's or nodeSelector's plain map: every pair must be present. None selects nothing."""
    if selector is None:
        return False
    return all(labels.get(k) == v for k, v in selector.items())
