"""NetworkPolicy as given (the spec dict); semantics live in kplab.cni."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class NetworkPolicy:
    namespace: str
    name: str
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"
