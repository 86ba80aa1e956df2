"""Packet and Route: the data a netfilter walk reads and rewrites.

A Packet holds only the header fields netfilter looks at; NAT produces a new Packet (frozen), so every
step of a walk can keep the packet as it was before and after.
"""
from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass
from functools import lru_cache

PROTOCOLS = ("tcp", "udp", "sctp", "icmp", "icmpv6")
ICMP_ERRORS = frozenset({"destination-unreachable", "time-exceeded", "parameter-problem", "source-quench",
                         "redirect"})
# Destination-unreachable codes (RFC 792, RFC 1812), named as iptables' --reject-with names them.
ICMP_UNREACH_CODES = {0: "net-unreachable", 1: "host-unreachable", 2: "proto-unreachable", 3: "port-unreachable",
                      9: "net-prohibited", 10: "host-prohibited", 13: "admin-prohibited"}


@dataclass(frozen=True)
class Packet:
    src: str
    dst: str
    protocol: str = "tcp"
    sport: int | None = None
    dport: int | None = None
    tcp_flags: str = "SYN"  # "SYN", "ACK", "SYN,ACK", "FIN,ACK", "RST" ...; ignored unless protocol is tcp
    mark: int = 0
    icmp_type: str = "echo-request"  # only for icmp: echo-request, echo-reply, destination-unreachable ...
    icmp_code: int | None = None  # for ICMP errors: 3 = port unreachable, 13 = administratively prohibited ...
    embedded: "Packet | None" = None  # an ICMP error quotes the header of the packet it is about
    ttl: int | None = None  # IP TTL; None = unknown (the sender's choice): -m ttl then depends on it
    length: int | None = None  # IP total length in bytes; None = unknown (kplab models no payloads)
    tos: int = 0  # the IP TOS byte (DSCP << 2 | ECN); a socket's default is 0

    def replace(self, **changes) -> "Packet":
        """A copy with some fields changed (TypeError for a field Packet does not have). What
        dataclasses.replace does, without re-running __init__ field by field: NAT and conntrack rewrite
        packets many times per walk, and Packet's __init__ checks nothing."""
        if not changes.keys() <= _PACKET_FIELDS:
            raise TypeError(f"Packet has no field {', '.join(sorted(changes.keys() - _PACKET_FIELDS))}")
        new = object.__new__(Packet)
        new.__dict__.update(self.__dict__, **changes)
        return new

    @property
    def flags(self) -> frozenset[str]:
        return _flags(self.tcp_flags) if self.protocol == "tcp" else frozenset()

    @property
    def has_ports(self) -> bool:
        return self.protocol in ("tcp", "udp", "sctp")

    @property
    def is_icmp_error(self) -> bool:
        """An ICMP error message (conntrack files it under the connection of the packet it quotes)."""
        return self.protocol.startswith("icmp") and self.icmp_type in ICMP_ERRORS

    def __str__(self) -> str:
        if self.has_ports:
            text = f"{self.protocol} {join_host_port(self.src, self.sport)} -> {join_host_port(self.dst, self.dport)}"
            if self.protocol == "tcp":
                text += f" [{self.tcp_flags}]"
        else:
            text = f"{self.protocol} {self.src} -> {self.dst} {self.icmp_type if self.protocol.startswith('icmp') else ''}"
            if self.icmp_code is not None:
                name = ICMP_UNREACH_CODES.get(self.icmp_code) if self.icmp_type == "destination-unreachable" else None
                text += f" code {self.icmp_code}" + (f" ({name})" if name else "")
            if self.embedded is not None:
                text += f" about [{self.embedded}]"
        if self.mark:
            text += f" mark={self.mark:#x}"
        return text.rstrip()


_PACKET_FIELDS = frozenset(f.name for f in dataclasses.fields(Packet))


@lru_cache(maxsize=256)
def _flags(tcp_flags: str) -> frozenset[str]:
    """`"SYN,ACK"` -> {"SYN", "ACK"} (read once per spelling: rules test the flags of every TCP packet)."""
    return frozenset(f for f in tcp_flags.upper().split(",") if f)


