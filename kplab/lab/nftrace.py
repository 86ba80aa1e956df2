"""nftrace: the kernel's own trace of a packet, read from netlink (no monitor process, no text parsing).

iptables-nft turns `-j TRACE` into `meta nftrace set 1`; from then on nf_tables reports every rule the packet
matches, every fall off the end of a user chain and every base-chain policy as an NFT_MSG_TRACE message on
the NFNLGRP_NFTRACE multicast group (net/netfilter/nf_tables_trace.c). One socket listens to *all* lab
namespaces at once: it lives in the lab's underlay namespace, each lab namespace gets a namespace id there,
and NETLINK_LISTEN_ALL_NSID delivers every namespace's events with its id attached — in the order the kernel
emitted them, so one packet's walk across namespaces reads in order.

A rule is reported by its handle; `rule_positions` dumps a namespace's rules (NFT_MSG_GETRULE) to turn a
handle into the rule's number in its chain, which is its number in `iptables -S CHAIN`.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import struct
from dataclasses import dataclass
from typing import NamedTuple

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_LISTEN_ALL_NSID = 8
NFNLGRP_NFTRACE = 9
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_GETRULE = 7
NFT_MSG_TRACE = 17
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NFPROTO_IPV4 = 2
# enum nft_trace_attributes
TRACE_TABLE, TRACE_CHAIN, TRACE_RULE_HANDLE, TRACE_TYPE, TRACE_VERDICT, TRACE_ID = 1, 2, 3, 4, 5, 6
TRACE_NETWORK_HEADER, TRACE_TRANSPORT_HEADER, TRACE_IIF, TRACE_OIF, TRACE_MARK, TRACE_POLICY = 8, 9, 10, 12, 14, 16
TRACE_CT_ID, TRACE_CT_DIRECTION, TRACE_CT_STATUS, TRACE_CT_STATE = 18, 19, 20, 21
# the packet's conntrack state as nft's `ct state` reads it (NF_CT_STATE_BIT of its ctinfo)
CT_STATES = {1: "INVALID", 2: "ESTABLISHED", 4: "RELATED", 8: "NEW", 64: "UNTRACKED"}
# ctnetlink (nfnetlink subsystem 1): NEW and UPDATE events (NFNLGRP_CONNTRACK_NEW, _UPDATE)
NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_NEW = 0
NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_UPDATE = 1, 2
NLM_F_CREATE = 0x400
CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, CTA_STATUS, CTA_PROTOINFO, CTA_TIMEOUT, CTA_MARK, CTA_USE, CTA_ID = \
    1, 2, 3, 4, 7, 8, 11, 12
IPS_SEEN_REPLY, IPS_ASSURED = 0x2, 0x4
TCP_STATES = ("NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT",
              "CLOSE", "SYN_SENT2")
PROTOCOLS = {6: "tcp", 17: "udp", 1: "icmp", 132: "sctp"}
TRACE_TYPES = {1: "policy", 2: "return", 3: "rule"}
# enum nft_rule_attributes
RULE_TABLE, RULE_CHAIN, RULE_HANDLE = 1, 2, 3
# verdict codes (NF_* and NFT_*, as signed 32-bit)
VERDICTS = {0: "drop", 1: "accept", 2: "stolen", 3: "queue", 4: "repeat", -1: "continue", -2: "break",
            -3: "jump", -4: "goto", -5: "return"}
ICMP_TYPES = {0: "echo-reply", 3: "destination-unreachable", 8: "echo-request", 11: "time-exceeded"}
# in the order kplab writes them: SYN,ACK  RST,ACK  FIN,ACK
TCP_FLAGS = ((0x02, "SYN"), (0x01, "FIN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"), (0x20, "URG"))


class Event(NamedTuple):
    """One nftrace event: where (namespace id, table, chain, rule handle or the end of the chain), what the
    rule decided, and the packet as it was at that moment (addresses, ports, flags, interfaces, mark). A NamedTuple
    (immutable, and made several times faster than a frozen dataclass: a busy connection brings ~80 events)."""

    nsid: int
    table: str
    chain: str
    type: str  # "rule", "return" (fell off a user chain's end) or "policy" (a base chain's policy)
    handle: int | None
    verdict: str  # accept, drop, continue, jump, goto, return
    target: str | None  # the chain of a jump/goto
    src: str | None = None
    dst: str | None = None
    protocol: str | None = None
    sport: int | None = None
    dport: int | None = None
    tcp_flags: str = ""
    iif: int | None = None
    oif: int | None = None
    mark: int = 0
    trace_id: int = 0
    icmp_type: str | None = None
    icmp_code: int | None = None
    embedded: dict | None = None  # the header an ICMP error quotes (src, dst, protocol, sport, dport)
    ct_state: str | None = None  # NEW, ESTABLISHED, RELATED, INVALID, UNTRACKED; None before conntrack or untracked
    ct_reply: bool = False  # the packet goes in the connection's reply direction
    ct_id: int | None = None


@dataclass(frozen=True)
class Tuple:
    """One direction of a conntrack entry, as `conntrack -L` prints it: src=A dst=B sport=P dport=Q (ICMP: type,
    code, id)."""

    src: str
    dst: str
    protocol: str
    sport: int | None = None
    dport: int | None = None
    icmp: tuple[int, int, int] | None = None  # (type, code, id)

    def __str__(self) -> str:
        text = f"src={self.src} dst={self.dst}"
        if self.icmp is not None:
            return text + " type=%d code=%d id=%d" % self.icmp
        if self.sport is not None:
            text += f" sport={self.sport} dport={self.dport}"
        return text


@dataclass(frozen=True)
class Conntrack:
    """One ctnetlink event: a connection entered (`new`) or changed in a namespace's conntrack table, with its
    tuples, TCP state, status bits, timeout (seconds) and mark — what `conntrack -E` reports."""

    nsid: int
    new: bool
    original: Tuple
    reply: Tuple
    protocol: str
    state: str | None  # the TCP state (SYN_SENT ...); None for other protocols
    status: int
    timeout: int | None
    mark: int = 0
    use: int | None = None
    id: int | None = None

    @property
    def entry(self) -> str:
        """The entry as `conntrack -L` prints it (`use=` only when the event carried it)."""
        number = {"tcp": 6, "udp": 17, "icmp": 1, "sctp": 132}.get(self.protocol, 0)
        words = [f"{self.protocol:<8} {number}"]
        if self.timeout is not None:
            words.append(str(self.timeout))
        if self.state:
            words.append(self.state)
        words.append(str(self.original))
        if not self.status & IPS_SEEN_REPLY:
            words.append("[UNREPLIED]")
        words.append(str(self.reply))
        if self.status & IPS_ASSURED:
            words.append("[ASSURED]")
        words.append(f"mark={self.mark}")
        if self.use is not None:
            words.append(f"use={self.use}")
        return " ".join(words)


def attributes(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """A netlink message's attributes from `offset` on (struct nlattr: u16 length, u16 type, the value, padded to
    4 bytes, NLA_ALIGNTO), keyed by type without the NLA_F_NESTED/NLA_F_NET_BYTEORDER flags (NLA_TYPE_MASK).
    Shared by the nftrace/ctnetlink reader here and rtnetlink's route answers (kplab.lab.fib)."""
    out: dict[int, bytes] = {}
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[offset + 4: offset + length]
        offset += (length + 3) & ~3
    return out


