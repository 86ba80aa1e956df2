"""Predict-then-check exercises for the course notebooks.

A student writes a prediction as plain text — the endpoints a Service picks and their shares, the source address the
receiver sees, the chain that drops a packet, the nodes a packet crosses, the verdict, the hook of the DNAT, the host
where a packet stops, a NetworkPolicy verdict, a DNS answer, a kube-proxy rule's probability, a conntrack state — and
a checker answers right or wrong. The right answer is never stored: each checker traces the packet through the same rules the notebooks show
(`kplab.trace`, the front door, every random branch enumerated) and compares. When the prediction is wrong the result names the
first hop where the packet and the prediction part ways, and the rule or route that decided there.

Student text is parsed with small regular grammars and never evaluated; an answer that cannot be read gives a
`Check` that says what form was expected (no exception, so no traceback in the notebook).

    >>> check = check_source_seen(cluster, "deploy/auth", "8.8.8.8", "10.244.0.3", port=80)
    >>> check.correct, check.hop, check.host
    (False, 2, 'minikube')
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from kplab.dns import resolve

VERDICT_WORDS = {
    "ACCEPT": "ACCEPT", "ACCEPTED": "ACCEPT", "DELIVERED": "ACCEPT", "DELIVER": "ACCEPT", "ALLOWED": "ACCEPT",
    "DROP": "DROP", "DROPPED": "DROP", "LOST": "DROP",
    "REJECT": "REJECT", "REJECTED": "REJECT", "REFUSED": "REJECT",
}
_IP = r"(?:\d{1,3}\.){3}\d{1,3}"
_ENDPOINT = re.compile(rf"^(?P<ip>{_IP})(?::(?P<port>\d{{1,5}}))?(?:\s*[@=]?\s*\(?(?P<share>[^()\s][^()]*?)\)?)?$")
_ADDRESS = re.compile(rf"^(?P<ip>{_IP})(?::(?P<port>\d{{1,5}}))?$")
_CHAIN = re.compile(r"^(?:(?P<table>raw|mangle|nat|filter)\s*[/ ]\s*)?(?P<chain>[A-Za-z][A-Za-z0-9_.-]{0,28})$")
_SEPARATORS = re.compile(r"\s*(?:,|;|\n)\s*")
_PATH_SEPARATORS = re.compile(r"\s*(?:->|=>|→|>|,|;|\n)\s*")
NOT_DROPPED = ("NONE", "NOTHING", "NO", "DELIVERED", "ACCEPT", "-")


@dataclass(frozen=True)
class Check:
    """The answer to one prediction.

    question: what was asked, in one line; given: the student's text as written;
    correct: True or False, or None when there was nothing usable to check (empty or unreadable text);
    message: one or two sentences saying what was right or wrong (or what form an answer takes);
    hint: a nudge towards the idea, shown folded; hop: the 1-based hop number where the packet and the prediction
    part ways (None when right or not applicable); host: that hop's host; rule: the rule, route or step text that
    decided there."""

    question: str
    given: str
    correct: bool | None
    message: str
    hint: str = ""
    hop: int | None = None
    host: str | None = None
    rule: str = ""

    def __bool__(self) -> bool:
        return self.correct is True

    def __str__(self) -> str:
        mark = {True: "right", False: "not quite", None: "no answer yet"}[self.correct]
        lines = [f"{self.question}", f"  your answer: {self.given.strip() or '(empty)'}", f"  {mark}: {self.message}"]
        if self.hop is not None:
            lines.append(f"  parts ways at hop {self.hop} ({self.host})" + (f": {self.rule}" if self.rule else ""))
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour, mark = {True: ("#1b7f3b", "&#10004; right"), False: ("#b42318", "&#10008; not quite"),
                        None: ("#555", "? no answer yet")}[self.correct]
        parts = [f'<div class="kplab-check" data-testid="kplab-check" data-correct="{str(self.correct).lower()}" '
                 f'style="border-left:6px solid {colour};padding:8px 12px;margin:6px 0;font-size:15px;'
                 f'line-height:1.45">',
                 f"<div><b>{html.escape(self.question)}</b></div>",
                 f"<div>your answer: <code>{html.escape(self.given.strip() or '(empty)')}</code></div>",
                 f'<div style="color:{colour}"><b>{mark}</b> &mdash; {html.escape(self.message)}</div>']
        if self.hop is not None:
            where = f"parts ways at <b>hop {self.hop}</b> ({html.escape(self.host or '')})"
            rule = f': <code style="white-space:pre-wrap">{html.escape(self.rule)}</code>' if self.rule else ""
            parts.append(f"<div>{where}{rule}</div>")
        if self.hint:
            parts.append(f"<details><summary>hint</summary>{html.escape(self.hint)}</details>")
        parts.append("</div>")
        return "".join(parts)


# --- the checkers ------------------------------------------------------------------------------------------------

def check_endpoints(cluster, src: str, dst: str, answer: str, port: int | None = None,
                    protocol: str = "tcp", **options) -> Check:
    """Predict where the packet can be delivered and how often: `"10.244.120.102:80 1/2, 10.244.120.103:80 1/2"`.

    Items are separated by commas, semicolons or new lines; each is `IP[:PORT]` with an optional share (`1/2`,
    `0.5`, `50%`). Without shares only the set is checked; with shares every item needs one and they must be exact.
    The truth is every outcome of the trace: the delivered header's `dst:dport` and the summed probability."""
    question = f"Where can a packet from {src} to {dst} end up, and how often?"
    if not answer.strip():
        return _empty(question, answer, 'like "10.0.0.1:80 1/2, 10.0.0.2:80 1/2"')
    items, problem = _parse_endpoints(answer)
    if problem:
        return Check(question, answer, None, problem)
    trace = _trace(cluster, src, dst, port, protocol, **options)
    actual: dict[str, Fraction] = {}
    refused = Fraction(0)
    for o in trace.outcomes():
        flow = o.packet_delivered
        if o.verdict == "ACCEPT" and flow is not None:
            key = f"{flow.dst}:{flow.dport}" if flow.dport is not None else flow.dst
            actual[key] = actual.get(key, Fraction(0)) + o.probability
        else:
            refused += o.probability
    hop, host, rule = _first_dnat(trace)
    given_keys = {_endpoint_key(ip, p, actual) for ip, p, _ in items}
    if given_keys != set(actual):
        missing = sorted(set(actual) - given_keys)
        extra = sorted(given_keys - set(actual))
        said = []
        if missing:
            said.append(f"it can also reach {', '.join(missing)}")
        if extra:
            said.append(f"it never reaches {', '.join(extra)}")
        if not actual:
            said = [f"it is never delivered ({_verdicts(trace)})"]
        return Check(question, answer, False, "; ".join(said).capitalize() + ".",
                     hint="A Service's endpoints are the ready pods its selector picks (its EndpointSlice), at the "
                          "targetPort; kube-proxy writes one KUBE-SEP chain per endpoint.",
                     hop=hop, host=host, rule=rule)
    shares = [s for _, _, s in items if s is not None]
    if shares and len(shares) != len(items):
        return Check(question, answer, None, "Give a share for every endpoint or for none.")
    if shares:
        wrong = [f"{k} gets {_share(actual[k])}" for (ip, p, s) in items
                 for k in [_endpoint_key(ip, p, actual)] if s != actual[k]]
        if wrong:
            return Check(question, answer, False, "Right endpoints, wrong shares: " + "; ".join(wrong) + ".",
                         hint="Each KUBE-SVC rule is tried in turn and matches with 1/(endpoints still left), so "
                              "1/3, then 1/2 of the remaining 2/3, then the rest: every endpoint ends up with 1/n.",
                         hop=hop, host=host, rule=rule)
    text = ", ".join(f"{k} {_share(v)}" for k, v in sorted(actual.items()))
    tail = f" (and {_share(refused)} is not delivered)" if refused else ""
    return Check(question, answer, True, f"{text}{tail}.")


