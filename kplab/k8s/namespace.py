"""Namespace: a name and its labels (namespaceSelector matches these)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Namespace:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