def _string(value: bytes) -> str:
    return value.partition(b"\0")[0].decode(errors="replace")


def _packet_fields(network: bytes | None, transport: bytes | None) -> dict:
    fields: dict = {}
    if network and len(network) >= 20 and network[0] >> 4 == 4:
        proto = network[9]
        fields["src"] = socket.inet_ntoa(network[12:16])  # as ipaddress prints it, ten times faster
        fields["dst"] = socket.inet_ntoa(network[16:20])
        fields["protocol"] = {6: "tcp", 17: "udp", 1: "icmp", 132: "sctp"}.get(proto, str(proto))
        if transport and len(transport) >= 4 and proto in (6, 17, 132):
            fields["sport"], fields["dport"] = struct.unpack_from("!HH", transport, 0)
            if proto == 6 and len(transport) >= 14:
                flags = transport[13]
                fields["tcp_flags"] = ",".join(name for bit, name in TCP_FLAGS if flags & bit)
        if transport and len(transport) >= 4 and proto == 1:
            fields["icmp_type"] = ICMP_TYPES.get(transport[0], str(transport[0]))
            fields["icmp_code"] = transport[1]
            if transport[0] in (3, 11) and len(transport) >= 28:  # an error quotes the packet it is about
                fields["embedded"] = _packet_fields(transport[8:28], transport[28:])
    return fields