def check_source_seen(cluster, src: str, dst: str, answer: str, port: int | None = None,
                      protocol: str = "tcp", **options) -> Check:
    """Predict the source address the receiver sees: `"192.168.49.2"` (a port may follow: `"192.168.49.2:43210"`).

    The truth is the `source_seen` of every delivered outcome; when outcomes differ, list them all, comma-separated.
    When wrong, the result points at the hop where the packet's source stopped being (or never was) the prediction."""
    question = f"Which source address does the receiver see when {src} connects to {dst}?"
    if not answer.strip():
        return _empty(question, answer, 'an address like "10.0.0.1"')
    given = []
    for item in _split(answer, _SEPARATORS):
        m = _ADDRESS.match(item)
        if not m or not _valid_ip(m["ip"]):
            return Check(question, answer, None, f"I could not read {item!r} as an IPv4 address "
                                                 f"(like 192.168.49.2, optionally :PORT).")
        given.append((m["ip"], int(m["port"]) if m["port"] else None))
    trace = _trace(cluster, src, dst, port, protocol, **options)
    seen = sorted({o.source_seen for o in trace.outcomes() if o.verdict == "ACCEPT" and o.source_seen})
    if not seen:
        return Check(question, answer, False, f"Nothing is delivered: {_verdicts(trace)}.",
                     hop=len(trace.hops) or None, host=trace.hops[-1].host if trace.hops else None,
                     rule=_deciding_text(trace))
    actual = {_split_addr(s) for s in seen}
    matches = {(ip, p) for ip, p in given for a_ip, a_port in actual if ip == a_ip and (p is None or p == a_port)}
    if len(matches) == len(given) and {ip for ip, _ in given} == {ip for ip, _ in actual}:
        return Check(question, answer, True, f"The receiver sees {', '.join(seen)}.")
    hop, host, rule = _source_divergence(trace, given[0][0])
    # the hint tells what is true of this packet's paths: a rewrite on all, on some, or on none of them
    rewritten = {ip for ip, _ in actual if ip != trace.packet.src}
    if not rewritten:
        hint = ("Follow the source address hop by hop: only NAT steps (MASQUERADE, SNAT) change it, and no rule "
                "on this packet's way rewrites it.")
    else:
        some = " on some of the ways it can go" if len(rewritten) < len(actual) else ""
        hint = (f"Follow the source address hop by hop: a NAT step (MASQUERADE or SNAT) rewrites it{some}; find "
                f"that rule, and whose address it puts in (MASQUERADE: the address of the interface the packet "
                f"leaves by).")
    return Check(question, answer, False, f"The receiver sees {', '.join(seen)}.", hint=hint,
                 hop=hop, host=host, rule=rule)


