"""NetworkPolicyPort: protocol (TCP by default), a number, a range (port..endPort) or a named container port."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kplab.k8s.apistatus import field_invalid, field_unsupported, port_name_problems

PROTOCOLS = ("TCP", "UDP", "SCTP")
PORT_NUM_MSG = "must be between 1 and 65535, inclusive"


@dataclass(frozen=True)
class PolicyPort:
    protocol: str = "TCP"
    port: int | str | None = None  # None: every port of this protocol
    end_port: int | None = None

    @property
    def named(self) -> bool:
        return isinstance(self.port, str)

    def matches_number(self, port: int, protocol: str) -> bool:
        """For numeric or absent `port` only (a named port needs the destination pod)."""
        if protocol != self.protocol:
            return False
        if self.port is None:
            return True
        high = self.end_port if self.end_port is not None else self.port
        return self.port <= port <= high

    def __str__(self) -> str:
        if self.port is None:
            return f"any/{self.protocol}"
        if self.end_port is not None:
            return f"{self.port}-{self.end_port}/{self.protocol}"
        return f"{self.port}/{self.protocol}"


def parse_port(raw: Any, path: str, errors: list[str]) -> PolicyPort:
    if not isinstance(raw, dict):
        errors.append(field_invalid(path, raw, "must be a NetworkPolicyPort object"))
        return PolicyPort()
    protocol = raw.get("protocol") or "TCP"
    if protocol not in PROTOCOLS:
        errors.append(field_unsupported(f"{path}.protocol", protocol, list(PROTOCOLS)))
    port = raw.get("port")
    end = raw.get("endPort")
    if isinstance(port, str) and port.isdigit():
        port = int(port)  # IntOrString given as a quoted number in YAML stays a string upstream; accept the number
    if port is not None:
        if isinstance(port, bool) or not isinstance(port, (int, str)):
            errors.append(field_invalid(f"{path}.port", port, "must be a port number or name"))
            port = None
        elif isinstance(port, int):
            if not 1 <= port <= 65535:
                errors.append(field_invalid(f"{path}.port", port, PORT_NUM_MSG))
            if end is not None:
                if not isinstance(end, int) or isinstance(end, bool):
                    errors.append(field_invalid(f"{path}.endPort", end, "must be an integer"))
                    end = None
                else:
                    if end < port:
                        # The API server shows `port` as the bad value here; kept for fidelity.
                        errors.append(field_invalid(f"{path}.endPort", port, "must be greater than or equal to `port`"))
                    if not 1 <= end <= 65535:
                        errors.append(field_invalid(f"{path}.endPort", end, PORT_NUM_MSG))
        else:
            if end is not None:
                errors.append(field_invalid(f"{path}.endPort", end, "may not be specified when `port` is non-numeric"))
                end = None
            for msg in port_name_problems(port):
                errors.append(field_invalid(f"{path}.port", port, msg))
    elif end is not None:
        errors.append(field_invalid(f"{path}.endPort", end, "may not be specified when `port` is not specified"))
        end = None
    for name in sorted(set(raw) - {"protocol", "port", "endPort"}):
        errors.append(f'{path}: unknown field "{name}"')
    return PolicyPort(str(protocol), port, end)
