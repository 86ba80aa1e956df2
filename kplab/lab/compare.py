"""Compare: the simulator's enumerated outcomes against what real connections did in the lab.

Both sides are stated as a `Result`: what the client application experiences — reached (which host answered
and which source address it saw), refused (ECONNREFUSED: a TCP reset or ICMP port unreachable), unreachable
(an ICMP error the socket reports: EHOSTUNREACH, ENETUNREACH), blocked (the sender's own rules dropped a
datagram on its way out: send() fails with EPERM) or timeout (nothing came back, or only an error
the socket ignores). Source ports are left out: MASQUERADE --random-fully and the kernel's ephemeral ports
make them differ by design.

A connection agrees when every kernel result is one of the simulator's outcomes, every simulator outcome of
probability >= `COVERAGE` was seen by the kernel (tries are chosen so a miss is vanishingly unlikely) and, for
each try, the kernel's walk equals a simulator branch with the same result hop by hop (`path`): the hosts in
order with the interfaces in and out, the netfilter decisions, each routing decision (local or forwarded, out
interface, next hop), conntrack (the state given to the packet; the confirmed entry with its state, flags,
mark and both tuples) — for the first packet and for the answer walking back (`reply`).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

from kplab.walk.walker import blocked_on_the_way_out

COVERAGE = Fraction(3, 10)


@dataclass(frozen=True)
class Result:
    """One outcome as the client sees it: kind, the answering host, the source IP it saw, the errno name."""

    kind: str  # reached, refused, unreachable, blocked (EPERM from send()), timeout
    server: str | None = None
    source: str | None = None
    error: str | None = None

    def __str__(self) -> str:
        if self.kind == "reached":
            return f"reached {self.server} (saw {self.source})"
        return self.kind + (f" ({self.error})" if self.error else "")


# What each ICMP destination-unreachable code means to a socket (icmp_err_convert in net/ipv4/icmp.c): the
# errno and whether it is reported to a UDP or established TCP socket ("fatal"); a connecting TCP socket
# (SYN_SENT) reports every one of them (tcp_v4_err).
UNREACH = {0: ("ENETUNREACH", False), 1: ("EHOSTUNREACH", False), 2: ("ENOPROTOOPT", True),
           3: ("ECONNREFUSED", True), 9: ("ECONNREFUSED", True), 10: ("EHOSTUNREACH", True),
           13: ("EHOSTUNREACH", True)}


def simulated(trace) -> Result:
    """The Result of one simulator branch (a Trace; its error walk, `reply`, tells a refusal from silence)."""
    if trace.verdict == "ACCEPT" and trace.delivered_to:
        return Result("reached", trace.delivered_to, _ip(trace.source_seen))
    if blocked_on_the_way_out(trace, trace.packet.protocol):
        return Result("blocked", error="EPERM")
    error = trace.reply
    if error is None or error.verdict != "ACCEPT" or error.packet_delivered is None:
        return Result("timeout")
    packet = error.packet_delivered
    if packet.protocol == "tcp" and "RST" in (packet.tcp_flags or ""):
        return Result("refused", error="ECONNREFUSED")
    code = packet.icmp_code
    if code not in UNREACH:
        return Result("timeout")
    name, fatal = UNREACH[code]
    inner = packet.embedded
    connecting = inner is not None and inner.protocol == "tcp"
    if not (fatal or connecting):
        return Result("timeout")  # a soft error: the UDP socket does not hear of it
    return Result("refused" if name == "ECONNREFUSED" else "unreachable", error=name)


def observed(observation) -> Result:
    """The Result of one real connection (a kplab.lab.Observation)."""
    if observation.kind == "reached":
        return Result("reached", observation.server, _ip(observation.source_seen))
    if observation.kind == "refused":
        return Result("refused", error="ECONNREFUSED")
    if observation.kind == "blocked":
        return Result("blocked", error="EPERM")
    if observation.kind == "unreachable":
        return Result("unreachable", error=observation.error)
    return Result("timeout")


def _ip(address: str | None) -> str | None:
    return address.rsplit(":", 1)[0] if address else None


@dataclass
class Verdict:
    """How one connection compared: the simulator's outcomes with probabilities, what the kernel did (counts),
    and the disagreements found (empty when they agree)."""

    connection: str
    expected: dict[Result, Fraction] = field(default_factory=dict)
    seen: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    skipped: str = ""  # why this connection was not tried (a case the simulator does not model yet)
    checked: Counter = field(default_factory=Counter)  # what the kernel's walks held: walks, hops, routes, ...

    @property
    def agrees(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if self.skipped:
            return f"{self.connection}: skipped: {self.skipped}"
        lines = [f"{self.connection}: {'agrees' if self.agrees else 'DISAGREES'}"]
        for result, p in sorted(self.expected.items(), key=lambda kv: -kv[1]):
            lines.append(f"  simulator {float(p):6.1%}  kernel {self.seen.get(result, 0):>3}x  {result}")
        for result, n in self.seen.items():
            if result not in self.expected:
                lines.append(f"  simulator   never  kernel {n:>3}x  {result}")
        lines += [f"  ! {p}" for p in self.problems]
        return "\n".join(lines)


def judge(connection: str, branches, observations, kernel_paths=None) -> Verdict:
    """Compare the simulator's branches ((probability, Trace) pairs, kplab.walk.run_branches with reply=True) with
    the kernel's observations of the same connection and, when given, the kernel's walk of each try (`path` of its
    kernel Trace, in the same order as `observations`): each must equal the path of a simulator branch with the
    same outcome."""
    verdict = Verdict(connection)
    expected_chains: dict[Result, list] = {}
    for probability, trace in branches:
        r = simulated(trace)
        verdict.expected[r] = verdict.expected.get(r, Fraction(0)) + Fraction(probability)
        expected_chains.setdefault(r, []).append(path(trace))
    results = [observed(x) for x in observations]
    verdict.seen = Counter(results)
    for result, n in verdict.seen.items():
        if result not in verdict.expected:
            verdict.problems.append(f"the kernel gave {result} ({n} of {len(observations)}), which the simulator "
                                    "never gives")
    for result, p in verdict.expected.items():
        if p >= COVERAGE and not verdict.seen.get(result):
            verdict.problems.append(f"the simulator gives {result} with {float(p):.0%}, the kernel never did in "
                                    f"{len(observations)} tries")
    for kernel in kernel_paths or ():
        walks = [kernel[0]] + ([kernel[1]] if kernel[1] is not None else [])
        verdict.checked.update({"walks": 1, "replies": int(kernel[1] is not None),
                                "hops": sum(len(w) for w in walks),
                                "routes": sum(len(h.routes) for w in walks for h in w),
                                "conntrack": sum(len(h.conntrack) for w in walks for h in w),
                                "rules": sum(len(h.rules) for w in walks for h in w)})
    reported = set()
    for result, kernel in zip(results, kernel_paths or ()):
        wanted = expected_chains.get(result)
        if not wanted or kernel in wanted or (result, kernel) in reported:
            continue
        reported.add((result, kernel))
        verdict.problems.append(f"for {result} the kernel's walk differs from the simulator's:\n"
                                + path_diff(closest(kernel, wanted), kernel))
    return verdict


class HopKey(NamedTuple):
    """What must agree on one hop (see the module docstring)."""

    host: str
    in_iface: str | None
    out_iface: str | None
    rules: tuple
    routes: tuple
    conntrack: tuple


def path(trace) -> tuple:
    """The walk to compare: (hop keys of the packet, hop keys of the reply walk or None)."""
    return (_hop_keys(trace), _hop_keys(trace.reply) if trace.reply is not None else None)


def _hop_keys(trace) -> tuple[HopKey, ...]:
    from kplab.lab.kerneltrace import hop_chain
    return tuple(HopKey(h.host, h.in_iface, h.out_iface, hop_chain(h), routes(h), conntrack(h)) for h in trace.hops)


def routes(hop) -> tuple:
    """The hop's routing decisions: (local | loopback | forward | drop, out interface, next hop) each. The simulator's choice
    among a multipath route's next hops replaces its lookup; a frame switched by a bridge (br_netfilter) leaves
    by the bridge with no next hop, as kplab's drawn route says (a documented simplification)."""
    out: list = []
    for s in hop.steps:
        if s.kind != "route":
            continue
        kind = s.action if s.action in ("local", "loopback") else "drop" if s.action == "DROP" else "forward"
        key = (kind, s.detail.out_iface if kind != "drop" else None, s.detail.next_hop if kind != "drop" else None)
        if s.action == "choose" and out:
            out[-1] = key
        else:
            out.append(key)
    return tuple(out)


