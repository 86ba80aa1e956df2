"""Fib: one node's addresses and routes as `ip -o addr` and `ip route` print them, looked up as the kernel does.

The kernel's FIB for IPv4 has a local table (every address the host owns, and all of 127.0.0.0/8 on lo) checked
before the main table; the main table holds the connected route of each address (`proto kernel scope link`) and
whatever `ip route` lists. A lookup takes the longest matching prefix, then the lowest metric (fib_table_lookup).
The source a locally generated packet gets is the route's `src` (its preferred source), else inet_select_addr's
choice. MASQUERADE does not use the route's `src`: nf_nat_masquerade_ipv4 calls inet_select_addr(out device,
next hop): the first primary address of the out device whose subnet holds the next hop, else its first primary
address (checked in a network namespace: a route `via 10.0.0.2 src 10.0.1.1` is masqueraded to 10.0.0.1).

Read from `ip -o addr` (or `ip addr`) and `ip route` (or `ip route show table all`) text; KplabError names the
file and line of anything unreadable.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from kplab.errors import KplabError
from kplab.netfilter.packet import Route

_KINDS = ("unicast", "local", "broadcast", "blackhole", "unreachable", "prohibit", "throw", "anycast", "multicast",
          "nat")
_FAILED = {"blackhole": "blackhole", "unreachable": "unreachable", "prohibit": "prohibit"}
# `ip route` words that take a value, and those that do not (all are read; the ones a lookup needs are kept).
_VALUE_WORDS = {"via", "dev", "src", "metric", "proto", "scope", "table", "mtu", "advmss", "realm", "realms",
                "expires", "pref", "weight", "tos", "dsfield", "initcwnd", "initrwnd", "hoplimit", "rtt", "rttvar",
                "congctl", "features", "quickack", "nhid", "window", "ssthresh", "cwnd", "reordering", "fastopen_no_cookie",
                "ttl-propagate", "encap", "error", "priority", "mtu_lock", "from", "as", "to"}
_FLAG_WORDS = {"onlink", "linkdown", "dead", "pervasive", "offload", "trap", "rt_offload", "rt_trap", "notify",
               "cache", "lock", "rt_offload_failed"}


@dataclass(frozen=True)
class Address:
    """One `inet`/`inet6` line of `ip addr`: an interface's address and prefix; `secondary` as the kernel flags
    a second address in a subnet the interface already has (never picked as a source)."""
    iface: str
    ip: str
    prefix: int
    secondary: bool = False

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_interface(f"{self.ip}/{self.prefix}").network

    @property
    def cidr(self) -> str:
        return f"{self.ip}/{self.prefix}"


@dataclass(frozen=True)
class FibRoute:
    """One route: destination network, type (unicast, blackhole, unreachable, prohibit, local...), next hop,
    device, preferred source, metric."""
    dest: str  # canonical network, "0.0.0.0/0" for default
    kind: str = "unicast"
    via: str | None = None
    dev: str | None = None
    src: str | None = None
    metric: int = 0
    scope: str | None = None
    table: str = "main"
    text: str = ""

    @property
    def network(self):
        return ipaddress.ip_network(self.dest)


@dataclass
class Fib:
    """A node's addresses and routing tables. `assumed` says what stood in for information not given (e.g. no
    routes: a default route out of the interface holding the node's main address), so reports can say so."""
    addresses: list[Address] = field(default_factory=list)
    routes: list[FibRoute] = field(default_factory=list)
    route_localnet: bool = False  # net.ipv4.conf.*.route_localnet (kube-proxy sets it for localhost NodePorts)
    assumed: str | None = None

    # ------------------------------------------------------------------ building
    def add_address(self, address: Address) -> None:
        same_subnet = any(a.iface == address.iface and a.network == address.network and not a.secondary
                          for a in self.addresses)
        if same_subnet and not address.secondary:
            address = Address(address.iface, address.ip, address.prefix, True)
        self.addresses.append(address)

    def with_connected_routes(self) -> "Fib":
        """The main table as the kernel makes it from the addresses: `NET dev IF proto kernel scope link src IP`
        for each primary address, unless a route for that network on that device is already listed."""
        have = {(r.dest, r.dev) for r in self.routes}
        for a in self.addresses:
            if a.secondary or a.iface == "lo" or ipaddress.ip_address(a.ip).is_loopback:
                continue
            net = str(a.network)
            if a.prefix == a.network.max_prefixlen or (net, a.iface) in have:
                continue
            self.routes.append(FibRoute(net, dev=a.iface, src=a.ip, scope="link",
                                        text=f"{net} dev {a.iface} proto kernel scope link src {a.ip}"))
            have.add((net, a.iface))
        return self

    @property
    def interfaces(self) -> dict[str, list[str]]:
        """Interface -> its primary addresses as `ip/prefix`, in the order `ip addr` lists them (lo first)."""
        out: dict[str, list[str]] = {"lo": []}
        for a in self.addresses:
            out.setdefault(a.iface, [])
            if not a.secondary:
                out[a.iface].append(a.cidr)
        if not out["lo"]:
            out["lo"] = ["127.0.0.1/8", "::1/128"]
        return out

    @property
    def local_ips(self) -> list[str]:
        return [a.ip for a in self.addresses]

    # ------------------------------------------------------------------ lookups
    def is_local(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        if ip.version == 4 and ip in _LOOPBACK4:  # `local 127.0.0.0/8 dev lo` in the local table
            return True
        return any(a.ip == str(ip) for a in self.addresses) or any(
            r.kind == "local" and ip in r.network for r in self.routes)

    def is_broadcast(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        if ip.version != 4:
            return False
        return str(ip) == "255.255.255.255" or any(
            not a.secondary and a.prefix < 31 and ipaddress.ip_address(a.ip).version == 4
            and ip == a.network.broadcast_address for a in self.addresses)

    def lookup(self, dst: str, src: str | None = None) -> Route:
        """The route for a packet to `dst` (from `src` when the sender fixed it): local delivery, out a device
        via a gateway with a preferred source, or a failure (no route, unreachable, prohibit, blackhole, a
        loopback source leaving a non-loopback device with route_localnet off)."""
        if self.is_local(dst):
            return Route(local=True, out_iface="lo", src=dst)
        ip = ipaddress.ip_address(dst)
        if self.is_broadcast(dst):  # `broadcast ... dev IF` in the local table: delivered to this host too
            return Route(local=True, out_iface="lo", note=f"{dst} is a broadcast address of this host's networks")
        best: FibRoute | None = None
        for r in self.routes:
            if r.kind in ("local", "broadcast") or r.table not in ("main", "default"):
                continue
            net = r.network
            if net.version != ip.version or ip not in net:
                continue
            if best is None or (net.prefixlen, -r.metric) > (best.network.prefixlen, -best.metric):
                best = r
        if best is None:
            return Route.failed("no route")
        if best.kind in _FAILED:
            return Route.failed(_FAILED[best.kind])
        if best.kind == "throw":
            return Route.failed("no route")
        if src is not None and ipaddress.ip_address(src).is_loopback and best.dev != "lo" \
                and not self.route_localnet:
            return Route.failed("loopback source")  # __mkroute_output: -EINVAL without route_localnet
        source = best.src or self.select_address(best.dev, best.via or dst, ip.version)
        note = f"route {best.text or best.dest}" + (f" ({self.assumed})" if self.assumed and best.text == "" else "")
        return Route(local=False, out_iface=best.dev, gateway=best.via, src=source, note=note)

    def select_address(self, dev: str | None, nexthop: str | None, version: int = 4) -> str | None:
        """inet_select_addr(dev, nexthop, universe scope): the first primary address of `dev` whose subnet holds
        the next hop, else its first primary address, else the first global address of another device."""
        first = None
        for a in self.addresses:
            if a.iface != dev or a.secondary or ipaddress.ip_address(a.ip).version != version:
                continue
            if ipaddress.ip_address(a.ip).is_loopback:
                continue
            if nexthop is not None and ipaddress.ip_address(nexthop) in a.network:
                return a.ip
            first = first or a.ip
        if first is not None:
            return first
        for a in self.addresses:
            ip = ipaddress.ip_address(a.ip)
            if not a.secondary and ip.version == version and not ip.is_loopback and not ip.is_link_local:
                return a.ip
        return None


_LOOPBACK4 = ipaddress.ip_network("127.0.0.0/8")
# `2: eth0    inet 10.0.0.1/24 brd ... scope global eth0\ ...` (ip -o addr) and `    inet 10.0.0.1/24 ...` (ip addr)
_O_ADDR = re.compile(r"^\s*\d+:\s+(?P<iface>[^\s:@]+)(?:@\S+)?\s+(?P<family>inet6?)\s+(?P<cidr>\S+)(?P<rest>.*)$")
_IFACE_HEADER = re.compile(r"^\d+:\s+(?P<iface>[^\s:@]+)(?:@[^\s:]+)?:\s+<")
_ADDR = re.compile(r"^\s+(?P<family>inet6?)\s+(?P<cidr>\S+)(?P<rest>.*)$")


def parse_addrs(text: str, source: str = "<addrs>") -> list[Address]:
    """Addresses from `ip -o addr` (one line each) or `ip addr` (interface headers, then `inet` lines)."""
    found: list[Address] = []
    iface = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _O_ADDR.match(line)
        if m:
            found.append(_address(m.group("iface"), m.group("cidr"), m.group("rest"), f"{source}:{lineno}"))
            continue
        header = _IFACE_HEADER.match(line)
        if header:
            iface = header.group("iface")
            continue
        m = _ADDR.match(line)
        if m and iface is not None:
            found.append(_address(iface, m.group("cidr"), m.group("rest"), f"{source}:{lineno}"))
            continue
        if line[:1].isspace() and iface is not None:
            continue  # link/ether, valid_lft ... lines of `ip addr`
        if re.match(r"^\d+:\s+\S+", line):
            continue  # `ip -o link`-style lines without an address
        raise KplabError(f"{source}:{lineno}: cannot read {line.strip()[:60]!r} as `ip -o addr` or `ip addr` "
                         f"output (run `ip -o addr` on the node)")
    if not found:
        raise KplabError(f"{source}: no addresses found (expected `ip -o addr` output)")
    return found


def _address(iface: str, cidr: str, rest: str, where: str) -> Address:
    try:
        parsed = ipaddress.ip_interface(cidr if "/" in cidr else cidr + ("/128" if ":" in cidr else "/32"))
    except ValueError:
        raise KplabError(f"{where}: {cidr!r} is not an address/prefix") from None
    return Address(iface, str(parsed.ip), parsed.network.prefixlen, " secondary" in f" {rest} ")


def parse_routes(text: str, source: str = "<routes>") -> list[FibRoute]:
    """Routes from `ip route` (or `ip route show table all`; multipath `nexthop` lines take the first hop)."""
    routes: list[FibRoute] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[:1].isspace() and stripped.startswith("nexthop") and routes and routes[-1].dev is None:
            hop = route_from_words(["0.0.0.0/0"] + stripped.split()[1:], f"{source}:{lineno}")
            last = routes[-1]
            routes[-1] = FibRoute(last.dest, last.kind, hop.via, hop.dev, last.src, last.metric, last.scope,
                                  last.table, last.text)
            continue
        if line[:1].isspace():
            continue  # cache lines, extra nexthops
        routes.append(route_from_words(stripped.split(), f"{source}:{lineno}"))
    return routes


def route_from_words(words: list[str], where: str = "<route>") -> FibRoute:
    """One `ip route` line (`default via 192.0.2.1 dev eth0 proto dhcp src 192.0.2.31 metric 100`)."""
    text = " ".join(words)
    kind = "unicast"
    if words and words[0] in _KINDS:
        kind, words = words[0], words[1:]
    if not words:
        raise KplabError(f"{where}: {text!r} has no destination")
    dest = words[0]
    try:
        network = "0.0.0.0/0" if dest == "default" else str(ipaddress.ip_network(dest, strict=False))
    except ValueError:
        raise KplabError(f"{where}: cannot read {text[:60]!r} as an `ip route` line (destination {dest!r})") from None
    values: dict[str, str] = {}
    i = 1
    while i < len(words):
        word = words[i]
        if word in _FLAG_WORDS:
            i += 1
        elif word in _VALUE_WORDS and i + 1 < len(words):
            values.setdefault(word, words[i + 1])
            i += 2
        else:
            raise KplabError(f"{where}: cannot read {word!r} in {text[:80]!r} as part of an `ip route` line")
    if dest == "default" and ":" in (values.get("via") or ""):
        network = "::/0"
    try:
        metric = int(values.get("metric", "0"))
    except ValueError:
        raise KplabError(f"{where}: metric {values['metric']!r} is not a number") from None
    return FibRoute(network, kind, values.get("via"), values.get("dev"), values.get("src"), metric,
                    values.get("scope"), values.get("table", "main"), text)


def node_fib(addresses: list[Address], routes: list[FibRoute] | None, main_address: str | None = None,
             route_localnet: bool = False) -> Fib:
    """A Fib from a node's addresses and (optionally) routes. Without routes the connected routes stand, and a
    default route leaves by the interface holding `main_address` (else eth0, else the first interface); the
    Fib's `assumed` says so."""
    fib = Fib(route_localnet=route_localnet)
    for a in addresses:
        fib.add_address(a)
    fib.routes = list(routes or [])
    fib.with_connected_routes()
    if routes is None:
        dev = next((a.iface for a in fib.addresses if a.ip == main_address), None) or \
            ("eth0" if any(a.iface == "eth0" for a in fib.addresses) else
             next((a.iface for a in fib.addresses if a.iface != "lo"), "eth0"))
        fib.assumed = f"no routes given: assumed a default route out of {dev}"
        fib.routes.append(FibRoute("0.0.0.0/0", dev=dev, metric=1 << 31, text=""))
        fib.routes.append(FibRoute("::/0", dev=dev, metric=1 << 31, text=""))
    return fib