def parse_trace(payload: bytes, nsid: int) -> Event | None:
    """An Event from one NFT_MSG_TRACE message body (after the nfgenmsg header), or None if not IPv4."""
    a = attributes(payload)
    if TRACE_TABLE not in a or TRACE_CHAIN not in a:
        return None
    verdict, target = "continue", None
    if TRACE_VERDICT in a:
        v = attributes(a[TRACE_VERDICT])
        if 1 in v:
            verdict = VERDICTS.get(struct.unpack("!i", v[1][:4])[0], "unknown")
        if 2 in v:
            target = _string(v[2])
    if TRACE_POLICY in a:
        verdict = VERDICTS.get(struct.unpack("!i", a[TRACE_POLICY][:4])[0], "unknown")
    handle = struct.unpack("!Q", a[TRACE_RULE_HANDLE][:8])[0] if TRACE_RULE_HANDLE in a else None
    kind = TRACE_TYPES.get(struct.unpack("!I", a[TRACE_TYPE][:4])[0], "unknown") if TRACE_TYPE in a else "unknown"
    u32 = lambda key: struct.unpack("!I", a[key][:4])[0] if key in a else None  # noqa: E731
    ct_state = u32(TRACE_CT_STATE)
    return Event(nsid=nsid, table=_string(a[TRACE_TABLE]), chain=_string(a[TRACE_CHAIN]), type=kind, handle=handle,
                 verdict=verdict, target=target, iif=u32(TRACE_IIF), oif=u32(TRACE_OIF), mark=u32(TRACE_MARK) or 0,
                 trace_id=u32(TRACE_ID) or 0,
                 ct_state=CT_STATES.get(ct_state, str(ct_state)) if ct_state is not None else None,
                 ct_reply=a.get(TRACE_CT_DIRECTION, b"\0")[:1] == b"\1", ct_id=u32(TRACE_CT_ID),
                 **_packet_fields(a.get(TRACE_NETWORK_HEADER), a.get(TRACE_TRANSPORT_HEADER)))


def _tuple(data: bytes) -> Tuple:
    a = attributes(data)
    ip, proto = attributes(a.get(1, b"")), attributes(a.get(2, b""))  # CTA_TUPLE_IP, CTA_TUPLE_PROTO
    number = proto[1][0] if 1 in proto else 0
    port = lambda key: struct.unpack("!H", proto[key][:2])[0] if key in proto else None  # noqa: E731
    icmp = (proto[5][0], proto[6][0], port(4)) if 5 in proto and 6 in proto else None
    return Tuple(socket.inet_ntoa(ip[1][:4]) if 1 in ip else "?", socket.inet_ntoa(ip[2][:4]) if 2 in ip else "?",
                 PROTOCOLS.get(number, str(number)), port(2), port(3), icmp)


def parse_conntrack(payload: bytes, nsid: int, new: bool) -> Conntrack | None:
    """A Conntrack from one ctnetlink event body (after the nfgenmsg header), or None if not IPv4."""
    a = attributes(payload)
    if CTA_TUPLE_ORIG not in a or CTA_TUPLE_REPLY not in a:
        return None
    original, reply = _tuple(a[CTA_TUPLE_ORIG]), _tuple(a[CTA_TUPLE_REPLY])
    state = None
    if CTA_PROTOINFO in a:
        tcp = attributes(attributes(a[CTA_PROTOINFO]).get(1, b""))  # CTA_PROTOINFO_TCP -> CTA_PROTOINFO_TCP_STATE
        if 1 in tcp and tcp[1][0] < len(TCP_STATES):
            state = TCP_STATES[tcp[1][0]]
    u32 = lambda key: struct.unpack("!I", a[key][:4])[0] if key in a else None  # noqa: E731
    return Conntrack(nsid, new, original, reply, original.protocol, state, u32(CTA_STATUS) or 0, u32(CTA_TIMEOUT),
                     u32(CTA_MARK) or 0, u32(CTA_USE), u32(CTA_ID))