def check_dropped_by(cluster, src: str, dst: str, answer: str, port: int | None = None,
                     protocol: str = "tcp", **options) -> Check:
    """Predict the chain whose rule drops or rejects the packet: `"KUBE-EXTERNAL-SERVICES"` or `"filter/KUBE-SERVICES"`
    (`"none"` if you think it is delivered). The truth is the rule that set the trace's verdict."""
    question = f"Which chain stops a packet from {src} to {dst}?"
    if not answer.strip():
        return _empty(question, answer, 'a chain like "FORWARD" or "nat/POSTROUTING", or "none"')
    text = answer.strip()
    trace = _trace(cluster, src, dst, port, protocol, **options)
    decided = _deciding_step(trace)
    if text.upper() in NOT_DROPPED:
        if trace.verdict == "ACCEPT":
            return Check(question, answer, True, f"Nothing stops it: delivered to {trace.delivered_to}.")
        hop, host, step = decided
        return Check(question, answer, False, f"It is stopped ({trace.verdict}) by {_where(step)}.",
                     hint="Look for the last rule with a DROP or REJECT target the packet met.",
                     hop=hop, host=host, rule=step.text if step else "")
    m = _CHAIN.match(text)
    if not m:
        return Check(question, answer, None, f"I could not read {text!r} as a chain name "
                                             f"(like KUBE-SERVICES or filter/KUBE-SERVICES), or none.")
    if trace.verdict == "ACCEPT":
        hop, host, rule = _visit(trace, m["table"], m["chain"])
        return Check(question, answer, False, f"Nothing stops it: it is delivered to {trace.delivered_to}.",
                     hint=f"{m['chain']} " + ("is on its way, but lets it go on." if hop else "never sees it."),
                     hop=hop, host=host, rule=rule)
    hop, host, step = decided
    chain, table = getattr(step, "chain", None), getattr(step, "table", None)
    if chain and _same_chain(chain, m["chain"]) and (m["table"] is None or m["table"] == table):
        return Check(question, answer, True, f"{trace.verdict} in {_where(step)} at hop {hop} ({host}).")
    seen_hop, seen_host, _ = _visit(trace, m["table"], m["chain"])
    hint = (f"The packet does pass {m['chain']} (hop {seen_hop}, {seen_host}), which lets it go on."
            if seen_hop else f"The packet never meets {m['chain']}.")
    return Check(question, answer, False, f"It is stopped ({trace.verdict}) by {_where(step)}." if step else
                 f"It ends {trace.verdict}: {trace.reason}", hint=hint, hop=hop, host=host,
                 rule=step.text if step else "")


