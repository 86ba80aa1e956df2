"""Host: one network namespace on the path — a pod, a node, the router, the load balancer, an outside host.

A host owns interfaces, a routing table and an ip_forward switch. Its netfilter rules live in
the walker's stacks (built once per cluster), not here, so the topology stays plain data.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kplab.walk.interface import Interface
from kplab.walk.route import RouteEntry, RoutingTable

HOST_KINDS = ("pod", "node", "router", "load-balancer", "outside")


@dataclass
class Host:
    name: str
    kind: str
    interfaces: dict[str, Interface] = field(default_factory=dict)
    routes: RoutingTable = field(default_factory=RoutingTable)
    ip_forward: bool = False
    pod: str | None = None  # "ns/name" for pod hosts
    node: str | None = None  # the node a pod runs on, or the node itself

    def add_interface(self, iface: Interface) -> Interface:
        self.interfaces[iface.name] = iface
        for ip in iface.ips:
            self.routes.local[ip] = iface.name
        return iface

    @property
    def local_ips(self) -> list[str]:
        ips = ["127.0.0.1"]
        for iface in self.interfaces.values():
            ips.extend(ip for ip in iface.ips if ip not in ips)
        return ips

    @property
    def address(self) -> str | None:
        """The host's main address: what a packet it sends carries as source by default."""
        for name in ("eth0", "wan"):
            iface = self.interfaces.get(name)
            if iface and iface.ips:
                return iface.ips[0]
        for iface in self.interfaces.values():
            if iface.ips:
                return iface.ips[0]
        return None

    def interface_addresses(self) -> dict[str, list[str]]:
        addrs = {"lo": ["127.0.0.1/8"]}
        addrs.update({name: list(i.addresses) for name, i in self.interfaces.items()})
        return addrs

    def lookup(self, address: str) -> RouteEntry | None:
        return self.routes.lookup(address)

    def source_for(self, route: RouteEntry) -> str | None:
        """Preferred source address for a route: its `src`, else the out device's first address, else the host's."""
        if route.src:
            return route.src
        iface = self.interfaces.get(route.dev or "")
        if iface and iface.ips:
            return iface.ips[0]
        return self.address

    def show(self) -> str:
        """`ip addr` + `ip route` in one printout, for notebooks."""
        lines = [f"# {self.kind} {self.name}  ip_forward={int(self.ip_forward)}"]
        lines += [f"  {i}" for i in self.interfaces.values()]
        lines += ["  " + line for line in str(self.routes).splitlines()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.show()
