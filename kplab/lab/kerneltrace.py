"""The kernel's trace of one connection — its first packet and the answer — as the same frozen `Trace` the
simulator produces.

Input: the events the kernel sent while the connection ran (kplab.lab.nftrace: nftrace events of the lab's traced
packets and ctnetlink events, in the kernel's order across all lab namespaces), the lab (which namespace is which
host, rule handles -> rule numbers, rule text, interface names, route lookups) and the connection's Observation
(who answered, the peer address the server saw, the errno). Output: a Trace whose hops are the namespaces the
packet crossed, and whose `reply` is the answer's walk back (a SYN-ACK or datagram, or the kernel's reset or ICMP
error), each step taken from what the kernel reported:

- rule / nat: every rule the packet matched, every fall off a user chain's end and every base-chain policy, with
  the same table, chain, rule number and rule text the simulator's steps name. The header (and interfaces)
  come only with the first event of each base chain, so a rewrite shows as a change between two base chains:
  DNAT from nat PREROUTING/OUTPUT to the next chain, MASQUERADE from nat POSTROUTING to the next namespace. A
  change no NAT rule made is conntrack's NAT of a connection already translated (the de-NAT of an answer).
- conntrack: the packet's state (NEW, ESTABLISHED ...), as nftrace reports it on the first chain after the
  conntrack hook, and the entry the kernel confirmed or updated (a ctnetlink event, printed as `conntrack -L`
  does). A namespace whose rules never use conntrack (a pod's, the router's) has no conntrack at all, and so no
  such step.
- route: the kernel's routing decision, asked of the namespace (`ip route get` with the packet's addresses, its
  in device and mark; kplab.lab.fib) after PREROUTING, or before OUTPUT (again after OUTPUT when nat OUTPUT
  changed the destination or the mark: the kernel's ip_route_me_harder).
- deliver / drop: how the connection ended, as the client application saw it.
The lab's raw-table TRACE rules are left out (they are the lab's, not the cluster's).
"""
from __future__ import annotations

from kplab.lab.nftrace import Conntrack, Event
from kplab.walk.trace import (ConntrackDetail, DeliverDetail, DropDetail, Flow, FlowDiff, Hop, NatDetail,
                              RouteDetail, RuleDetail, Step, Trace)

BASE_CHAINS = ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")
NAT_TARGETS = ("DNAT", "SNAT", "MASQUERADE", "REDIRECT")
LAB_TABLES = ("raw",)
ADDRESS_FIELDS = ("src", "sport", "dst", "dport")


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


def _flow(event) -> Flow | None:
    if not isinstance(event, Event) or event.src is None:
        return None
    inner = event.embedded
    embedded = Flow(inner["src"], inner["dst"], inner.get("protocol", "tcp"), inner.get("sport"), inner.get("dport"),
                    inner.get("tcp_flags", "")) if inner and "src" in inner else None
    return Flow(event.src, event.dst, event.protocol or "tcp", event.sport, event.dport,
                event.tcp_flags if event.protocol == "tcp" else "", event.mark, event.icmp_type, event.icmp_code,
                embedded)


def _tuple(flow: Flow) -> str:
    """The packet's tuple as conntrack names it (the simulator's ConntrackDetail.tuple)."""
    ports = f" sport={flow.sport} dport={flow.dport}" if flow.sport is not None else ""
    return f"{flow.protocol} src={flow.src} dst={flow.dst}{ports}"


def _is_start(e) -> bool:
    """The TRACE rule in a raw OUTPUT chain: a new packet the host itself sends."""
    return isinstance(e, Event) and e.table == "raw" and e.chain == "OUTPUT" and e.type == "rule" and \
        e.handle is not None


