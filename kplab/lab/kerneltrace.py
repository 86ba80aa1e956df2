"""The kernel's trace of one connection's first packet, as the same frozen `Trace` the simulator produces.

Input: the nftrace events of the packet (kplab.lab.nftrace, in the kernel's order across all lab namespaces), the
lab (which namespace is which host, rule handles -> rule numbers, rule text, interface names) and the connection's
Observation (who answered, the peer address the server saw, the errno). Output: a Trace whose hops are the
namespaces the packet crossed and whose steps are the netfilter rules the kernel reports — the same table, chain,
rule number and rule text the simulator's steps name, so the player animates it and `chains()` of both can be
compared hop by hop.

What the kernel reports and how it is read (net/netfilter/nf_tables_trace.c, iptables-nft):
- a rule event for every rule that matched (a jump, a non-terminal target such as MARK with verdict continue,
  DNAT/MASQUERADE/REJECT/DROP as their verdict), a handle-less rule event when the packet falls off the end of a
  chain, and a policy event at the end of a base chain (preceded by such an end event, which is dropped here, as
  the simulator shows the policy only);
- the packet header (and interfaces) only with the first event of each base chain: a rewrite shows as a change
  between two base chains — DNAT from nat PREROUTING/OUTPUT to the next chain, MASQUERADE from nat POSTROUTING to
  the next namespace;
- the lab's raw-table TRACE rules are left out (they are the lab's, not the cluster's).
Not reported by the kernel, so not in the kernel's Trace: route lookups, conntrack states, links.
"""
from __future__ import annotations

from kplab.walk.trace import (DeliverDetail, DropDetail, Flow, FlowDiff, Hop, NatDetail, RuleDetail, Step, Trace)

BASE_CHAINS = ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")
NAT_TARGETS = ("DNAT", "SNAT", "MASQUERADE", "REDIRECT")
LAB_TABLES = ("raw",)


def _target(rule: str) -> str | None:
    words = rule.split()
    for flag in ("-j", "-g"):
        if flag in words and words.index(flag) + 1 < len(words):
            return words[words.index(flag) + 1]
    return None


def _action(event, rule: str | None) -> str:
    """The event's decision in the simulator's words: jump X, goto X, ACCEPT, DROP, REJECT, RETURN or the
    non-terminal target (MARK ...)."""
    if event.type == "policy":
        return event.verdict.upper()
    if rule is None:
        return "RETURN"  # fell off the end of a user chain
    if event.verdict in ("jump", "goto"):
        return f"{event.verdict} {event.target}"
    target = _target(rule) or ""
    if event.verdict == "drop":
        return "REJECT" if target == "REJECT" else "DROP"
    if event.verdict == "accept":
        return target if target in NAT_TARGETS else "ACCEPT"
    if event.verdict == "return":
        return "RETURN"
    return target or "continue"


def _flow(event, mark: int) -> Flow | None:
    if event.src is None:
        return None
    return Flow(event.src, event.dst, event.protocol or "tcp", event.sport, event.dport,
                event.tcp_flags if event.protocol == "tcp" else "", mark)


def visits(lab, events) -> list[tuple[str, list]]:
    """The events grouped by namespace visit, in order: [(host, [event, ...]), ...]."""
    out: list[tuple[str, list]] = []
    for e in events:
        host = lab.nsids.get(e.nsid)
        if host is None:
            continue
        if out and out[-1][0] == host:
            out[-1][1].append(e)
        else:
            out.append((host, [e]))
    return out


def _kept(lab, host: str, events) -> list:
    """The events a simulator step corresponds to: no lab TRACE table, no chain end just before a policy, no
    empty base chain with policy ACCEPT (the simulator does not walk those)."""
    out = [e for e in events if e.table not in LAB_TABLES]
    keep = []
    for i, e in enumerate(out):
        nxt = out[i + 1] if i + 1 < len(out) else None
        if e.type == "rule" and e.handle is None and nxt is not None and nxt.type == "policy" \
                and (nxt.table, nxt.chain) == (e.table, e.chain):
            continue
        if e.type == "policy" and e.verdict == "accept" and e.chain in BASE_CHAINS \
                and not lab.rule_lines(host).get((e.table, e.chain)):
            continue
        keep.append(e)
    return keep