def check_nodes(cluster, src: str, dst: str, answer: str, port: int | None = None,
                protocol: str = "tcp", **options) -> Check:
    """Predict the nodes the packet crosses, in order: `"minikube -> minikube-m02"` (commas work too; `"none"` if it
    crosses none). Where the random endpoint choice sends packets different ways, any one of the ways is right and
    the message lists the others. When wrong, the result names the first hop where the ways part."""
    question = f"Which nodes does a packet from {src} to {dst} cross, in order?"
    if not answer.strip():
        return _empty(question, answer, 'node names in order, like "node-a -> node-b"')
    names = [] if answer.strip().lower() in ("none", "-", "no node", "no nodes") else _split(answer, _PATH_SEPARATORS)
    unknown = [n for n in names if n not in cluster.nodes]
    if unknown:
        return Check(question, answer, None, f"{', '.join(map(repr, unknown))}: not a node of this cluster "
                                             f"(nodes: {', '.join(sorted(cluster.nodes))}).")
    trace = _trace(cluster, src, dst, port, protocol, **options)
    ways: dict[tuple[str, ...], Fraction] = {}
    for o in trace.outcomes():
        path = tuple(h for h in o.hosts if h in cluster.nodes)
        ways[path] = ways.get(path, Fraction(0)) + o.probability
    listed = "; ".join(f"{' -> '.join(p) or 'no node'} ({_share(f)})" for p, f in sorted(ways.items()))
    if tuple(names) in ways:
        return Check(question, answer, True, f"Ways it goes: {listed}." if len(ways) > 1 else
                     f"It crosses {' -> '.join(names) or 'no node'}.")
    hop, host, rule = _path_divergence(trace, names, cluster)
    hint = ("Routes decide the node: a pod's packets leave through its own node; a Service's DNAT happens there, "
            "and the new destination's route may then lead to another node.")
    if not names:
        hint = ("A pod's veth leads into its node's network namespace, so even between two pods on one node the "
                "packet passes through that node (veth, the node's route or bridge, the other veth): it counts.")
    return Check(question, answer, False, f"Ways it goes: {listed}.", hint=hint,
                 hop=hop, host=host, rule=rule)


def check_verdict(cluster, src: str, dst: str, answer: str, port: int | None = None,
                  protocol: str = "tcp", **options) -> Check:
    """Predict what happens to the packet: `"ACCEPT"` (delivered), `"DROP"` (silently lost) or `"REJECT"` (refused
    with an error). When outcomes differ the answer must be the verdict of all of them to be right."""
    question = f"What happens to a packet from {src} to {dst}?"
    if not answer.strip():
        return _empty(question, answer, "ACCEPT (delivered), DROP or REJECT")
    word = VERDICT_WORDS.get(answer.strip().upper().rstrip("."))
    if word is None:
        return _unreadable(question, answer, "ACCEPT (delivered), DROP or REJECT")
    trace = _trace(cluster, src, dst, port, protocol, **options)
    verdicts: dict[str, Fraction] = {}
    for o in trace.outcomes():
        verdicts[o.verdict] = verdicts.get(o.verdict, Fraction(0)) + o.probability
    listed = ", ".join(f"{v} {_share(f)}" for v, f in sorted(verdicts.items()))
    if set(verdicts) == {word}:
        return Check(question, answer, True, f"{word}: {trace.reason or _verdicts(trace)}.")
    hop, host, step = _deciding_step(trace)
    ends = f"Every packet ends {next(iter(verdicts))}" if len(verdicts) == 1 else f"It ends {listed}"
    return Check(question, answer, False, ends + (f": {trace.reason}." if trace.reason else "."),
                 hint="DROP is silent (the client times out); REJECT answers with an error at once.",
                 hop=hop, host=host, rule=step.text if step else "")


HOOKS = ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")
CTSTATES = ("NEW", "ESTABLISHED", "RELATED", "INVALID")
NO_DNAT = ("NONE", "NO", "NOWHERE", "-", "NO DNAT")


