"""Servers: tiny listeners in the lab's namespaces that tell each client the peer address they saw.

A TCP server accepts, writes one line ``<host> <peer ip>:<peer port>`` and closes; a UDP server answers every
datagram with the same line. All listening sockets are served by one thread (epoll through `selectors`), and
every socket is made inside its namespace by switching that thread there and back (`namespace.inside`), so
no process is started and nothing needs killing: `stop()` closes every socket and joins the thread.
"""
from __future__ import annotations

import os
import selectors
import socket
import threading

from kplab.lab.connection import TRACE_TOS
from kplab.lab.namespace import LabError, inside


class Servers:
    """The lab's listening sockets, keyed by (host, protocol, port)."""

    def __init__(self):
        self.selector = selectors.DefaultSelector()
        self.listening: dict[tuple[str, str, int], socket.socket] = {}
        self._wake_r, self._wake_w = os.pipe()
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread: threading.Thread | None = None
        self._stopping = False

    def listen(self, namespace: str, host: str, port: int, protocol: str = "tcp") -> None:
        """Listen on 0.0.0.0:port (as nginx does) inside `namespace`, answering as `host`."""
        key = (host, protocol, port)
        if key in self.listening:
            return
        kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
        with inside(namespace):
            sock = socket.socket(socket.AF_INET, kind)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # answers carry the lab's TOS, so the raw TRACE rules trace them too (a SYN-ACK takes the listener's)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, TRACE_TOS)
            sock.bind(("0.0.0.0", port))
            if protocol == "tcp":
                sock.listen(128)
            sock.setblocking(False)
        except OSError as e:
            sock.close()
            raise LabError(f"{host}: cannot listen on {protocol} port {port}: {e.strerror}") from None
        self.listening[key] = sock
        self.selector.register(sock, selectors.EVENT_READ, (host, protocol))

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="kplab-lab-servers", daemon=True)
            self._thread.start()

    def _serve(self) -> None:
        while not self._stopping:
            for key, _ in self.selector.select():
                if key.data is None:
                    return
                host, protocol = key.data
                sock = key.fileobj
                try:
                    if protocol == "tcp":
                        conn, peer = sock.accept()
                        with conn:
                            conn.setblocking(True)
                            conn.settimeout(1.0)
                            conn.sendall(f"{host} {peer[0]}:{peer[1]}\n".encode())
                    else:
                        _, peer = sock.recvfrom(2048)
                        sock.sendto(f"{host} {peer[0]}:{peer[1]}\n".encode(), peer)
                except OSError:
                    continue  # a client that gave up, or an ICMP error queued on the UDP socket

    def stop(self) -> None:
        """Close every socket and join the serving thread (safe to call twice)."""
        self._stopping = True
        if self._wake_w is not None:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for sock in self.listening.values():
            try:
                self.selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()
        self.listening.clear()
        if self._wake_w is not None:
            self.selector.close()
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_w = None
