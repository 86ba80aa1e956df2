"""Routing table of one host, looked up by longest prefix and printable like `ip route`.

The local table (addresses the host owns) is checked first, as the kernel does, so a packet
to one of the host's own addresses is delivered instead of forwarded.
"""
from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Nexthop:
    via: str
    dev: str
    weight: int = 1


@dataclass
class RouteEntry:
    dest: str  # "default" or "10.244.1.0/24"
    dev: str | None = None
    via: str | None = None
    src: str | None = None
    scope: str | None = None  # "link" for connected routes
    onlink: bool = False
    proto: str | None = None  # "kernel", "bird", ... (only for the printout)
    nexthops: tuple[Nexthop, ...] = ()  # ECMP / load balancer choice, chosen per flow
    kind: str = "unicast"  # or "blackhole", "unreachable"
    comment: str | None = None  # why the route exists (e.g. "health check: 2/3 nodes")

    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.ip_network("0.0.0.0/0" if self.dest == "default" else self.dest, strict=False)

    def __str__(self) -> str:
        parts = [] if self.kind == "unicast" else [self.kind]
        dest = self.dest
        if dest != "default" and dest.endswith("/32"):
            dest = dest[:-3]
        parts.append(dest)
        if self.via:
            parts.append(f"via {self.via}")
        if self.dev:
            parts.append(f"dev {self.dev}")
        if self.proto:
            parts.append(f"proto {self.proto}")
        if self.scope:
            parts.append(f"scope {self.scope}")
        if self.src:
            parts.append(f"src {self.src}")
        if self.onlink:
            parts.append("onlink")
        text = " ".join(parts)
        for nh in self.nexthops:
            text += f"\n\tnexthop via {nh.via} dev {nh.dev} weight {nh.weight}"
        return text


@dataclass
class RoutingTable:
    routes: list[RouteEntry] = field(default_factory=list)
    local: dict[str, str] = field(default_factory=dict)  # local address -> device
    _index: list[tuple[int, int, int, RouteEntry]] | None = field(default=None, repr=False, compare=False)

    def add(self, route: RouteEntry) -> None:
        self.routes.append(route)
        self._index = None

    def _sorted(self) -> list[tuple[int, int, int, RouteEntry]]:
        if self._index is None:
            rows = []
            for r in self.routes:
                net = r.network()
                rows.append((net.prefixlen, int(net.network_address), int(net.netmask), r))
            rows.sort(key=lambda row: -row[0])  # stable: first added wins among equals
            self._index = rows
        return self._index

    def lookup(self, address: str) -> RouteEntry | None:
        """The route the kernel would pick for this destination (None: no route to host)."""
        if address in self.local:
            return RouteEntry(dest=f"{address}/32", dev=self.local[address], kind="local", scope="host")
        if address.startswith("127."):  # the local table's `local 127.0.0.0/8 dev lo`: the whole block is ours
            return RouteEntry(dest="127.0.0.0/8", dev="lo", kind="local", scope="host")
        value = _ipv4_int(address)
        for _, net, mask, route in self._sorted():
            if value & mask == net:
                return route
        return None

    def __str__(self) -> str:
        """`ip route` form of the main table (the local table is shown by `show_local`)."""
        return "\n".join(str(r) for r in self.routes)

    def show_local(self) -> str:
        return "\n".join(f"local {ip} dev {dev} scope host" for ip, dev in self.local.items())


@functools.lru_cache(maxsize=65536)
def _ipv4_int(address: str) -> int:
    """The address as an integer (parsed once per distinct address: lookups run on every hop of every walk)."""
    return int(ipaddress.IPv4Address(address))
