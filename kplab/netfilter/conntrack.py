"""Connection tracking, like the kernel's nf_conntrack.

A connection has an original tuple (as its first packet looked before any NAT) and a reply tuple (what a reply
must look like, after NAT decided). NAT is decided once, on the first packet, by the nat chains; every later
packet of the connection, in either direction, is rewritten from these two tuples without visiting the nat
chains. A connection is added to the table ("confirmed") only when its first packet leaves the last hook
accepted; a dropped first packet leaves nothing behind.

Modelled: states NEW / ESTABLISHED / RELATED / INVALID / UNTRACKED, the DNAT/SNAT status bits, [UNREPLIED] /
[ASSURED], a simplified TCP state machine (SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK,
TIME_WAIT, CLOSE) and the kernel's default timeouts. Not modelled: TCP window tracking (out-of-window packets are
the usual source of real INVALID packets), RELATED connections of helpers (FTP, SIP expectations), zones.

RELATED, for ICMP errors (the kernel's nf_conntrack_inet_error): an error quotes the header of the packet it is
about; conntrack inverts that quoted tuple and looks it up. Found, the error belongs to that connection, in the
direction opposite to the quoted packet, with ctstate RELATED — provided the error's outer destination is the
address that direction sends to (else the kernel treats it as fitting no connection: INVALID here). An error
about no known connection is INVALID. An error never changes the connection's state.

`nf_conntrack_tcp_loose` (kernel default 1) decides what a TCP packet without SYN that fits no connection
(a "stray ACK") is: with loose=1 the kernel picks the connection up mid-stream (ctstate NEW, TCP state
ESTABLISHED); with loose=0 it is INVALID. FIN, RST and SYN,ACK never start a connection: always INVALID.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

from kplab.netfilter.packet import Packet

TCP_TIMEOUTS = {"SYN_SENT": 120, "SYN_RECV": 60, "ESTABLISHED": 432000, "FIN_WAIT": 120, "CLOSE_WAIT": 60,
                "LAST_ACK": 30, "TIME_WAIT": 120, "CLOSE": 10}
UDP_TIMEOUT, UDP_STREAM_TIMEOUT, ICMP_TIMEOUT = 30, 120, 30
PROTO_NUMBERS = {"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "icmpv6": 58}
_ICMP_REPLY = {"echo-request": "echo-reply", "timestamp-request": "timestamp-reply"}


class Tuple(NamedTuple):
    """A connection's tuple in one direction (the kernel's nf_conntrack_tuple): protocol, addresses, ports (None
    for ICMP). A NamedTuple: it is made and hashed on every conntrack lookup, and a frozen dataclass costs
    several times more for both."""

    protocol: str
    src: str
    dst: str
    sport: int | None = None
    dport: int | None = None

    @classmethod
    def of(cls, packet: Packet) -> "Tuple":
        if packet.has_ports:
            return cls(packet.protocol, packet.src, packet.dst, packet.sport, packet.dport)
        return cls(packet.protocol, packet.src, packet.dst)

    def inverted(self) -> "Tuple":
        return Tuple(self.protocol, self.dst, self.src, self.dport, self.sport)

    def text(self) -> str:
        text = f"src={self.src} dst={self.dst}"
        if self.sport is not None:
            text += f" sport={self.sport} dport={self.dport}"
        return text


@dataclass
class ConntrackEntry:
    """One entry of the conntrack table (the kernel's struct nf_conn): the original and reply tuples, TCP state,
    timeout and status bits, as `conntrack -L` lists it."""

    original: Tuple
    reply: Tuple
    tcp_state: str | None = None
    seen_reply: bool = False
    assured: bool = False
    confirmed: bool = False
    mark: int = 0
    src_nat: bool = False  # IPS_SRC_NAT: the source was translated (ctstate SNAT)
    dst_nat: bool = False  # IPS_DST_NAT: the destination was translated (ctstate DNAT)
    nat_done_src: bool = False  # the kernel's "NAT initialised" per manip type: nat chains run only once
    nat_done_dst: bool = False
    expires: float = 0.0
    notes: list[str] = field(default_factory=list)

    def statuses(self) -> set[str]:
        out = {"CONFIRMED"} if self.confirmed else set()
        if self.seen_reply:
            out.add("SEEN_REPLY")
        if self.assured:
            out.add("ASSURED")
        return out or {"NONE"}

    def timeout(self) -> int:
        if self.original.protocol == "tcp":
            return TCP_TIMEOUTS[self.tcp_state or "ESTABLISHED"]
        if self.original.protocol == "udp":
            return UDP_STREAM_TIMEOUT if self.seen_reply else UDP_TIMEOUT
        return ICMP_TIMEOUT

    def text(self, now: float = 0.0) -> str:
        """One line of `conntrack -L`."""
        proto = self.original.protocol
        left = max(0, int(self.expires - now))
        state = f" {self.tcp_state}" if self.tcp_state else ""
        unreplied = "" if self.seen_reply else " [UNREPLIED]"
        assured = " [ASSURED]" if self.assured else ""
        return (f"{proto:<8} {PROTO_NUMBERS.get(proto, 0)} {left}{state} {self.original.text()}{unreplied} "
                f"{self.reply.text()}{assured} mark={self.mark} use=1")

    def __str__(self) -> str:
        return self.text()


class Conntrack:
    """The connection table of one host."""

    def __init__(self, tcp_loose: bool = True):
        self.tcp_loose = tcp_loose
        self._by_tuple: dict[Tuple, tuple[ConntrackEntry, bool]] = {}  # tuple -> (connection, is reply direction)
        self.connections: list[ConntrackEntry] = []
        self.now = 0.0

    def copy(self) -> "Conntrack":
        """An independent table. Entries are mutable (TCP state, marks, NAT bits), so each is copied once and both
        indexes point at the copies; tuples are frozen and shared. (copy.deepcopy did the same, ten times slower:
        every walk copies the table of each host it touches.)"""
        other = Conntrack(self.tcp_loose)
        other.now = self.now
        copies: dict[int, ConntrackEntry] = {}

        def dup(conn: ConntrackEntry) -> ConntrackEntry:
            twin = copies.get(id(conn))
            if twin is None:
                twin = copies[id(conn)] = dataclasses.replace(conn, notes=list(conn.notes))
            return twin
        other.connections = [dup(c) for c in self.connections]
        other._by_tuple = {t: (dup(c), reply) for t, (c, reply) in self._by_tuple.items()}
        return other

    def expire(self, now: float) -> None:
        self.now = now
        for conn in [c for c in self.connections if c.expires <= now]:
            self.remove(conn)

    def remove(self, conn: ConntrackEntry) -> None:
        self.connections.remove(conn)
        for t in (conn.original, conn.reply):
            if self._by_tuple.get(t, (None,))[0] is conn:
                del self._by_tuple[t]

    def lookup(self, packet: Packet) -> tuple[ConntrackEntry, bool] | None:
        return self._by_tuple.get(_lookup_tuple(packet))

    def tuple_taken(self, t: Tuple, by: ConntrackEntry | None = None) -> bool:
        found = self._by_tuple.get(t)
        return found is not None and found[0] is not by

    def confirm(self, conn: ConntrackEntry, now: float) -> None:
        if conn.confirmed:
            return
        conn.confirmed = True
        conn.expires = now + conn.timeout()
        self.connections.append(conn)
        self._by_tuple[conn.original] = (conn, False)
        self._by_tuple[conn.reply] = (conn, True)

    def track(self, packet: Packet, now: float) -> tuple[ConntrackEntry | None, bool, str, str]:
        """Conntrack's view of a packet: (connection, reply direction?, ctstate, note).

        A packet that can start a connection gets a new, unconfirmed ConntrackEntry."""
        self.expire(now)
        if packet.is_icmp_error:
            return self.related(packet)
        found = self.lookup(packet)
        flags = packet.flags
        if found is not None:
            conn, reply = found
            if packet.protocol == "tcp" and not reply and "SYN" in flags and "ACK" not in flags \
                    and conn.tcp_state in ("TIME_WAIT", "CLOSE"):
                self.remove(conn)  # a new SYN reopens a closed connection
                return self._new(packet, now)
            note = _advance(conn, packet, reply)
            if reply:
                conn.seen_reply = True
            conn.expires = now + conn.timeout()
            if conn.confirmed is False:
                state = "NEW"
            elif reply or conn.seen_reply:
                state = "ESTABLISHED"
            else:
                state = "NEW"
            return conn, reply, state, note
        return self._new(packet, now)

    def related(self, packet: Packet) -> tuple[ConntrackEntry | None, bool, str, str]:
        """An ICMP error: (the connection it is about, error travels in reply direction?, RELATED or INVALID, note)."""
        inner = packet.embedded
        if inner is None:
            return None, False, "INVALID", f"icmp {packet.icmp_type} quotes no packet"
        found = self._by_tuple.get(Tuple.of(inner).inverted())
        if found is None:
            return None, False, "INVALID", f"icmp {packet.icmp_type} about {inner}: no such connection"
        conn, reply = found
        expected = (conn.reply if reply else conn.original).dst
        if packet.dst != expected:
            return None, False, "INVALID", (f"icmp {packet.icmp_type} about a tracked connection, but sent to "
                                            f"{packet.dst} instead of {expected}")
        direction = "reply" if reply else "original"
        return conn, reply, "RELATED", f"icmp {packet.icmp_type} about a tracked connection ({direction} direction)"

    def _new(self, packet: Packet, now: float) -> tuple[ConntrackEntry | None, bool, str, str]:
        flags = packet.flags
        tcp_state = None
        if packet.protocol == "tcp":
            if "RST" in flags or "FIN" in flags or ("SYN" in flags and "ACK" in flags):
                return None, False, "INVALID", f"[{packet.tcp_flags}] fits no connection and cannot start one"
            if "SYN" in flags:
                tcp_state = "SYN_SENT"
            elif self.tcp_loose:
                tcp_state = "ESTABLISHED"
            else:
                return None, False, "INVALID", (f"[{packet.tcp_flags}] fits no connection and "
                                                "nf_conntrack_tcp_loose=0 refuses to pick one up")
        if packet.protocol.startswith("icmp") and packet.icmp_type not in _ICMP_REPLY:
            return None, False, "INVALID", f"icmp {packet.icmp_type} fits no connection"
        original = _lookup_tuple(packet)
        reply = original.inverted()
        conn = ConntrackEntry(original, reply, tcp_state=tcp_state, expires=now)
        note = "new connection"
        if tcp_state == "ESTABLISHED":
            note = "no SYN: picked up mid-stream (nf_conntrack_tcp_loose=1)"
        return conn, False, "NEW", note

    def __str__(self) -> str:
        lines = [c.text(self.now) for c in self.connections]
        lines.append(f"conntrack v1.4 (conntrack-tools): {len(self.connections)} flow entries have been shown.")
        return "\n".join(lines)

    def __len__(self) -> int:
        return len(self.connections)

    def __iter__(self):
        return iter(self.connections)


def _lookup_tuple(packet: Packet) -> Tuple:
    """The tuple a packet is looked up by: its own, in every case (an ICMP echo reply is found through its
    connection's reply tuple, like any answer)."""
    return Tuple.of(packet)


def _advance(conn: ConntrackEntry, packet: Packet, reply: bool) -> str:
    """The TCP state machine, simplified to the transitions a teaching trace shows."""
    if packet.protocol != "tcp":
        if packet.protocol == "udp" and not reply and conn.seen_reply:
            conn.assured = True
        return "reply direction" if reply else "original direction"
    flags, state = packet.flags, conn.tcp_state
    new = state
    if "RST" in flags:
        new = "CLOSE"
    elif "SYN" in flags and "ACK" in flags and reply and state in ("SYN_SENT", "SYN_RECV"):
        new = "SYN_RECV"
    elif "FIN" in flags:
        if state in ("SYN_RECV", "ESTABLISHED"):
            new = "FIN_WAIT"
        elif state in ("FIN_WAIT", "CLOSE_WAIT"):
            new = "LAST_ACK"
    elif "ACK" in flags:
        if state == "SYN_RECV" and not reply:
            new = "ESTABLISHED"
            conn.assured = True
        elif state == "FIN_WAIT":
            new = "CLOSE_WAIT"
        elif state == "LAST_ACK":
            new = "TIME_WAIT"
    conn.tcp_state = new
    direction = "reply direction" if reply else "original direction"
    return f"{direction}, TCP {state} -> {new}" if new != state else f"{direction}, TCP {state}"