def check_dnat(cluster, src: str, dst: str, answer: str, port: int | None = None, protocol: str = "tcp",
               **options) -> Check:
    """Predict the netfilter hook where the destination is rewritten (DNAT): `"PREROUTING"` or `"OUTPUT"`, or
    `"none"` when you think no rule rewrites it (a headless Service, a pod address). The truth is the hook of the
    trace's first DNAT step."""
    question = f"At which hook is the destination of a packet from {src} to {dst} rewritten (DNAT)?"
    if not answer.strip():
        return _empty(question, answer, "a hook name like INPUT, or none")
    word = answer.strip().upper().rstrip(".")
    if word not in HOOKS and word not in NO_DNAT:
        return _unreadable(question, answer, f"one of {', '.join(HOOKS)}, or none")
    trace = _trace(cluster, src, dst, port, protocol, **options)
    hop, host, rule = _first_dnat(trace)
    hook = None
    if hop is not None:
        step = next(s for s in trace.hops[hop - 1].steps if s.kind == "nat" and s.diff and s.diff.get("dst"))
        hook = getattr(step.detail, "hook", None)
    if hook is None:
        if word in NO_DNAT:
            return Check(question, answer, True, f"No rule rewrites the destination: the packet goes to "
                                                 f"{trace.packet.dst} as sent.")
        return Check(question, answer, False, f"No rule rewrites the destination: no rule matches "
                                              f"{trace.packet.dst}.",
                     hint="kube-proxy writes rules for ClusterIPs, NodePorts and external IPs only.")
    if word == hook:
        return Check(question, answer, True, f"DNAT in nat {hook} on {host} (hop {hop}).")
    return Check(question, answer, False, f"The DNAT happens in nat {hook} on {host}.",
                 hint="DNAT must come before the routing decision it changes: PREROUTING for a packet that arrives "
                      "on an interface, OUTPUT for one a process on the host sends.", hop=hop, host=host, rule=rule)


def check_stopped_at(cluster, src: str, dst: str, answer: str, port: int | None = None, protocol: str = "tcp",
                     **options) -> Check:
    """Predict the host where the packet is dropped or rejected: `"minikube-m02"` (`"none"` if you think it is
    delivered). With several outcomes every one must stop there."""
    question = f"On which host does a packet from {src} to {dst} stop?"
    if not answer.strip():
        return _empty(question, answer, 'a host name like "minikube", or none')
    given = answer.strip()
    trace = _trace(cluster, src, dst, port, protocol, **options)
    hop, host, step = _deciding_step(trace)
    if trace.verdict == "ACCEPT":
        right = given.upper() in NOT_DROPPED
        return Check(question, answer, right, f"Nothing stops it: delivered to {trace.delivered_to}.",
                     hint="" if right else "Every host on the way forwards it.")
    stops = {o.hosts[-1] for o in trace.outcomes() if o.verdict != "ACCEPT" and o.hosts}
    if stops == {given}:
        return Check(question, answer, True, f"{trace.verdict} on {given}: {trace.reason or _where(step)}.")
    return Check(question, answer, False, f"It stops ({trace.verdict}) on {', '.join(sorted(stops))}.",
                 hint="A host that must forward a packet (in on one interface, out on another) needs "
                      "net.ipv4.ip_forward=1; the packet dies on the first host that cannot.",
                 hop=hop, host=host, rule=step.text if step else trace.reason)


def check_reach(cluster, src: str, dst: str, answer: str, port: int, protocol: str = "tcp") -> Check:
    """Predict whether NetworkPolicy lets SRC open a connection to DST on PORT: `"allowed"` or `"denied"`. The truth
    is `kplab.reach` (Kubernetes semantics: both ends, the union of the policies that select each)."""
    import kplab

    question = f"May {src} open a connection to {dst} on {port}/{protocol.upper()}?"
    if not answer.strip():
        return _empty(question, answer, "allowed or denied")
    word = {"ALLOWED": True, "ALLOW": True, "YES": True, "DENIED": False, "DENY": False, "NO": False,
            "BLOCKED": False}.get(answer.strip().upper().rstrip("."))
    if word is None:
        return _unreadable(question, answer, "allowed or denied")
    rows = list(kplab.reach(cluster, src=src, dst=dst, port=port, protocol=protocol))
    if not rows:
        return Check(question, answer, None, f"NetworkPolicy says nothing about {src} to {dst} (not a pod?).")
    allowed = {bool(r["allowed"]) for r in rows}
    reason = rows[0].get("reason") or ", ".join(rows[0].get("policies") or ()) or "no policy selects either end"
    truth = "allowed" if allowed == {True} else "denied" if allowed == {False} else "allowed for some pods only"
    return _judged(question, answer, allowed == {word}, f"{truth.capitalize()}: {reason}.",
                   "A pod is isolated (per direction) once any policy selects it; then only what some policy allows "
                   "gets through. Inside one peer the selectors are ANDed; separate peers are ORed.")