def packets(events, client: tuple[str, int] | None = None) -> tuple[list, list]:
    """(the connection's first packet's events, its answer's events). The events are cut where a host sends a new
    traced packet (the TRACE rule in raw OUTPUT); the first packet is the one sent from `client` (ip, port; else
    the first sent), the answer the next packet sent back to where the first packet last was (a SYN-ACK or
    datagram to its source, a reset, or an ICMP error to its source); when the client sent its packet again (a
    TCP SYN retransmitted after 1 s), the answer to the last copy. Packets of older connections that show up in
    between are left out."""
    starts = [i for i, e in enumerate(events) if _is_start(e)] + [len(events)]
    segments = [events[a:b] for a, b in zip(starts, starts[1:])]
    sent_by = lambda seg: (seg[0].src, seg[0].sport)  # noqa: E731
    index = next((i for i, seg in enumerate(segments) if client is None or sent_by(seg) == client), None)
    if index is None:
        return [], []
    request = segments[index]
    last = next((e for e in reversed(request) if isinstance(e, Event) and e.src is not None), request[0])
    reply: list = []
    for seg in segments[index + 1:]:
        e = seg[0]
        if sent_by(seg) == sent_by(request) and (e.dst, e.dport) == (request[0].dst, request[0].dport):
            # sent again (a TCP SYN after 1 s without an answer: the kernel rate-limits the ICMP errors of a
            # failed route, one a second after a burst of five): the answer, if any, is to the last copy
            last = next((x for x in reversed(seg) if isinstance(x, Event) and x.src is not None), last)
            continue
        if (e.dst, e.dport) == (last.src, last.sport) or (e.protocol == "icmp" and e.dst == last.src):
            reply = seg
            break
    # REJECT sends its error from inside the rule, so the error's first events come before the REJECT rule's own:
    # those of the first packet's skb (same namespace, same trace id) go back to it
    end = next((e for e in reversed(request) if isinstance(e, Event)), None)
    if end is not None and reply:
        own = [e for e in reply if isinstance(e, Event) and (e.nsid, e.trace_id) == (end.nsid, end.trace_id)]
        request = request + own
        reply = [e for e in reply if not any(e is o for o in own)]
    return request, reply


def visits(lab, events) -> list[tuple[str, list]]:
    """The events grouped by namespace visit, in order: [(host, [event, ...]), ...]. A conntrack event joins the
    latest visit to its namespace (it is sent at the confirm hook, after that visit's chains)."""
    out: list[tuple[str, list]] = []
    for e in events:
        host = lab.nsids.get(e.nsid)
        if host is None:
            continue
        if isinstance(e, Conntrack):
            for h, evs in reversed(out):
                if h == host:
                    evs.append(e)
                    break
            continue
        if out and out[-1][0] == host:
            out[-1][1].append(e)
        else:
            out.append((host, [e]))
    return out


def _kept(lab, host: str, events) -> list:
    """The events a simulator step corresponds to: no lab TRACE table, no chain end just before a policy, no
    empty base chain with policy ACCEPT (the simulator does not walk those)."""
    out = [e for e in events if isinstance(e, Event) and e.table not in LAB_TABLES]
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


def _route_step(lab, host: str, flow: Flow, iif: str | None, note: str = "") -> tuple[Step, object]:
    """The kernel's routing decision for `flow` on `host` (input with `iif`, else output) as a route step."""
    route = lab.fib.lookup(lab.namespace(host), flow.dst, flow.src if iif else None, iif, flow.mark,
                           flow.protocol, flow.sport, flow.dport)
    if route.error:
        return Step("route", "DROP", route.route, RouteDetail(route.route, None, None),
                    note=note or "the kernel's lookup failed"), route
    # an output lookup (no input interface: the host sends the packet itself) is `output`, as kplab's walk says it
    action = "local" if route.local else ("output" if iif is None else "forward") if route.type == "unicast" \
        else route.type
    return Step("route", action, route.route, RouteDetail(route.route, route.out_iface, route.next_hop),
                note=note), route


def _ct_matches(ct: Conntrack, flow: Flow) -> bool:
    """Whether a conntrack event is about this packet (its header is one of the entry's two tuples)."""
    for t in (ct.original, ct.reply):
        if (t.src, t.dst, t.protocol) == (flow.src, flow.dst, flow.protocol) and \
                (t.sport, t.dport) == (flow.sport, flow.dport):
            return True
    return False


def _nat_changes(before: Flow, after: Flow | None) -> FlowDiff:
    if after is None:
        return FlowDiff()
    return FlowDiff(tuple((f, getattr(before, f), getattr(after, f)) for f in ADDRESS_FIELDS
                          if getattr(before, f) != getattr(after, f)))


def _conntrack_nat(diff: FlowDiff, hook: str) -> Step:
    which = "destination" if hook in ("PREROUTING", "OUTPUT") else "source"
    return Step("nat", "conntrack NAT", "", NatDetail(None, None, hook, None, "", "conntrack NAT"), diff,
                note=f"{which} rewritten from the connection's tuples (nat chains not run): the kernel's header "
                     "changed with no NAT rule")


