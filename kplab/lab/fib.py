"""fib: the kernel's routing decision for a packet in a lab namespace, asked over rtnetlink as `ip route get` does.

`Fib.lookup(namespace, dst, src, iif, mark, protocol, sport, dport)` sends RTM_GETROUTE twice from a socket made
inside the namespace: once plainly (the route the packet takes: output device, gateway, preferred source — for a
multipath route the next hop the flow hash picks) and once with RTM_F_FIB_MATCH (`ip route get fibmatch`: the
routing table entry that matched). With `iif` it is an input lookup (a packet arriving on that device, as
ip_route_input does, rp_filter included); without, an output lookup (a packet this host sends). The answer is a
`Route`: the matched entry printed as `ip route` prints it, the type (unicast, local, unreachable ...), the out
device and the next hop (None when the destination is on the link), or the error the kernel gave (no route,
EXDEV for rp_filter ...). Sockets are opened once per namespace and closed by `close()`.
"""
from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass

from kplab.lab.namespace import inside
from kplab.lab.nftrace import attributes

RTM_GETROUTE, RTM_NEWROUTE = 26, 24
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
RTM_F_FIB_MATCH = 0x2000
RTNH_F_ONLINK = 0x4
# enum rtattr_type_t
RTA_DST, RTA_SRC, RTA_IIF, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC = 1, 2, 3, 4, 5, 6, 7
RTA_MULTIPATH, RTA_TABLE, RTA_MARK, RTA_IP_PROTO, RTA_SPORT, RTA_DPORT = 9, 15, 16, 27, 28, 29
TYPES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole",
         7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat"}
PROTOS = {2: "kernel", 3: "boot", 4: "static", 12: "bird", 186: "bgp", 188: "ospf"}  # /etc/iproute2/rt_protos
SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
TABLES = {253: "default", 254: "main", 255: "local"}
IPPROTO = {"tcp": 6, "udp": 17, "icmp": 1, "sctp": 132}


@dataclass(frozen=True)
class Route:
    """The kernel's answer: the matching entry as `ip route` prints it (`route`), its type, the device and next
    hop the packet leaves by (`out_iface`, `next_hop`; for a local route the device holding the address), and
    `error` (an errno name such as ENETUNREACH or EXDEV) when the lookup failed."""

    route: str
    type: str = "unicast"
    out_iface: str | None = None
    next_hop: str | None = None
    error: str | None = None

    @property
    def local(self) -> bool:
        return self.type == "local"


def _attr(kind: int, value: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(value), kind) + value
    return raw + b"\0" * (-len(raw) % 4)


def _ip(value: bytes) -> str:
    return str(ipaddress.IPv4Address(value[:4]))


