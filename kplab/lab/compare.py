"""Compare: the simulator's enumerated outcomes against what real connections did in the lab.

Both sides are stated as a `Result`: what the client application experiences — reached (which host answered
and which source address it saw), refused (ECONNREFUSED: a TCP reset or ICMP port unreachable), unreachable
(an ICMP error the socket reports: EHOSTUNREACH, ENETUNREACH), blocked (the sender's own rules dropped a
datagram on its way out: send() fails with EPERM) or timeout (nothing came back, or only an error
the socket ignores). Source ports are left out: MASQUERADE --random-fully and the kernel's ephemeral ports
make them differ by design.

A connection agrees when every kernel result is one of the simulator's outcomes and every simulator outcome
of probability >= `COVERAGE` was seen by the kernel (tries are chosen so a miss is vanishingly unlikely).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

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


def judge(connection: str, branches, observations, kernel_chains=None) -> Verdict:
    """Compare the simulator's branches ((probability, Trace) pairs, kplab.walk.run_branches) with the kernel's
    observations of the same connection and, when given, the kernel's chain sequence of each try (kerneltrace.chains
    of its kernel Trace, in the same order as `observations`): each must equal the chain sequence of a simulator
    branch with the same outcome."""
    from kplab.lab.kerneltrace import chains
    verdict = Verdict(connection)
    expected_chains: dict[Result, list] = {}
    for probability, trace in branches:
        r = simulated(trace)
        verdict.expected[r] = verdict.expected.get(r, Fraction(0)) + Fraction(probability)
        expected_chains.setdefault(r, []).append(chains(trace))
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
    reported = set()
    for result, kernel in zip(results, kernel_chains or ()):
        wanted = expected_chains.get(result)
        if not wanted or kernel in wanted or (result, kernel) in reported:
            continue
        reported.add((result, kernel))
        verdict.problems.append(f"for {result} the kernel's rules differ from the simulator's:\n"
                                + chain_diff(closest(kernel, wanted), kernel))
    return verdict


def closest(kernel, candidates):
    """The simulator chain sequence most like the kernel's (most equal hops, then most equal steps)."""
    def score(sim):
        hops = sum(1 for a, b in zip(sim, kernel) if a == b)
        steps = sum(1 for a, b in zip(sim, kernel) for x, y in zip(a[1], b[1]) if x == y)
        return (hops, steps)
    return max(candidates, key=score)


def chain_diff(sim, kernel) -> str:
    """The first hop where simulator and kernel part ways, step by step, side by side."""
    lines = []
    hosts_sim, hosts_kernel = [h for h, _ in sim], [h for h, _ in kernel]
    if hosts_sim != hosts_kernel:
        lines.append(f"    hosts: simulator {' > '.join(hosts_sim)}")
        lines.append(f"           kernel    {' > '.join(hosts_kernel)}")
    for (host_s, seq_s), (host_k, seq_k) in zip(sim, kernel):
        if (host_s, seq_s) == (host_k, seq_k):
            continue
        lines.append(f"    on {host_s}" + (f" / {host_k}" if host_k != host_s else "") + ":")
        for i in range(max(len(seq_s), len(seq_k))):
            a = seq_s[i] if i < len(seq_s) else None
            b = seq_k[i] if i < len(seq_k) else None
            mark = " " if a == b else "!"
            lines.append(f"    {mark} simulator {_fmt(a):<60} kernel {_fmt(b)}")
        break
    return "\n".join(lines)


def _fmt(step) -> str:
    if step is None:
        return "-"
    table, chain, where, action = step
    return f"{table}/{chain}#{where} {action}"
