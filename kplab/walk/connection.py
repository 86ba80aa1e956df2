"""Connection: several packets of one conversation walked through the same stacks.

Conntrack remembers the first packet, so later ones show ESTABLISHED, the answers are
de-NATed on the way back, and a packet conntrack cannot place is INVALID (kube-proxy's
KUBE-FORWARD drops it).
"""
from __future__ import annotations

from kplab.walk.walker import CLIENT_PORT, Network, _as_trace, _packet, error_trace, reply_packet
from kplab.walk.trace import Trace


class Connection:
    def __init__(self, network: Network, src: str, dst: str, port: int | None = None,
                 protocol: str = "tcp", seed: int = 0):
        from kplab.netfilter import SeededChooser
        from kplab.walk.address import resolve_destination, resolve_source

        self.network = network
        self.session = network.session()
        self.chooser = SeededChooser(seed)
        self.protocol = protocol.lower()
        self.src, self.dst = src, dst
        self.source = resolve_source(network.cluster, network.topology, src)
        self.target = resolve_destination(network.cluster, network.topology, dst, port, self.protocol,
                                          self.source.namespace)
        if network.topology.is_outside(self.target.ip):
            network.topology.outside_host(self.target.ip)
        self.client_ip = self.session.source_address(self.source.host, self.target.ip)
        self.server_host: str | None = None
        self.server_view = None  # the packet as the server last saw it
        self.traces: list[Trace] = []

    def send(self, flags: str | None = "SYN") -> Trace:
        """Client -> server (the destination as the client names it)."""
        pkt = _packet(self.client_ip, self.target.ip, self.protocol, CLIENT_PORT, self.target.port, flags)
        walked = self.session.walk(pkt, self.source.host, self.chooser)
        if walked.verdict == "ACCEPT":
            self.server_host, self.server_view = walked.host, walked.packet
        error = error_trace(self.session, walked, self.src, self.chooser)
        # a REJECT's error walked back to the client is the trace's reply
        trace = _as_trace(walked, pkt, self.src, self.dst, self.target.dns if not self.traces else (), error)
        self.traces.append(trace)
        return trace

    def answer(self, flags: str | None = None) -> Trace:
        """Server -> client: the server answers the addresses it saw."""
        if self.server_host is None:
            raise ValueError("nothing has reached the server yet, so it cannot answer")
        pkt = reply_packet(self.server_view, flags)
        walked = self.session.walk(pkt, self.server_host, self.chooser)
        trace = _as_trace(walked, pkt, self.server_host, self.src)
        self.traces.append(trace)
        return trace

    def stray(self, flags: str = "SYN,ACK") -> Trace:
        """A packet from the server that conntrack cannot place (e.g. sent after its entry was lost).

        Conntrack calls it INVALID; without a matching entry it would not be de-NATed and
        would reach the client with the pod's own address, so kube-proxy's KUBE-FORWARD drops it.
        """
        if self.server_host is None:
            raise ValueError("nothing has reached the server yet")
        seen = self.server_view
        pkt = _packet(seen.dst, seen.src, self.protocol, seen.dport, (seen.sport or 0) + 1, flags)
        walked = self.session.walk(pkt, self.server_host, self.chooser)
        trace = _as_trace(walked, pkt, self.server_host, self.src)
        self.traces.append(trace)
        return trace

    def conntrack(self, host: str) -> str:
        """That host's conntrack table, like `conntrack -L`: empty where no rule needs conntrack (a pod's namespace,
        the router's; Stack.tracks), since the kernel keeps no table there. kplab still follows the connection on
        such a host, as its sockets do, but that bookkeeping is not conntrack's."""
        from kplab.netfilter.conntrack import Conntrack
        stack = self.session.stack(host)
        return str(stack.conntrack if stack.tracks else Conntrack())

    def handshake(self) -> list[Trace]:
        """SYN, SYN-ACK, ACK, data, FIN — the usual life of a TCP connection."""
        out = [self.send("SYN")]
        if out[-1].verdict != "ACCEPT":
            return out
        out.append(self.answer("SYN,ACK"))
        out.append(self.send("ACK"))
        out.append(self.send("PSH,ACK"))
        out.append(self.answer("ACK"))
        out.append(self.send("FIN,ACK"))
        out.append(self.answer("FIN,ACK"))
        out.append(self.send("ACK"))
        return out