def check_dns_count(cluster, name: str, answer: str, from_namespace: str = "default") -> Check:
    """Predict how many A records the cluster DNS answers for NAME, asked from a pod in FROM_NAMESPACE: `"2"`."""
    question = f"How many A records does {name} get?"
    if not answer.strip():
        return _empty(question, answer, "a number like 1")
    if not answer.strip().isdigit():
        return _unreadable(question, answer, "a whole number")
    records = [r for r in resolve(cluster, name, from_namespace=from_namespace).records if r.type == "A"]
    listed = ", ".join(r.value for r in records) or "none"
    return _judged(question, answer, int(answer) == len(records), f"{len(records)}: {listed}.",
                   "A ClusterIP Service answers with its one virtual address; a headless Service with every ready "
                   "endpoint's own address.")


def check_dns_type(cluster, name: str, answer: str, from_namespace: str = "default") -> Check:
    """Predict the type of the record that answers for NAME: `"A"` or `"CNAME"`."""
    question = f"What type of DNS record answers for {name}?"
    if not answer.strip():
        return _empty(question, answer, "A or CNAME")
    word = answer.strip().upper().rstrip(".")
    if word not in ("A", "CNAME", "SRV", "AAAA"):
        return _unreadable(question, answer, "A or CNAME")
    result = resolve(cluster, name, from_namespace=from_namespace)
    records = list(result.records)
    if not records:
        return Check(question, answer, word == result.rcode, f"No record: {result.rcode}.")
    first = records[0]
    # a CNAME's target is a fully qualified name that already ends in "."
    said = f"{first.type} {first.value}" + ("" if first.value.endswith(".") else ".")
    hint = ("An ExternalName Service has no address of its own: DNS can only point at another name."
            if first.type == "CNAME" else
            "A Service with a ClusterIP answers with that address, a headless one with its pods' addresses: "
            "addresses are A records.")
    return _judged(question, answer, word == first.type, said, hint)


def check_rule_probability(cluster, node: str, service: str, answer: str) -> Check:
    """Predict the `--probability` on the first rule of SERVICE's (first port's) KUBE-SVC chain on NODE, as a
    fraction (`"1/3"`), a decimal or a percentage. The truth is read from the rules `kplab.rules` writes."""
    from kplab.kubeproxy import node_ruleset_text
    from kplab.netfilter import parse_ruleset

    question = f"Which probability does the first rule of {service}'s KUBE-SVC chain on {node} carry?"
    if not answer.strip():
        return _empty(question, answer, "a fraction like 1/2")
    given = _parse_share(answer.strip())
    if given is None:
        return _unreadable(question, answer, "a fraction like 1/2, 0.5 or 50%")
    ruleset = parse_ruleset(node_ruleset_text(cluster, node), source=f"{node} rules")
    key = service if "/" in service.split("svc/")[-1] else "default/" + service.split("svc/")[-1]
    nat = ruleset.tables.get("nat")
    entry = next((r for r in (nat.chains["KUBE-SERVICES"].rules if nat else ())
                  if (r.comment or "").split(" ")[0].split(":")[0] == key
                  and (r.comment or "").endswith("cluster IP")), None)
    if entry is None:
        return Check(question, answer, None, f"{node} has no KUBE-SERVICES rule for {key} (headless, or no "
                                             f"endpoints?).")
    rules = nat.chains[entry.target].rules
    split = [r for r in rules if (r.target or "").startswith("KUBE-SEP-")]
    probs = [m.option("--probability") for m in split[0].matches if m.name == "statistic"] if split else []
    truth = Fraction(probs[0].values[0]).limit_denominator(1000) if probs and probs[0] is not None else Fraction(1)
    text = split[0].text() if split else ""
    if given == truth:
        return Check(question, answer, True, f"{truth}: {len(split)} endpoints, so the first takes 1/{len(split)}.")
    return Check(question, answer, False, f"{truth} ({len(split)} endpoints).",
                 hint="The rules are tried in turn: the first takes 1/n of all new connections, the next 1/(n-1) of "
                      "the rest, and the last takes whatever is left.", rule=text)


