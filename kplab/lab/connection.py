"""One real connection opened from a lab namespace, and what the kernel made of it.

The client socket is made inside the source namespace (`namespace.inside`) and carries TOS `TRACE_TOS`, which
the lab's raw-table TRACE rules match: only the lab's own test packets are traced, never the servers'
answers. The outcome is what the application sees: the server's line (who answered, which peer address it
saw), a refusal (TCP reset or ICMP port unreachable: ECONNREFUSED), an ICMP unreachable error (EHOSTUNREACH,
ENETUNREACH) or nothing before the timeout.
"""
from __future__ import annotations

import errno
import socket
import time
from dataclasses import dataclass

from kplab.lab.namespace import inside

TRACE_TOS = 0x20  # DSCP 8 (CS1): set on lab clients' packets so the TRACE rules pick only them
TIMEOUT = 0.5  # seconds: far above a namespace round trip (~0.1 ms), below TCP's first SYN retransmit (1 s)
KINDS = ("reached", "refused", "unreachable", "timeout")


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


def connect(namespace: str, dst: str, port: int, protocol: str = "tcp", timeout: float = TIMEOUT) -> Observation:
    """Open one connection (TCP) or send one datagram (UDP) from `namespace` to dst:port and wait for the line."""
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    with inside(namespace):
        sock = socket.socket(socket.AF_INET, kind)
    start = time.perf_counter()
    local = None
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, TRACE_TOS)
        sock.settimeout(timeout)
        if protocol == "tcp":
            sock.connect((dst, port))
            local = "%s:%d" % sock.getsockname()
            data = _read_line(sock)
        else:
            sock.connect((dst, port))
            local = "%s:%d" % sock.getsockname()
            sock.send(b"?")
            data = sock.recv(2048).decode()
        host, _, seen = data.strip().partition(" ")
        if not host:
            return Observation("refused", error="EOF", local=local, elapsed=time.perf_counter() - start)
        return Observation("reached", host, seen, local=local, elapsed=time.perf_counter() - start)
    except socket.timeout:
        return Observation("timeout", local=local, elapsed=time.perf_counter() - start)
    except OSError as e:
        name = errno.errorcode.get(e.errno, str(e.errno))
        kind_ = "refused" if e.errno in (errno.ECONNREFUSED, errno.ECONNRESET) else "unreachable"
        return Observation(kind_, error=name, local=local, elapsed=time.perf_counter() - start)
    finally:
        sock.close()


def _read_line(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(256)
        if not chunk:
            break
        data += chunk
    return data.decode()