# Why a FIB lookup can fail -> (errno a local sender gets, its words, ICMP destination-unreachable code the
# kernel's ip_error sends back for a received packet, or None for a silent drop).
ROUTE_FAILURES = {
    "no route": ("ENETUNREACH", "network is unreachable", 0),  # no route matched at all
    "unreachable": ("EHOSTUNREACH", "no route to host", 1),  # an `unreachable` route (or ip_forward=0)
    "prohibit": ("EACCES", "permission denied", 13),  # a `prohibit` route: ICMP packet filtered
    "blackhole": ("EINVAL", "invalid argument", None),  # a `blackhole` route: dropped silently
    # __mkroute_output: a 127.0.0.0/8 source may not leave a non-loopback device unless route_localnet=1
    "loopback source": ("EINVAL", "invalid argument: a 127.0.0.0/8 source cannot leave a non-loopback device "
                                  "(net.ipv4.conf.*.route_localnet=0)", None),
    # ip_route_input_slow / fib_validate_source: a received packet whose source is a loopback address (on a
    # device without route_localnet) or an address of the receiving host is a martian: dropped, no error sent
    "martian source": ("EINVAL", "martian source: dropped without an error", None),
}


@dataclass(frozen=True)
class Route:
    """The routing decision the caller makes for a packet (kplab.netfilter knows no routing tables).

    `failure` (a key of ROUTE_FAILURES) says the lookup failed: the kernel drops the packet at the routing
    decision, before FORWARD/INPUT for a received packet and before OUTPUT for a locally generated one.

    `physdev_out` is the bridge port the packet leaves by when `out_iface` is a Linux bridge (-m physdev's
    --physdev-out). The engine uses it only for bridged traffic — a packet that came in through a port of that
    same bridge (`Stack.receive(..., physdev_in=...)`) — because br_netfilter knows the out port only then."""
    local: bool
    out_iface: str | None = None
    gateway: str | None = None
    src: str | None = None  # preferred source address for locally generated packets
    failure: str | None = None
    physdev_out: str | None = None
    note: str = ""  # which route decided, and any assumption made for want of the node's routes

    @classmethod
    def failed(cls, why: str = "no route", note: str = "") -> "Route":
        if why not in ROUTE_FAILURES:
            raise ValueError(f"unknown route failure {why!r} (one of {', '.join(ROUTE_FAILURES)})")
        return cls(local=False, failure=why, note=note)

    @property
    def errno(self) -> str | None:
        """What `send` would fail with (ENETUNREACH, EHOSTUNREACH ...), None for a usable route."""
        return ROUTE_FAILURES[self.failure][0] if self.failure else None

    @property
    def icmp_code(self) -> int | None:
        """The destination-unreachable code the kernel sends back for a received packet (None: silent)."""
        return ROUTE_FAILURES[self.failure][2] if self.failure else None

    def failure_text(self) -> str:
        errno, words, _ = ROUTE_FAILURES[self.failure]
        return f"{self.failure}: {words} ({errno})"


def join_host_port(ip: str, port: int | None) -> str:
    """`ip:port`, IPv6 in brackets (`[fd00::1]:80`), as Go's net.JoinHostPort writes it; the bare ip without a port."""
    if port is None:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


@lru_cache(maxsize=65536)
def ip_int(address: str) -> int:
    """Address as an integer (cached: walks compare the same few addresses thousands of times)."""
    return int(ipaddress.ip_address(address))


@lru_cache(maxsize=65536)
def ip_version(address: str) -> int:
    return ipaddress.ip_address(address).version


@lru_cache(maxsize=65536)
def ip_address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """ipaddress.ip_address, parsed once per distinct string (ValueError for a bad one): the martian and addrtype
    checks look at the same few addresses on every hop of every walk. The result is immutable."""
    return ipaddress.ip_address(address)


@lru_cache(maxsize=65536)
def ip_text(address: str) -> str:
    """The address as `ip` prints it (`str(ipaddress.ip_address(address))`), worked out once per spelling."""
    return str(ipaddress.ip_address(address))