def _messages(data: bytes, with_flags: bool = False):
    offset = 0
    while offset + 16 <= len(data):
        length, kind, flags, seq, pid = struct.unpack_from("=IHHII", data, offset)
        if length < 16:
            break
        yield (kind, flags, data[offset + 16: offset + length]) if with_flags else (kind, data[offset + 16: offset + length])
        offset += (length + 3) & ~3


class Listener:
    """A netlink socket subscribed to nftrace events of every namespace that has an id where it was made and,
    with `conntrack=True`, to their ctnetlink NEW and UPDATE events (a namespace sends those only with
    net.netfilter.nf_conntrack_events=1 when nobody listens inside it).

    Make it inside the namespace that holds the ids (the caller switches there); `drain()` returns every
    event queued so far (Event and Conntrack), in the kernel's order, without blocking: a conntrack event sent at
    a hook comes after the trace events of the chains before it."""

    def __init__(self, conntrack: bool = False):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE: room for bursts of events
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((0, 0))
        self.sock.setsockopt(SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, 1)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTRACE)
        if conntrack:
            for group in (NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_UPDATE):
                self.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)
        self.sock.setblocking(False)
        self.lost = False

    def drain(self) -> list[Event | Conntrack]:
        events: list[Event | Conntrack] = []
        while True:
            try:
                data, ancillary, _flags, _addr = self.sock.recvmsg(1 << 16, socket.CMSG_SPACE(4))
            except BlockingIOError:
                return events
            except OSError as e:
                if e.errno == 105:  # ENOBUFS: the kernel dropped events; the caller must not trust this trace
                    self.lost = True
                    continue
                raise
            nsid = -1
            for level, kind, value in ancillary:
                if level == SOL_NETLINK and kind == NETLINK_LISTEN_ALL_NSID and len(value) >= 4:
                    nsid = struct.unpack("=i", value[:4])[0]
            for msg_type, flags, body in _messages(data, with_flags=True):
                if len(body) < 4 or body[0] != NFPROTO_IPV4:
                    continue
                if msg_type == (NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_TRACE):
                    event = parse_trace(body[4:], nsid)
                elif msg_type == (NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW):
                    event = parse_conntrack(body[4:], nsid, bool(flags & NLM_F_CREATE))
                else:
                    continue
                if event is not None:
                    events.append(event)

    def close(self) -> None:
        self.sock.close()


def rule_positions() -> dict[tuple[str, int], tuple[str, str, int]]:
    """(table, handle) -> (table, chain, number in chain) for every IPv4 nf_tables rule of the calling thread's
    namespace (an NFT_MSG_GETRULE dump; rules come in chain order; handles are unique within a table only)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    try:
        sock.bind((0, 0))
        header = struct.pack("=IHHII", 16 + 4, NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETRULE,
                             NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
        sock.send(header + struct.pack("=BBH", NFPROTO_IPV4, 0, 0))
        positions: dict[tuple[str, int], tuple[str, str, int]] = {}
        counts: dict[tuple[str, str], int] = {}
        while True:
            data = sock.recv(1 << 20)
            for msg_type, body in _messages(data):
                if msg_type == NLMSG_DONE:
                    return positions
                if msg_type == NLMSG_ERROR:
                    code = struct.unpack_from("=i", body, 0)[0]
                    if code:
                        raise OSError(-code, os.strerror(-code))
                    continue
                a = attributes(body[4:])
                if RULE_HANDLE not in a:
                    continue
                table, chain = _string(a[RULE_TABLE]), _string(a[RULE_CHAIN])
                counts[(table, chain)] = counts.get((table, chain), 0) + 1
                handle = struct.unpack("!Q", a[RULE_HANDLE][:8])[0]
                positions[(table, handle)] = (table, chain, counts[(table, chain)])
    finally:
        sock.close()