_TUPLE = re.compile(r"src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)")


def entry_key(entry: str) -> str:
    """A `conntrack -L` line with what differs by design left out: the client's source port (the original
    tuple's sport), the port SNAT chose (the reply tuple's dport), the seconds left (a countdown: 120 or 119
    depending on when it is read) and the use count."""
    seen = [0]

    def mask(m):
        seen[0] += 1
        if seen[0] == 1:
            return f"src={m[1]} dst={m[2]} sport=* dport={m[4]}"
        return f"src={m[1]} dst={m[2]} sport={m[3]} dport=*"
    words = _TUPLE.sub(mask, entry).split()
    if len(words) > 2 and words[2].isdigit():
        del words[2]  # the timeout: seconds left, counting down from the moment it was read
    return " ".join(w for w in words if not w.startswith("use="))


def conntrack(hop) -> tuple:
    """The hop's conntrack steps: the state given to the packet, and the confirmed entry (entry_key). The kernel
    lab's `update` steps (an entry changed by an answer) have no simulator counterpart and are left out."""
    out = []
    for s in hop.steps:
        if s.kind != "conntrack" or s.detail.state == "update":
            continue
        out.append((s.detail.state, entry_key(s.detail.entry)) if s.detail.state == "confirm" else (s.detail.state,))
    return tuple(out)


