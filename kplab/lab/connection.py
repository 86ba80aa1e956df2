"""One real connection opened from a lab namespace, and what the kernel made of it.

The client socket is made inside the source namespace (`namespace.inside`) and carries TOS `TRACE_TOS`, which
the lab's raw-table TRACE rules match: only the lab's own test packets are traced, never the servers'
answers. The outcome is what the application sees: the server's line (who answered, which peer address it
saw), a refusal (TCP reset or ICMP port unreachable: ECONNREFUSED), an ICMP unreachable error (EHOSTUNREACH,
ENETUNREACH) or nothing before the timeout.
"""
from __future__ import annotations

import errno
import os
import select
import socket
import time
from dataclasses import dataclass

from kplab.lab.namespace import inside

TRACE_TOS = 0x20  # DSCP 8 (CS1): set on lab clients' packets so the TRACE rules pick only them
TIMEOUT = 1.5  # seconds without an answer or a traced drop: a namespace round trip takes ~0.1 ms, but a loaded
# 2-core machine can leave the server thread unscheduled for a while (a drop shows in the trace at once)
POLL_MS = 2
KINDS = ("reached", "refused", "unreachable", "blocked", "timeout")


@dataclass(frozen=True)
class Observation:
    """What one real connection did: kind (one of KINDS), who answered and the peer address it reported,
    the errno name of a failure, the client's own address and the time it took (seconds)."""

    kind: str
    server: str | None = None  # the host (pod key, node name) whose server answered
    source_seen: str | None = None  # "ip:port" the server saw as its peer
    error: str | None = None  # "ECONNREFUSED", "EHOSTUNREACH", ...
    local: str | None = None  # the client's "ip:port"
    elapsed: float = 0.0

    def __str__(self) -> str:
        if self.kind == "reached":
            return f"reached {self.server}, source seen {self.source_seen}"
        return f"{self.kind}" + (f" ({self.error})" if self.error else "")


def connect(namespace: str, dst: str, port: int, protocol: str = "tcp", timeout: float = TIMEOUT,
            dropped=None, sport: int | None = None) -> Observation:
    """Open one connection (TCP) or send one datagram (UDP) from `namespace` to dst:port and wait for the line.

    `sport` is the client's source port (None: the kernel's ephemeral choice). `dropped`, when given, is polled
    while waiting: once it returns "drop" (the kernel's trace showed the packet dropped by a DROP rule or policy,
    which sends nothing back) the connection is given up as timed out at once instead of waiting the whole
    timeout; "reject" (a REJECT, whose error is on its way) keeps waiting."""
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    with inside(namespace):
        sock = socket.socket(socket.AF_INET, kind)
    start = time.perf_counter()
    local = None
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, TRACE_TOS)
        if sport is not None:  # a port no earlier try used: a new connection, never an old conntrack entry
            sock.bind(("0.0.0.0", sport))
        sock.setblocking(False)
        code = sock.connect_ex((dst, port))
        if code not in (0, errno.EINPROGRESS):
            raise OSError(code, os.strerror(code))
        local = "%s:%d" % sock.getsockname()
        if protocol != "tcp":
            sock.send(b"?")
        data = b""
        poller = select.poll()
        poller.register(sock, select.POLLIN | (select.POLLOUT if protocol == "tcp" else 0))
        connected = protocol != "tcp"
        while True:
            now = time.perf_counter()
            if now - start > timeout:
                return Observation("timeout", local=local, elapsed=now - start)
            if poller.poll(POLL_MS):
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, os.strerror(err))
                if not connected:
                    connected = True
                    poller.modify(sock, select.POLLIN)
                    continue
                try:
                    chunk = sock.recv(2048)
                except BlockingIOError:
                    continue
                data += chunk
                if not chunk or data.endswith(b"\n") or protocol != "tcp":
                    break
            elif dropped is not None and dropped() == "drop":
                return Observation("timeout", local=local, elapsed=time.perf_counter() - start)
        host, _, seen = data.decode().strip().partition(" ")
        if not host:
            return Observation("refused", error="EOF", local=local, elapsed=time.perf_counter() - start)
        return Observation("reached", host, seen, local=local, elapsed=time.perf_counter() - start)
    except OSError as e:
        name = errno.errorcode.get(e.errno, str(e.errno))
        kind_ = "refused" if e.errno in (errno.ECONNREFUSED, errno.ECONNRESET) else \
            "blocked" if e.errno == errno.EPERM else "unreachable"
        return Observation(kind_, error=name, local=local, elapsed=time.perf_counter() - start)
    finally:
        sock.close()
