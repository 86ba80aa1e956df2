"""Label selectors, validated and parsed like the API server does (k8s.io/apimachinery/pkg/labels):

- the LabelSelector form (`matchLabels` + `matchExpressions`) of workloads' `spec.selector` and NetworkPolicy, parsed
  once by `parse_selector` into a `Selector` whose problems are field errors in the API server's words;
- the plain map of a Service's `spec.selector` and a pod's `nodeSelector` (`map_matches`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kplab.k8s.apistatus import field_forbidden, field_invalid, field_required

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# The API server's own sentences (k8s.io/apimachinery/pkg/util/validation), so a student sees what kubectl prints.
NAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
             "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
             "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
PREFIX_MSG = ("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
              "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
              "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
QUALIFIED_MSG = ("a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                 "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                 "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix "
                 "and '/' (e.g. 'example.com/MyName')")

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def label_key_problems(key: object) -> list[str]:
    """Why `key` is not a valid label key (a qualified name), in the API server's words; [] when it is."""
    if not isinstance(key, str):
        return [QUALIFIED_MSG]
    parts = key.split("/")
    if len(parts) == 1:
        prefix, name = "", parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return ["prefix part must be non-empty"]
    else:
        return [QUALIFIED_MSG]
    problems = []
    if prefix:
        if len(prefix) > 253:
            problems.append("prefix part must be no more than 253 characters")
        if not _DNS1123_SUBDOMAIN.match(prefix):
            problems.append(PREFIX_MSG)
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    if name and not _NAME.match(name):
        problems.append(NAME_MSG)
    return problems


def label_value_problems(value: object) -> list[str]:
    if not isinstance(value, str):
        return [VALUE_MSG]
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 characters")
    if not _VALUE.match(value):
        problems.append(VALUE_MSG)
    return problems


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        # k8s.io/apimachinery labels.Requirement.Matches: NotIn and DoesNotExist match an absent key.
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels

    def __str__(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        word = "in" if self.operator == "In" else "notin"
        return f"{self.key} {word} ({','.join(sorted(self.values))})"


@dataclass(frozen=True)
class Selector:
    """A LabelSelector: every matchLabels pair and every expression must hold (AND). Empty selects everything."""

    match_labels: tuple[tuple[str, str], ...] = ()
    expressions: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.match_labels and not self.expressions

    def matches(self, labels: dict[str, str]) -> bool:
        for k, v in self.match_labels:
            if labels.get(k) != v:
                return False
        return all(r.matches(labels) for r in self.expressions)

    def __str__(self) -> str:
        """kubectl's selector notation (`role=db,tier in (a,b)`); `<all>` for the empty selector."""
        if self.empty:
            return "<all>"
        parts = [f"{k}={v}" for k, v in self.match_labels] + [str(r) for r in self.expressions]
        return ",".join(parts)


def parse_selector(raw: Any, path: str, errors: list[str]) -> Selector:
    """A LabelSelector from its dict form; problems are appended to `errors` as API-server field errors."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        errors.append(field_invalid(path, raw, "must be a label selector object"))
        return Selector()
    labels = raw.get("matchLabels") or {}
    if not isinstance(labels, dict):
        errors.append(field_invalid(f"{path}.matchLabels", labels, "must be a map of label keys to values"))
        labels = {}
    pairs = []
    for k, v in labels.items():
        for msg in label_key_problems(k):
            errors.append(field_invalid(f"{path}.matchLabels", k, msg))
        if isinstance(v, bool) or isinstance(v, (int, float)):
            errors.append(field_invalid(f"{path}.matchLabels", v, "label values must be strings (quote them in YAML)"))
            continue
        for msg in label_value_problems(v):
            errors.append(field_invalid(f"{path}.matchLabels", v, msg))
        pairs.append((str(k), str(v)))
    requirements = []
    for i, expr in enumerate(raw.get("matchExpressions") or []):
        epath = f"{path}.matchExpressions[{i}]"
        if not isinstance(expr, dict):
            errors.append(field_invalid(epath, expr, "must be a label selector requirement"))
            continue
        key, op, values = expr.get("key", ""), expr.get("operator"), expr.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                errors.append(field_required(f"{epath}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errors.append(field_forbidden(f"{epath}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            errors.append(field_invalid(f"{epath}.operator", op, "not a valid selector operator"))
        for msg in label_key_problems(key):
            errors.append(field_invalid(f"{epath}.key", key, msg))
        for j, v in enumerate(values):
            for msg in label_value_problems(v):
                errors.append(field_invalid(f"{epath}.values[{j}]", v, msg))
        requirements.append(Requirement(str(key), str(op), frozenset(str(v) for v in values)))
    unknown = set(raw) - {"matchLabels", "matchExpressions"}
    for name in sorted(unknown):
        errors.append(f'{path}: unknown field "{name}"')
    return Selector(tuple(sorted(pairs)), tuple(requirements))


def map_matches(selector: dict[str, str] | None, labels: dict[str, str]) -> bool:
    """A Service's or nodeSelector's plain map: every pair must be present. None selects nothing."""
    if selector is None:
        return False
    return all(labels.get(k) == v for k, v in selector.items())