def check_ctstate(packets, packet: int, host: str, answer: str) -> Check:
    """Predict the conntrack state (NEW, ESTABLISHED, RELATED, INVALID) that packet number PACKET (0 = the first)
    of a conversation has when it enters HOST. PACKETS: the traces of the conversation in order (what
    `Connection.handshake()` returns)."""
    walked = list(getattr(packets, "traces", packets))
    question = f"Which conntrack state does packet {packet} have on {host}?"
    if not answer.strip():
        return _empty(question, answer, "one of " + ", ".join(CTSTATES))
    word = answer.strip().upper().rstrip(".")
    if word not in CTSTATES:
        return _unreadable(question, answer, f"one of {', '.join(CTSTATES)}")
    if not 0 <= packet < len(walked):
        return Check(question, answer, None, f"There are packets 0 to {len(walked) - 1} only.")
    trace = walked[packet]
    for i, hop in enumerate(trace.hops, 1):
        if hop.host != host:
            continue
        for step in hop.steps:
            state = getattr(step.detail, "state", None) if step.kind == "conntrack" else None
            if state in CTSTATES:
                if state == word:
                    return Check(question, answer, True, f"{state} on {host} ({trace.packet}).")
                return Check(question, answer, False, f"{state} on {host} ({trace.packet}).",
                             hint="ESTABLISHED means conntrack has seen packets in both directions; the first "
                                  "reply already counts.", hop=i, host=host, rule=step.text)
    return Check(question, answer, None, f"Packet {packet} ({trace.packet}) never enters {host}.")


# --- reading answers ---------------------------------------------------------------------------------------------

def _empty(question: str, answer: str, form: str) -> Check:
    return Check(question, answer, None, f"Write your prediction between the quotes ({form}), then run the cell again.")


def _judged(question: str, answer: str, right: bool, message: str, hint: str) -> Check:
    """A readable answer, right or wrong, with the same MESSAGE either way; the HINT only when wrong."""
    return Check(question, answer, right, message, hint="" if right else hint)


def _unreadable(question: str, answer: str, form: str) -> Check:
    """An answer in no form the check reads: say what it got and the FORM to write."""
    return Check(question, answer, None, f"I could not read {answer.strip()!r}: write {form}.")


def _split(text: str, separators: re.Pattern) -> list[str]:
    return [p for p in separators.split(text.strip()) if p]


def _valid_ip(ip: str) -> bool:
    return all(0 <= int(x) <= 255 for x in ip.split("."))


def _parse_share(text: str) -> Fraction | None:
    text = text.replace(" ", "")
    try:
        if text.endswith("%"):
            value = Fraction(text[:-1]) / 100
        else:
            value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    return value if 0 <= value <= 1 else None


def _parse_endpoints(answer: str) -> tuple[list[tuple[str, int | None, Fraction | None]], str]:
    items = []
    for item in _split(answer, _SEPARATORS):
        m = _ENDPOINT.match(item)
        if not m or not _valid_ip(m["ip"]):
            return [], (f"I could not read {item!r}: write each endpoint as IP:PORT with an optional share, "
                        f"like 10.244.120.102:80 1/2.")
        share = None
        if m["share"] is not None:
            share = _parse_share(m["share"])
            if share is None:
                return [], f"{m['share']!r} in {item!r} is not a share between 0 and 1 (like 1/2, 0.5 or 50%)."
        items.append((m["ip"], int(m["port"]) if m["port"] else None, share))
    return items, ""


def _endpoint_key(ip: str, port: int | None, actual: dict[str, Fraction]) -> str:
    """IP:PORT as given; a bare IP stands for that IP's only endpoint when there is exactly one."""
    if port is not None:
        return f"{ip}:{port}"
    same = [k for k in actual if k.split(":")[0] == ip]
    return same[0] if len(same) == 1 else ip


def _split_addr(text: str) -> tuple[str, int | None]:
    ip, _, port = text.partition(":")
    return ip, int(port) if port.isdigit() else None


def _share(value: Fraction) -> str:
    return str(value) if value.denominator != 1 else ("all" if value == 1 else "none")


# --- reading the trace -------------------------------------------------------------------------------------------