def closest(kernel, candidates):
    """The simulator path most like the kernel's (most equal hops, then most equal rule steps)."""
    def score(sim):
        pairs = list(zip(sim[0], kernel[0])) + list(zip(sim[1] or (), kernel[1] or ()))
        hops = sum(1 for a, b in pairs if a == b)
        steps = sum(1 for a, b in pairs for x, y in zip(a.rules, b.rules) if x == y)
        return (hops, steps)
    return max(candidates, key=score)


def path_diff(sim, kernel) -> str:
    """Where simulator and kernel part ways: the packet's walk, then the reply's (module docstring)."""
    lines = []
    for title, a, b in (("", sim[0], kernel[0]), ("the reply: ", sim[1], kernel[1])):
        if a == b:
            continue
        if a is None or b is None:
            lines.append(f"    {title}simulator {'no walk' if a is None else 'walks back'}, kernel "
                         f"{'traced none' if b is None else 'traced it'}")
            break
        text = hop_diff(a, b)
        lines.append(("    " + title.strip() + "\n" if title else "") + text)
        break
    return "\n".join(lines)


def hop_diff(sim, kernel) -> str:
    """The first hop where two walks (tuples of HopKey) differ, field by field, rules step by step."""
    lines = []
    hosts_sim, hosts_kernel = [h.host for h in sim], [h.host for h in kernel]
    if hosts_sim != hosts_kernel:
        lines.append(f"    hosts: simulator {' > '.join(hosts_sim)}")
        lines.append(f"           kernel    {' > '.join(hosts_kernel)}")
    for s, k in zip(sim, kernel):
        if s == k:
            continue
        lines.append(f"    on {s.host}" + (f" / {k.host}" if k.host != s.host else "") + ":")
        for name in ("in_iface", "out_iface", "routes", "conntrack"):
            if getattr(s, name) != getattr(k, name):
                lines.append(f"    ! {name}: simulator {getattr(s, name)}")
                lines.append(f"      {' ' * len(name)}  kernel    {getattr(k, name)}")
        if s.rules != k.rules:
            for i in range(max(len(s.rules), len(k.rules))):
                a = s.rules[i] if i < len(s.rules) else None
                b = k.rules[i] if i < len(k.rules) else None
                mark = " " if a == b else "!"
                lines.append(f"    {mark} simulator {_fmt(a):<60} kernel {_fmt(b)}")
        break
    return "\n".join(lines)


def chain_diff(sim, kernel) -> str:
    """The first hop where two chain sequences (kerneltrace.chains) part ways, step by step, side by side."""
    as_keys = lambda c: tuple(HopKey(h, None, None, seq, (), ()) for h, seq in c)  # noqa: E731
    return hop_diff(as_keys(sim), as_keys(kernel))


def _fmt(step) -> str:
    if step is None:
        return "-"
    table, chain, where, action = step
    return f"{table}/{chain}#{where} {action}"