def _hop(lab, host: str, evs: list, next_flow: Flow | None, first_flow: Flow | None,
         next_host: str | None = None) -> tuple[Hop, dict] | None:
    """One namespace visit as a Hop (no deliver/drop step yet) and what the caller needs to end the walk."""
    topo = lab.topology.hosts.get(host)
    kind = topo.kind if topo is not None else "outside"
    names = lab.ifnames.get(host, {})
    trace_events = [e for e in evs if isinstance(e, Event)]
    packet_in = next((f for f in map(_flow, trace_events) if f is not None), None) or first_flow
    if packet_in is None:
        return None
    sent = _is_start(trace_events[0])
    iif_index = next((e.iif for e in trace_events if e.iif), None)
    oif_index = next((e.oif for e in reversed(trace_events) if e.oif), None)
    iif = names.get(iif_index) if iif_index and not sent else None
    steps: list[Step] = []
    current = packet_in
    hook = "OUTPUT" if sent else "PREROUTING"
    routed: object = None
    tracked = False
    rerouted = False
    looped = False

    if sent:  # a packet this host sends is routed before OUTPUT
        step, routed = _route_step(lab, host, packet_in, None)
        steps.append(step)
    kept = _kept(lab, host, evs)
    ct_event = next((e for e in trace_events if e.ct_state), None)
    for i, e in enumerate(kept):
        seen = _flow(e)
        if e.chain in BASE_CHAINS and (seen is not None or e.type == "policy"):
            entering = e.chain
            if ct_event is not None and not tracked:
                steps.append(_state_step(ct_event, hook if hook in ("PREROUTING", "OUTPUT") else "PREROUTING",
                                         packet_in))
                tracked = True
            if seen is not None and entering != hook:
                diff = _nat_changes(current, seen)
                explained = any(s.kind == "nat" and s.diff for s in steps[-12:] if s.hook == hook)
                if diff and not explained:
                    steps.append(_conntrack_nat(diff, hook))
                if entering in ("INPUT", "FORWARD") and hook == "PREROUTING" and routed is None:
                    step, routed = _route_step(lab, host, seen, iif)
                    steps.append(step)
                if sent and entering in ("PREROUTING", "INPUT") and hook in ("OUTPUT", "POSTROUTING") and \
                        routed is not None and routed.local and not looped:
                    steps.append(_loopback(routed))
                    looped = True
                if sent and hook == "OUTPUT" and entering != "OUTPUT" and not rerouted and \
                        (seen.dst, seen.mark) != (packet_in.dst, packet_in.mark):
                    step, routed = _route_step(lab, host, seen, None,
                                               note="re-routing after nat OUTPUT (destination or mark changed)")
                    steps.append(step)
                    rerouted = True
            hook = entering
        if seen is not None:
            current = seen
        rule = lab.rule_text(host, e)
        number = lab.positions.get(host, {}).get((e.table, e.handle), (None, None, None))[2] if e.handle else None
        action = _action(e, rule)
        text = rule if rule is not None else f":{e.chain} policy"
        if action in NAT_TARGETS:
            after = next((f for f in map(_flow, kept[i + 1:]) if f is not None), None) or next_flow
            steps.append(Step("nat", action, text, NatDetail(e.table, e.chain, hook, number, text, action),
                              _nat_changes(current, after), note="as the next chain (or host) saw it"))
        else:
            note = "chain policy" if e.type == "policy" else "end of chain" if rule is None else ""
            steps.append(Step("rule", action, text, RuleDetail(e.table, e.chain, hook, number, text, action),
                              note=note))
    if ct_event is not None and not tracked:
        steps.append(_state_step(ct_event, "OUTPUT" if sent else "PREROUTING", packet_in))
    if sent and not looped and routed is not None and routed.local and \
            any(e.chain in ("PREROUTING", "INPUT") for e in trace_events):
        steps.append(_loopback(routed))  # back in through lo, with no chain of the cluster's on the way
    if routed is None and not sent:  # no rule chain after PREROUTING here (a pod, the router): routed all the same
        step, routed = _route_step(lab, host, current, iif)
        steps.append(step)
    if next_host is not None:
        _taken_next_hop(lab, steps, next_host)
    # a rewrite between the last chain and the wire (or the next namespace) that no rule made: conntrack's NAT
    if next_flow is not None:
        diff = _nat_changes(current, next_flow)
        if diff and not any(s.kind == "nat" and s.diff and s.hook == "POSTROUTING" for s in steps):
            steps.append(_conntrack_nat(diff, "POSTROUTING"))
    for ct in (e for e in evs if isinstance(e, Conntrack)):
        if _ct_matches(ct, packet_in) or _ct_matches(ct, current):
            action = "confirm" if ct.new else "update"
            steps.append(Step("conntrack", action, "", ConntrackDetail(None, action, _tuple(packet_in), ct.entry),
                              note=ct.entry))
            break
    out_iface = names.get(oif_index) if oif_index else None
    if out_iface is None and routed is not None and not routed.local:
        out_iface = routed.out_iface
    # it left when another namespace saw it next, or when it was routed on and nothing dropped it (the outside
    # world the router sends unowned addresses to swallows them)
    left = next_flow is not None or (routed is not None and routed.type == "unicast" and not routed.local
                                     and not any(e.verdict == "drop" for e in kept))
    path = "output" if sent else ("input" if routed is not None and routed.local else
                                  "forward" if next_flow is not None or any(e.chain == "FORWARD" for e in kept)
                                  else None)
    hop = Hop(host, kind, iif, out_iface if left else None, packet_in,
              next_flow, tuple(steps), path)
    return hop, {"current": current, "kept": kept}