class Fib:
    """Route lookups in the lab's namespaces (one rtnetlink socket per namespace, made there and kept)."""

    def __init__(self):
        self._socks: dict[str, socket.socket] = {}
        self._names: dict[str, dict[int, str]] = {}
        self._entries: dict[tuple, tuple] = {}
        self._seq = 0

    def _sock(self, namespace: str) -> socket.socket:
        sock = self._socks.get(namespace)
        if sock is None:
            with inside(namespace):
                sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
                self._names[namespace] = {i: n for i, n in socket.if_nameindex()}
            sock.bind((0, 0))
            sock.settimeout(2.0)
            self._socks[namespace] = sock
        return sock

    def _index(self, namespace: str, name: str | None) -> int | None:
        if name is None:
            return None
        self._sock(namespace)
        return next((i for i, n in self._names[namespace].items() if n == name), None)

    def _ask(self, namespace: str, dst: str, src: str | None, iif: str | None, mark: int, flags: int,
             protocol: str | None, sport: int | None, dport: int | None) -> tuple[int, bytes]:
        """(0, rtmsg + attributes) of the kernel's answer, or (errno, b"")."""
        sock = self._sock(namespace)
        body = _attr(RTA_DST, ipaddress.IPv4Address(dst).packed)
        if src:
            body += _attr(RTA_SRC, ipaddress.IPv4Address(src).packed)
        index = self._index(namespace, iif)
        if iif is not None and index is None:
            return errno.ENODEV, b""
        if index is not None:
            body += _attr(RTA_IIF, struct.pack("=I", index))
        if mark:
            body += _attr(RTA_MARK, struct.pack("=I", mark))
        if protocol in IPPROTO:
            body += _attr(RTA_IP_PROTO, struct.pack("=B", IPPROTO[protocol]))
            if sport is not None and dport is not None and protocol in ("tcp", "udp", "sctp"):
                body += _attr(RTA_SPORT, struct.pack("!H", sport)) + _attr(RTA_DPORT, struct.pack("!H", dport))
        rtmsg = struct.pack("=BBBBBBBBI", socket.AF_INET, 32, 32 if src else 0, 0, 0, 0, 0, 0, flags)
        self._seq += 1
        payload = rtmsg + body
        sock.send(struct.pack("=IHHII", 16 + len(payload), RTM_GETROUTE, NLM_F_REQUEST, self._seq, 0) + payload)
        while True:
            data = sock.recv(65536)
            length, kind, _flags, seq, _pid = struct.unpack_from("=IHHII", data, 0)
            if seq != self._seq:
                continue
            if kind == NLMSG_ERROR:
                code = struct.unpack_from("=i", data, 16)[0]
                return -code, b""
            return 0, data[16:length]

    def _format(self, namespace: str, answer: bytes) -> tuple[str, str, str | None, str | None]:
        """(text as `ip route` prints it, type, device, gateway) of an RTM_NEWROUTE body."""
        family, dst_len, _src_len, _tos, table, proto, scope, kind, flags = struct.unpack_from("=BBBBBBBBI", answer)
        a = attributes(answer, 12)
        names = self._names.get(namespace, {})
        type_ = TYPES.get(kind, str(kind))
        words = [] if type_ == "unicast" else [type_]
        if RTA_DST in a and dst_len:
            words.append(_ip(a[RTA_DST]) + ("" if dst_len == 32 else f"/{dst_len}"))
        else:
            words.append("default")
        gateway = _ip(a[RTA_GATEWAY]) if RTA_GATEWAY in a else None
        device = names.get(struct.unpack("=I", a[RTA_OIF][:4])[0]) if RTA_OIF in a else None
        nexthops = []
        if RTA_MULTIPATH in a:  # struct rtnexthop { len u16, flags u8, hops u8, ifindex i32 } + attributes
            data, offset = a[RTA_MULTIPATH], 0
            while offset + 8 <= len(data):
                length, nh_flags, hops, ifindex = struct.unpack_from("=HBBi", data, offset)
                sub = attributes(data[offset + 8: offset + length])
                nexthops.append((_ip(sub[RTA_GATEWAY]) if RTA_GATEWAY in sub else None, names.get(ifindex),
                                 hops + 1, nh_flags))
                offset += (length + 3) & ~3
        if gateway:
            words += ["via", gateway]
        if device:
            words += ["dev", device]
        table_id = struct.unpack("=I", a[RTA_TABLE][:4])[0] if RTA_TABLE in a else table
        if table_id != 254:
            words += ["table", TABLES.get(table_id, str(table_id))]
        if proto != 3:
            words += ["proto", PROTOS.get(proto, str(proto))]
        if scope:
            words += ["scope", SCOPES.get(scope, str(scope))]
        if RTA_PREFSRC in a:
            words += ["src", _ip(a[RTA_PREFSRC])]
        if RTA_PRIORITY in a:
            words += ["metric", str(struct.unpack("=I", a[RTA_PRIORITY][:4])[0])]
        if flags & RTNH_F_ONLINK:
            words.append("onlink")
        text = " ".join(words)
        for via, dev, weight, nh_flags in nexthops:
            text += f" nexthop via {via} dev {dev} weight {weight}" + (" onlink" if nh_flags & RTNH_F_ONLINK else "")
        return text, type_, device, gateway

    def lookup(self, namespace: str, dst: str, src: str | None = None, iif: str | None = None, mark: int = 0,
               protocol: str | None = None, sport: int | None = None, dport: int | None = None) -> Route:
        """The routing decision for one packet (module docstring); `iif` None: the host sends it itself."""
        key = (namespace, dst, src, iif, mark)
        entry = self._entries.get(key)
        if entry is None:
            code, answer = self._ask(namespace, dst, src, iif, mark, RTM_F_FIB_MATCH, protocol, None, None)
            entry = (code, self._format(namespace, answer) if not code else None)
            self._entries[key] = entry
        code, matched = entry
        if code:
            name = errno.errorcode.get(code, str(code))
            return Route(f"no route to {dst}: {os.strerror(code)} ({name})", "unreachable", error=name)
        text, type_, device, gateway = matched
        if type_ != "unicast" or " nexthop " not in text:
            return Route(text, type_, device, gateway)
        # a multipath entry: the plain lookup says which next hop this flow takes
        code, answer = self._ask(namespace, dst, src, iif, mark, 0, protocol, sport, dport)
        if code:
            name = errno.errorcode.get(code, str(code))
            return Route(f"{text}: {os.strerror(code)} ({name})", "unreachable", error=name)
        _, _, device, gateway = self._format(namespace, answer)
        return Route(text, type_, device, gateway)

    def close(self) -> None:
        for sock in self._socks.values():
            sock.close()
        self._socks.clear()
        self._entries.clear()