def _trace(cluster, src: str, dst: str, port: int | None, protocol: str, **options):
    """Every checker's truth: the walk through the front door, so names read as in the notebooks (`deploy/auth`,
    `svc/webapp`); options as kplab.trace takes them (cni, ip_forward, rules, layout, ...)."""
    import kplab
    return kplab.trace(cluster, src, dst, port=port, protocol=protocol, **options)


def _verdicts(trace) -> str:
    return trace.reason or trace.verdict


def _where(step) -> str:
    if step is None:
        return "no rule"
    table, chain = getattr(step, "table", None), getattr(step, "chain", None)
    return f"{table}/{chain}" if chain else step.text


def _first_dnat(trace) -> tuple[int | None, str | None, str]:
    for i, hop in enumerate(trace.hops, 1):
        for step in hop.steps:
            if step.kind == "nat" and step.diff and step.diff.get("dst"):
                return i, hop.host, step.text
    return None, None, ""


def _deciding_step(trace) -> tuple[int | None, str | None, Any]:
    """The last DROP/REJECT step of the trace (the rule or route that ended it), with its hop."""
    rule, summary = (None, None, None), (None, None, None)
    for i, hop in enumerate(trace.hops, 1):
        for step in hop.steps:
            if str(step.action).upper() in ("DROP", "REJECT") and getattr(step, "chain", None):
                rule = (i, hop.host, step)
            elif step.kind == "drop":
                summary = (i, hop.host, step)
    return rule if rule[2] is not None else summary


def _deciding_text(trace) -> str:
    step = _deciding_step(trace)[2]
    return step.text if step is not None else ""


def _same_chain(actual: str, given: str) -> bool:
    """`given` names `actual`, or its family: a prefix such as cali-tw, KUBE-SEP or KUBE-SVC names every chain it
    starts (`cali-tw-cali8dd4361b130`), since those suffixes are hashes nobody types."""
    a, g = actual.upper(), given.upper().rstrip("-")
    return a == g or (g in CHAIN_FAMILIES and a.startswith(g + "-"))


CHAIN_FAMILIES = ("CALI-TW", "CALI-FW", "CALI-PI", "CALI-PO", "CALI-PRI", "CALI-PRO", "KUBE-SVC", "KUBE-SVL",
                  "KUBE-SEP", "KUBE-EXT", "KUBE-FW")


def _visit(trace, table: str | None, chain: str) -> tuple[int | None, str | None, str]:
    """The first step in `chain` (and `table`, if given) the packet met."""
    for i, hop in enumerate(trace.hops, 1):
        for step in hop.steps:
            c = getattr(step, "chain", None)
            if c and _same_chain(c, chain) and (table is None or getattr(step, "table", None) == table):
                text = step.text if not step.text.startswith(":") else f"{c}: no rule matched, back to the caller"
                return i, hop.host, text
    return None, None, ""


def _source_divergence(trace, predicted: str) -> tuple[int | None, str | None, str]:
    """Where the packet's source leaves the prediction: the hop whose NAT step changes it away from the predicted
    address, or — when the packet never carries that source — the first hop (it starts as something else)."""
    carried = trace.packet.src == predicted
    for i, hop in enumerate(trace.hops, 1):
        for step in hop.steps:
            change = step.diff.get("src") if step.diff else None
            if change is None:
                continue
            old, new = change
            if carried and old == predicted:
                return i, hop.host, step.text
            if new == predicted:
                carried = True
    if carried:  # carried to the end but the receiver sees another: cannot happen unless a reply is involved
        last = trace.hops[-1]
        return len(trace.hops), last.host, ""
    first = trace.hops[0] if trace.hops else None
    return (1, first.host, f"the packet leaves with source {trace.packet.src}") if first else (None, None, "")


def _path_divergence(trace, names: list[str], cluster) -> tuple[int | None, str | None, str]:
    """The first hop (of the seed's walk) where the nodes crossed differ from the predicted list."""
    k = 0
    for i, hop in enumerate(trace.hops, 1):
        if hop.host not in cluster.nodes:
            continue
        if k >= len(names) or names[k] != hop.host:
            return i, hop.host, _route_text(hop)
        k += 1
    if k < len(names):
        last = trace.hops[-1]
        return len(trace.hops), last.host, f"the packet ends here, never reaching {names[k]}"
    return None, None, ""


def _route_text(hop) -> str:
    for step in hop.steps:
        if step.kind == "route":
            return step.text
    return ""
