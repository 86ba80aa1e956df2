"""Namespace: a name and its labels (namespaceSelector matches these)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from kplab.k8s.apistatus import DNS1123_LABEL, field_invalid, invalid
from kplab.k8s.revision import Tracked


@dataclass
class Namespace(Tracked):
    name: str
    labels: dict[str, str] = field(default_factory=dict)


def validate_namespace(ns: Namespace) -> None:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", ns.name) or len(ns.name) > 63:
        raise invalid("Namespace", ns.name, [field_invalid("metadata.name", ns.name, DNS1123_LABEL)])