def _loopback(routed) -> Step:
    return Step("route", "loopback", routed.route, RouteDetail(routed.route, routed.out_iface, routed.next_hop),
                note="for this host: back in through lo")


def _taken_next_hop(lab, steps: list, next_host: str) -> None:
    """A multipath route's next hop is chosen by a flow hash over the packet's own skb hash (the sending socket's
    random txhash), which a route lookup cannot repeat: the next hop taken is the one owned by the namespace the
    kernel traced the packet in next."""
    for i, step in enumerate(steps):
        if step.kind != "route" or " nexthop " not in step.detail.route:
            continue
        host = lab.topology.hosts.get(next_host)
        owned = {a.split("/")[0] for iface in host.interfaces.values() for a in iface.addresses} if host else set()
        for part in step.detail.route.split(" nexthop ")[1:]:
            words = part.split()
            via = words[words.index("via") + 1] if "via" in words else None
            dev = words[words.index("dev") + 1] if "dev" in words else None
            if via in owned:
                steps[i] = Step("route", step.action, step.text, RouteDetail(step.detail.route, dev, via),
                                note=f"the flow hash picked the next hop via {via}: {next_host} traced it next")


def _state_step(event: Event, hook: str, flow: Flow) -> Step:
    note = "reply direction" if event.ct_reply else "new connection" if event.ct_state == "NEW" else \
        "original direction"
    return Step("conntrack", event.ct_state, "", ConntrackDetail(hook, event.ct_state, _tuple(flow), ""), note=note)


def walk(lab, source: str, destination: str, events, observation, answer: bool = False) -> Trace | None:
    """One packet's Trace from its events (the request, or with `answer` the answer the client got)."""
    groups = visits(lab, events)
    flows = [next((f for f in map(_flow, evs) if f is not None), None) for _, evs in groups]
    hops: list[Hop] = []
    first_flow = next((f for f in flows if f is not None), None)
    if first_flow is None:
        return None
    ends: dict = {}
    for index, (host, evs) in enumerate(groups):
        nxt = flows[index + 1] if index + 1 < len(flows) else None
        made = _hop(lab, host, evs, nxt, first_flow, groups[index + 1][0] if index + 1 < len(groups) else None)
        if made is None:
            continue
        hop, ends = made
        hops.append(hop)
    last = hops[-1]
    current = ends.get("current", last.packet_in)
    delivered = None
    if answer:
        reached = observation.kind in ("reached", "refused", "unreachable")
        if reached:
            delivered = last.host
            told = "" if observation.kind == "reached" else f"{observation.error}"
            step = Step("deliver", "deliver", f"to the socket on {current.dst}:{current.dport} connected to "
                        f"{current.src}:{current.sport}" if current.dport is not None else f"to {current.dst}",
                        DeliverDetail(f"{current.dst}:{current.dport}" if current.dport is not None else current.dst,
                                      f"{current.src}:{current.sport}" if current.sport is not None else current.src,
                                      told), note=f"source seen: {_address(current.src, current.sport)}"
                                                  + (f"; the client saw {told}" if told else ""))
        else:
            step = Step("drop", "DROP", "the client never got it", DropDetail("the client never got the answer"))
    elif observation.kind == "reached":
        delivered = observation.server
        step = Step("deliver", "deliver", f"to the socket listening on {current.dst}:{current.dport}",
                    DeliverDetail(f"{current.dst}:{current.dport}", observation.source_seen or ""),
                    note=f"source seen: {observation.source_seen}")
    else:
        step = _end_step(lab, last, ends.get("kept", []), observation)
    hops[-1] = Hop(last.host, last.host_kind, last.in_iface, last.out_iface, last.packet_in, last.packet_out,
                   last.steps + (step,), last.path)
    verdict = "ACCEPT" if delivered else "REJECT" if step.action == "REJECT" else "DROP"
    seen = None
    packet_delivered = None
    if delivered:
        seen = observation.source_seen if not answer else \
            (f"{current.src}:{current.sport}" if current.sport is not None else current.src)
        ip, _, port = (seen or "").rpartition(":")
        packet_delivered = Flow(ip or current.src, current.dst, current.protocol,
                                int(port) if port.isdigit() else current.sport, current.dport, current.tcp_flags)
    return Trace(origin="kernel", source=source, destination=destination, packet=first_flow, verdict=verdict,
                 hops=tuple(hops),
                 delivered_to=delivered, source_seen=seen, packet_delivered=packet_delivered,
                 reason=f"the Linux kernel: {observation}" if not answer else
                 (f"delivered to {delivered}" if delivered else "the answer was lost"))


