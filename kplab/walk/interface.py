"""Interface: one network device of a host (eth0, cni0, a veth end, cali*, flannel.1, tunl0).

Addresses are kept in CIDR form ("10.244.1.1/24") because the prefix is what makes a
connected route; the netfilter engine gets them in the same form.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

# What the device is: decides how a packet leaving it reaches the next host.
KINDS = ("ethernet", "veth", "bridge", "bridge-port", "cali", "vxlan", "ipip", "loopback", "wan")


@dataclass
class Interface:
    name: str
    kind: str = "ethernet"
    addresses: list[str] = field(default_factory=list)  # "ip/prefix"
    master: str | None = None  # the bridge a veth is enslaved to
    peer: tuple[str, str] | None = None  # (host, interface) at the other end of a veth pair

    @property
    def ips(self) -> list[str]:
        return [a.split("/")[0] for a in self.addresses]

    def networks(self) -> list[ipaddress.IPv4Network]:
        return [ipaddress.ip_interface(a).network for a in self.addresses]

    def __str__(self) -> str:
        extra = f" master {self.master}" if self.master else ""
        peer = f" peer {self.peer[0]}:{self.peer[1]}" if self.peer else ""
        addrs = " ".join(f"inet {a}" for a in self.addresses)
        return f"{self.name} ({self.kind}){extra}{peer} {addrs}".rstrip()
