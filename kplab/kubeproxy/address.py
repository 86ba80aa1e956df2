"""IP address and CIDR spelling as kube-proxy writes it (Go's net.ParseIP / ParseCIDRSloppy, canonical output).

Kubernetes once accepted IPv4 octets with leading zeros ("172.30.0.041"); kube-proxy parses them as decimal and
writes the canonical form, which Python's ipaddress would refuse to parse at all.
"""
from __future__ import annotations

import functools
import ipaddress

from kplab.errors import KplabError


def _parse_ipv4_sloppy(text: str) -> ipaddress.IPv4Address | None:
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 for p in parts):
        return None
    octets = [int(p, 10) for p in parts]
    if any(o > 255 for o in octets):
        return None
    return ipaddress.IPv4Address(".".join(map(str, octets)))


def parse_ip(text: str, what: str = "IP address") -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    text = text.strip()
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            pass
    else:
        ip = _parse_ipv4_sloppy(text)
        if ip is not None:
            return ip
    raise KplabError(f"invalid {what}: {text!r}")


@functools.lru_cache(maxsize=1 << 16)  # pure (errors are raised, never cached); addresses repeat across rules
def canonical_ip(text: str) -> str:
    return str(parse_ip(text))


def canonical_cidr(text: str) -> str:
    """"203.0.113.000/025" -> "203.0.113.0/25" (the network address, host bits cleared)."""
    text = text.strip()
    if "/" not in text:
        ip = parse_ip(text, "CIDR")
        return f"{ip}/{ip.max_prefixlen}"
    addr, _, plen = text.partition("/")
    ip = parse_ip(addr, "CIDR")
    if not plen.isdigit() or int(plen) > ip.max_prefixlen:
        raise KplabError(f"invalid CIDR: {text!r}")
    return str(ipaddress.ip_network(f"{ip}/{int(plen)}", strict=False))


def family_of(text: str) -> str:
    """"IPv4" or "IPv6" for an address or CIDR."""
    return "IPv6" if ":" in text else "IPv4"


def to_cidr(ip: str) -> str:
    """utilproxy.ToCIDR: a host route, "/32" or "/128" (v1.19 wrote -d with it)."""
    return f"{ip}/128" if ":" in ip else f"{ip}/32"


def cidr_contains(cidr: str, ip: str) -> bool:
    net = ipaddress.ip_network(cidr, strict=False)
    addr = ipaddress.ip_address(ip)
    return addr.version == net.version and addr in net