def _address(ip: str, port: int | None) -> str:
    return f"{ip}:{port}" if port is not None else ip


def _end_step(lab, hop: Hop, kept: list, observation) -> Step:
    """How a request that reached no server ended on its last host: the rule that dropped or rejected it, or
    (nothing listening) the kernel's own refusal."""
    for e in reversed(kept):
        if e.verdict == "drop":
            rule = lab.rule_text(hop.host, e) or f":{e.chain} policy"
            words = rule.split()
            if _target(rule) == "REJECT":
                with_ = words[words.index("--reject-with") + 1] if "--reject-with" in words else \
                    "icmp-port-unreachable"
                return Step("drop", "REJECT", f"REJECT --reject-with {with_}",
                            DropDetail(f"rejected on {hop.host} by {e.table}/{e.chain} {rule}", with_),
                            note=f"the client saw: {observation}")
            return Step("drop", "DROP", f"dropped on {hop.host} by {e.table}/{e.chain} {rule}",
                        DropDetail(f"dropped on {hop.host} by {e.table}/{e.chain} {rule}"),
                        note=f"the client saw: {observation}")
    if observation.kind == "refused":
        return Step("drop", "REJECT", f"nothing answered on {hop.host}: the kernel refused the connection",
                    DropDetail(f"nothing listens on {hop.host}; the kernel answered with a reset or ICMP port "
                               "unreachable (connection refused)"), note=f"the client saw: {observation}")
    how = observation.error or "no answer"
    return Step("drop", "REJECT" if observation.kind == "unreachable" else "DROP", f"the client saw: {observation}",
                DropDetail(f"the client saw {how}"))


def kernel_trace(lab, source: str, destination: str, events, observation) -> Trace:
    """The Trace of one real connection (see the module docstring): the first packet's walk, with the answer's
    walk (SYN-ACK, datagram, reset or ICMP error) as its `reply` when the kernel traced one."""
    ip, _, port = (observation.local or "").rpartition(":")
    request, answer = packets(events, (ip, int(port)) if port.isdigit() else None)
    trace = walk(lab, source, destination, request, observation)
    if trace is None:
        return Trace(source=source, destination=destination, packet=Flow("0.0.0.0", "0.0.0.0"), verdict="DROP",
                     reason=f"the Linux kernel: {observation} (no trace events)", notes=(NOTE,), origin="kernel",
                     network=getattr(lab, "network", None))
    reply = None
    if answer:
        start = lab.nsids.get(answer[0].nsid, "?")
        reply = walk(lab, start, source, answer, observation, answer=True)
    return Trace(source=trace.source, destination=trace.destination, packet=trace.packet, verdict=trace.verdict,
                 hops=trace.hops, delivered_to=trace.delivered_to, source_seen=trace.source_seen,
                 packet_delivered=trace.packet_delivered, reason=trace.reason, reply=reply, notes=(NOTE,),
                 origin="kernel", network=getattr(lab, "network", None))


NOTE = ("traced by the Linux kernel in the lab's network namespaces: rules and conntrack states from nftrace, "
        "conntrack entries from ctnetlink events, routes from the kernel's lookups (ip route get)")


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