def kernel_trace(lab, source: str, destination: str, events, observation) -> Trace:
    """The Trace of one real connection's first packet (see the module docstring)."""
    hops: list[Hop] = []
    groups = visits(lab, events)
    first_flow = None
    flows_in: list[Flow | None] = []
    for host, evs in groups:
        flows_in.append(next((f for f in (_flow(e, e.mark) for e in evs) if f is not None), None))
    for index, (host, evs) in enumerate(groups):
        topo = lab.topology.hosts.get(host)
        kind = topo.kind if topo is not None else "outside"
        names = lab.ifnames.get(host, {})
        iif = next((e.iif for e in evs if e.iif), None)
        oif = next((e.oif for e in reversed(evs) if e.oif), None)
        chains = {e.chain for e in evs}
        path = "output" if "OUTPUT" in chains else "forward" if "FORWARD" in chains else \
            "input" if "INPUT" in chains or (index == len(groups) - 1 and observation.kind == "reached") else None
        packet_in = flows_in[index] or first_flow
        if packet_in is None:
            continue
        first_flow = first_flow or packet_in
        steps: list[Step] = []
        current = packet_in
        hook = None
        kept = _kept(lab, host, evs)
        for i, e in enumerate(kept):
            seen = _flow(e, e.mark)
            if seen is not None:
                current = seen
            if e.chain in BASE_CHAINS and (e.type == "policy" or seen is not None):
                hook = e.chain
            rule = lab.rule_text(host, e)
            number = lab.positions.get(host, {}).get((e.table, e.handle), (None, None, None))[2] if e.handle else None
            action = _action(e, rule)
            text = rule if rule is not None else f":{e.chain} policy"
            if action in NAT_TARGETS:
                after = next((f for f in (_flow(x, x.mark) for x in kept[i + 1:]) if f is not None), None)
                if after is None and index + 1 < len(groups):
                    after = flows_in[index + 1]
                diff = FlowDiff(tuple((f, getattr(current, f), getattr(after, f)) for f in ("src", "sport", "dst",
                                                                                            "dport")
                                      if after is not None and getattr(current, f) != getattr(after, f)))
                steps.append(Step("nat", action, text, NatDetail(e.table, e.chain, hook, number, text, action), diff,
                                  note="as the next chain (or host) saw it"))
            else:
                note = "chain policy" if e.type == "policy" else "end of chain" if rule is None else ""
                steps.append(Step("rule", action, text, RuleDetail(e.table, e.chain, hook, number, text, action),
                                  note=note))
        last = index == len(groups) - 1
        if last and observation.kind == "reached":
            seen_by = observation.source_seen or ""
            steps.append(Step("deliver", "deliver", f"the lab's server on {current.dst}:{current.dport} answered",
                              DeliverDetail(f"{current.dst}:{current.dport}", seen_by), note=f"source seen: {seen_by}"))
        elif last:
            how = observation.error or "no answer"
            steps.append(Step("drop", "REJECT" if observation.kind in ("refused", "unreachable") else "DROP",
                              f"the client saw: {observation}", DropDetail(f"the client saw {how}")))
        packet_out = flows_in[index + 1] if index + 1 < len(groups) else None
        hops.append(Hop(host, kind, names.get(iif) if iif else None, names.get(oif) if oif else None, packet_in,
                        packet_out, tuple(steps), path))
    if observation.kind == "reached":
        verdict = "ACCEPT"
    elif observation.kind in ("refused", "unreachable") or any(s.action == "REJECT" for h in hops for s in h.steps):
        verdict = "REJECT"
    else:
        verdict = "DROP"
    packet = first_flow or Flow("0.0.0.0", "0.0.0.0")
    delivered = observation.server if observation.kind == "reached" else None
    packet_delivered = None
    if delivered and hops:
        end = hops[-1].packet_in
        ip, _, port = (observation.source_seen or "").rpartition(":")
        packet_delivered = Flow(ip or end.src, end.dst, end.protocol, int(port) if port.isdigit() else end.sport,
                                end.dport, end.tcp_flags)
    return Trace(source=source, destination=destination, packet=packet, verdict=verdict, hops=tuple(hops),
                 delivered_to=delivered, source_seen=observation.source_seen if delivered else None,
                 packet_delivered=packet_delivered, reason=f"the Linux kernel: {observation}",
                 notes=("traced by the Linux kernel (nftrace) in the lab's network namespaces: rules only, no route "
                        "or conntrack steps",))


def chains(trace) -> tuple[tuple[str, tuple], ...]:
    """Per hop, the netfilter decisions in order: (host, hop_chain(hop)). The same shape for the simulator's Trace
    and the kernel's, so they can be compared."""
    return tuple((hop.host, hop_chain(hop)) for hop in trace.hops)


def hop_chain(hop) -> tuple[tuple, ...]:
    """A hop's netfilter decisions: ((table, chain, rule number | 'end' | 'policy', action class), ...)."""
    seq = []
    for s in rule_steps(hop):
        where = s.rule_number if s.rule_number is not None else "policy" if s.chain in BASE_CHAINS else "end"
        seq.append((s.table, s.chain, where, _class(s.action, where)))
    return tuple(seq)


def rule_steps(hop) -> tuple:
    """The hop's steps that are netfilter decisions of the cluster's rules (not the lab's raw TRACE rules)."""
    return tuple(s for s in hop.steps if s.kind in ("rule", "nat", "policy") and s.table and s.table not in LAB_TABLES)


def _class(action: str, where) -> str:
    """An action reduced to what the kernel's verdict says: jump/goto X, accept, drop, return, continue."""
    a = (action or "").split()
    if a and a[0] in ("jump", "goto"):
        return " ".join(a[:2])
    if where == "end":
        return "continue"
    word = a[0] if a else ""
    if word in ("ACCEPT",) + NAT_TARGETS:
        return "accept"
    if word in ("DROP", "REJECT"):
        return "drop"
    if word == "RETURN":
        return "return"
    return "continue"
