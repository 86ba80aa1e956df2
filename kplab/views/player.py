"""The animated trace player: one self-contained HTML document (inline SVG, inline script, the trace as JSON).

    p = play(trace, cluster=cluster)      # or trace.play(); Player object
    p                                     # notebooks: the player in an iframe (srcdoc), no kernel needed to animate
    p.save("trace.html")                  # the same document as a file: works opened from disk, offline

It reads only `trace.to_dict()` (and each outcome's trace's) and the cluster picture (kplab.views.picture): the
packet moves hop by hop along the picture's lines; the header shows the packet (src:sport → dst:dport), with the
fields NAT changed highlighted; an event list names every hop and step (click to jump); the hop card shows where
the packet is, the netfilter hooks and the chains it visited at each, the rules that acted, what changed
(FlowDiff), the conntrack entry and the route. Play/pause, step back/forward, speed, keyboard (space, arrows,
Home/End); the reply when the trace has one; every outcome of a load-balanced Service with its probability.
It opens paused on hop 1. No CDN, no network, no kernel: everything is in the document. Stable hooks for tests:
`data-testid` on the player, controls, header, hop counter, hop card and event list.

A trace the Linux kernel reported (kplab.lab: `Trace.origin == "kernel"`) plays the same way and says "observed in
the Linux kernel" where kplab's says "simulated by kplab". Side by side:

    play(simulated, compare=kernel, verdict=verdict)   # or lab.play(...), or `kplab lab compare --html FILE`

shows both walks of one connection stepping together — hops aligned by host, steps by what decided them (for
rules the differential's own key, kplab.lab.kerneltrace.hop_chain) — with each differing step and field marked,
an "agree" badge on every hop where they match, and the count of differences in the header. Compared: hosts,
interfaces, path, addresses and the server's port, every step kind the kernel's trace holds, the ending. Not
compared: the client's port (the client's kernel and MASQUERADE --random-fully choose it), step kinds the kernel's
trace never holds, and conntrack/link records only one side keeps (shown, marked `·`).
"""
from __future__ import annotations

import html
import json
import os
import stat
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

from kplab.errors import KplabError
from kplab.views.flow import PATH_EDGES, PATH_HOOKS, flow_svg, hop_flow

HOOKS = ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")
SIDE_PX = 340  # the card and event list column
MIN_TEXT_SCALE = 0.8  # the picture's 15-unit text stays >= 12 px


def _frac(value: Any) -> str:
    f = Fraction(str(value)) if not isinstance(value, Fraction) else value
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def _endpoint(packet: dict | None, side: str) -> str:
    if not packet:
        return ""
    ip, port = packet.get(side), packet.get("sport" if side == "src" else "dport")
    return f"{ip}:{port}" if port is not None else str(ip)


def _steps(hop: dict) -> tuple[list[dict], list[dict]]:
    """(steps for the event list, hooks with the chains visited at each) of one hop (Trace JSON, version 1)."""
    steps, hooks = [], []
    for s in hop.get("steps", ()):
        d = s.get("detail") or {}
        hook, table, chain = d.get("hook"), d.get("table"), d.get("chain")
        where = f"{table}/{chain}" if chain else ""
        if d.get("rule_number"):
            where += f"#{d['rule_number']}"
        changed = ", ".join(f"{c['field']} {_value(c['before'])} → {_value(c['after'])}" for c in s.get("diff") or ())
        text = s.get("text", "")
        if s.get("kind") == "conntrack":
            text = d.get("entry") or d.get("tuple") or text
        action = s.get("action", "")  # a route step already says output/forward/local in the kernel's terms
        step = {"kind": s.get("kind", ""), "where": where, "text": text, "action": action,
                "note": s.get("note", ""), "diff": changed, "hook": hook}
        step["label"] = _label(step, d)
        steps.append(step)
        if chain and hook:
            if not hooks or hooks[-1]["hook"] != hook:
                hooks.append({"hook": hook, "chains": []})
            name = f"{table}/{chain}" if chain in HOOKS else chain
            if name not in hooks[-1]["chains"]:
                hooks[-1]["chains"].append(name)
    return steps, hooks


def _label(step: dict, detail: dict) -> str:
    """The step's line in the event list: what it is and what it did, each said once."""
    kind, action = step["kind"], step["action"]
    if kind in ("rule", "nat", "policy"):
        body = f"{step['where']} {action}" if step["where"] else f"{step['text']} {action}"
    elif kind == "route":
        out = detail.get("out_iface")
        body = f"{action}" + (f" via {detail['next_hop']}" if detail.get("next_hop") else "") + \
            (f" dev {out}" if out else "")
    elif kind == "deliver":
        body = f"to {detail.get('address') or step['text']}"
    elif kind == "link":
        body = step["text"]
    elif kind == "encapsulation":
        body = f"{action} {detail.get('encapsulation', '')}".rstrip()
    elif kind == "drop":
        body = f"{action}: {detail.get('reason') or step['text']}"
    else:
        body = action or step["text"]
    return f"{kind} {body}" + (f" [{step['diff']}]" if step["diff"] else "")


def _value(v: Any) -> str:
    if isinstance(v, dict):  # an ICMP error's quoted header
        return f"[{v.get('protocol')} {_endpoint(v, 'src')} → {_endpoint(v, 'dst')}]"
    return hex(v) if isinstance(v, int) and v > 0xFF and v & 0xFF == 0 else str(v)


def _deciding(steps: list[dict]) -> list[int]:
    """Indexes of the steps that decided something at this hop: a rewrite, a final verdict, a policy, a delivery."""
    out = []
    for i, s in enumerate(steps):
        if s["diff"] or s["kind"] in ("nat", "drop", "policy", "deliver", "encapsulation", "dns") or \
                s["action"] in ("DROP", "REJECT", "DNAT", "SNAT", "MASQUERADE"):
            out.append(i)
    return out


def _walk(data: dict, pic, label: str) -> dict:
    """One trace dict -> what the script needs: hops with packet labels, changed fields, steps, hooks, the path
    the dot follows from the previous hop, and the boxes to light up."""
    hops = []
    prev = None
    for hop in data.get("hops", ()):
        pin, pout = hop.get("packet_in"), hop.get("packet_out") or hop.get("packet_in")
        steps, hooks = _steps(hop)
        changed = [k for k in ("src", "sport", "dst", "dport") if pin and pout and pin.get(k) != pout.get(k)]
        path = (pic.route(prev["host"], prev.get("out_iface"), hop["host"], hop.get("in_iface")) if prev
                else [pic.hosts[hop["host"]].center] if hop["host"] in pic.hosts else [])
        entries = [s["text"] for s in steps if s["kind"] == "conntrack" and s["text"]]
        hops.append({
            "host": hop["host"], "kind": hop.get("host_kind", ""), "in": hop.get("in_iface"),
            "out": hop.get("out_iface"), "path_kind": hop.get("path"),
            "src": _endpoint(pin, "src"), "dst": _endpoint(pin, "dst"), "proto": (pin or {}).get("protocol", ""),
            "flags": (pin or {}).get("tcp_flags") or "",
            "out_src": _endpoint(pout, "src"), "out_dst": _endpoint(pout, "dst"), "changed": changed,
            "steps": steps, "hooks": hooks, "deciding": _deciding(steps),
            "conntrack": entries[-1] if entries else "",
            "route": next((f"{s['text']} ⇒ {s['action']}" for s in steps if s["kind"] == "route"), ""),
            "points": [[round(x, 1), round(y, 1)] for x, y in path],
            "keys": _keys(pic, hop["host"]), "vip": pic.services.get((pin or {}).get("dst", ""), ""),
            "tables": {k: v["tables"] for k, v in hop_flow(hop).hooks.items()},
        })
        prev = hop
    verdict = data.get("verdict", "")
    end = (f"{verdict}: delivered to {data.get('delivered_to')}, source seen {data.get('source_seen')}"
           if data.get("delivered_to") else f"{verdict}: {data.get('reason', '')}")
    dns = [s.get("text", "") + (f" → {s.get('action')}" if s.get("action") else "") for s in data.get("dns", ())]
    return {"label": label, "hops": hops, "end": end, "verdict": verdict, "dns": dns,
            "notes": list(data.get("notes", ())), "origin": data.get("origin", "kplab")}


def _keys(pic, host: str) -> list[str]:
    keys = [f"pod:{host}", f"node:{host}", f"kernel:{host}", f"host:{host}"]
    present = {b.key for b, _, _ in pic.boxes}
    return [k for k in keys if k in present]


def _outcome_key(verdict, delivered_to, hosts) -> tuple:
    return (verdict, delivered_to, tuple(hosts))


def player_data(trace, pic, branches=()) -> dict:
    """The JSON the player embeds: the walk the seed chose, its reply, and every outcome with its probability —
    with its own walk when `branches` ((probability, Trace) pairs, kplab.walk.branches) holds one."""
    data = trace.to_dict()
    title = f"{data.get('source', '')} → {data.get('destination', '')}"
    main = _walk(data, pic, "this trace")
    reply = _walk(data["reply"], pic, "reply") if data.get("reply") else None
    walks = {}
    for _, t in branches:
        td = t.to_dict()
        key = _outcome_key(td["verdict"], td["delivered_to"], [h["host"] for h in td["hops"]])
        if key not in walks:
            walk = _walk(td, pic, "")
            walk["reply"] = _walk(td["reply"], pic, "reply") if td.get("reply") else None
            walks[key] = walk
    outcomes = []
    for od in data.get("outcomes", ()):
        prob = Fraction(str(od["probability"]))
        outcomes.append({"probability": _frac(prob), "percent": f"{float(prob):.0%}", "verdict": od.get("verdict"),
                         "delivered_to": od.get("delivered_to"), "source_seen": od.get("source_seen"),
                         "walk": walks.get(_outcome_key(od.get("verdict"), od.get("delivered_to"), od.get("hosts", ())))})
    origin = data.get("origin", "kplab")
    return {"title": title, "main": main, "reply": reply, "outcomes": outcomes, "origin": origin,
            "origin_text": ORIGIN_TEXT[origin], "choice": _choice(data),
            "flow": {"edges": {k: list(v) for k, v in PATH_EDGES.items()}, "hooks": {k: list(v) for k, v in PATH_HOOKS.items()}},
            "simplified": SIMPLIFIED[origin]}


ORIGIN_TEXT = {"kplab": "simulated by kplab", "kernel": "observed in the Linux kernel"}
SIMPLIFIED = {
    "kplab": "kplab models no ARP, no TCP retransmission and no MTU: one packet, hop by hop.",
    "kernel": "The Linux kernel's own trace of the connection's first packet (nftrace events in the lab's network "
              "namespaces), shown in kplab's terms.",
}


def _choice(data: dict) -> dict:
    """The outcome menu's first entry — the walk shown — and why it is that one."""
    if data.get("origin") == "kernel":
        return {"text": "as the kernel did it", "title": "the walk the Linux kernel reported for a real connection"}
    seed = data.get("seed")
    if seed is None:
        return {"text": "this walk", "title": "one branch of the rules' random choices"}
    return {"text": f"the walk seed {seed} picks",
            "title": f"Where the rules choose at random (-m statistic), kplab walks every choice; seed {seed} "
                     "picks the one shown first. Every outcome is listed below with its probability."}


# ---- side by side: two walks of one connection (kplab's and the Linux kernel's), hop by hop ------------------

COMPARED = "rule, nat, policy, deliver, drop"  # the kinds every kernel trace reports (kplab.lab.kerneltrace)


def _step_keys(hop) -> list[tuple]:
    """What must agree for two steps to be the same decision: for netfilter rules the differential's own key
    (kplab.lab.kerneltrace.hop_chain: table, chain, rule number | end | policy, verdict class); for the other
    kinds the decision they made (the route's interface, conntrack's state, the link's port ...)."""
    from kplab.lab.kerneltrace import hop_chain, rule_steps
    rules = {id(s): ("rule",) + key for s, key in zip(rule_steps(hop), hop_chain(hop))}
    keys = []
    for s in hop.steps:
        if id(s) in rules:
            keys.append(rules[id(s)])
        elif s.kind == "route":
            keys.append(("route", s.detail.out_iface))
        elif s.kind == "link":
            keys.append(("link", s.detail.port))
        elif s.kind == "encapsulation":
            keys.append(("encapsulation", s.action, s.detail.encapsulation))
        elif s.kind in ("deliver", "drop"):
            keys.append((s.kind, s.action))
        else:
            keys.append((s.kind, s.action))
    return keys


def _addr(text: str | None, keep_port: bool) -> str | None:
    if text is None or keep_port:
        return text
    return text.rsplit(":", 1)[0] if ":" in text else text


def _fields(s, k, client: str) -> list[dict]:
    """The fields of two steps with the same key that still differ: (name, kplab's value, the kernel's). The
    client's own port is left out (the kernel and MASQUERADE --random-fully choose it: compare.py)."""
    out = []

    def differ(name, a, b):
        if a != b:
            out.append({"name": name, "s": "" if a is None else str(a), "k": "" if b is None else str(b)})
    if s.diff or k.diff:
        def changes(step):
            return {f: _value(new.to_dict() if hasattr(new, "to_dict") else new)
                    for f, _, new in step.diff.changes if f not in (client, "mark")}
        a, b = changes(s), changes(k)
        for f in dict.fromkeys(list(a) + list(b)):
            differ(f"{f} after", a.get(f), b.get(f))
    if s.kind == "route":
        differ("next hop", s.detail.next_hop, k.detail.next_hop)
        differ("route", s.action, k.action)
    if s.kind == "deliver":
        differ("to", _addr(s.detail.address, client != "dport"), _addr(k.detail.address, client != "dport"))
        differ("source seen", _addr(s.detail.source_seen, False), _addr(k.detail.source_seen, False))
    return out


def _align(a: list, b: list) -> list[tuple[int | None, int | None]]:
    """Index pairs of two sequences in order: equal runs paired, replaced runs paired one to one, the rest alone."""
    from difflib import SequenceMatcher
    pairs: list[tuple[int | None, int | None]] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        n = max(i2 - i1, j2 - j1)
        for x in range(n):
            i = i1 + x if i1 + x < i2 else None
            j = j1 + x if j1 + x < j2 else None
            pairs.append((i, j))
    return pairs


def _pair_steps(sh, kh, sim_steps, ker_steps, reported: set, client: str) -> list[dict]:
    """One hop's steps side by side: same (the same decision), differ (the same kind of step, another decision
    or another field), kplab / kernel (only one side took it), unreported (a kind the kernel's trace never
    reports, such as route lookups while it reports rules only: shown, not counted)."""
    skeys, kkeys = _step_keys(sh), _step_keys(kh)
    shown = [i for i, s in enumerate(sh.steps) if s.kind in reported]
    pairs = _align([skeys[i] for i in shown], kkeys)
    pairs = [(shown[i] if i is not None else None, j) for i, j in pairs]
    rows: list[dict] = []
    queue = list(pairs)
    for i, s in enumerate(sh.steps):
        if s.kind not in reported:
            rows.append({"state": "unreported", "s": _short(sim_steps[i]["label"]), "k": "", "fields": []})
            continue
        while queue:
            si, ki = queue.pop(0)
            rows.append(_step_row(sh, kh, si, ki, sim_steps, ker_steps, skeys, kkeys, client))
            if si == i:
                break
    for si, ki in queue:
        rows.append(_step_row(sh, kh, si, ki, sim_steps, ker_steps, skeys, kkeys, client))
    return rows


KEY_FIELDS = {"rule": ("table", "chain", "rule number", "verdict"), "route": ("out",), "link": ("port",),
              "encapsulation": ("action", "tunnel"), "conntrack": ("state",), "deliver": ("action",),
              "drop": ("action",)}


def _short(label: str) -> str:
    """A step's label without the word "rule" (side by side, every other line is a rule), and a NAT rule's without
    its kind where the table already says it ("nat nat/KUBE-SEP-…#2 DNAT" reads "nat/KUBE-SEP-…#2 DNAT")."""
    return label[5:] if label.startswith("rule ") else label[4:] if label.startswith("nat nat/") else label


BOOKKEEPING = ("conntrack", "link")  # one side alone: shown, not counted (see _step_row)


def _step_row(sh, kh, si, ki, sim_steps, ker_steps, skeys, kkeys, client) -> dict:
    if si is None or ki is None:
        # A conntrack record or a link step on one side only is bookkeeping, not a decision: the kernel reports
        # entry updates kplab folds into the state it names. (Both track in the same namespaces, those whose rules
        # need conntrack: kplab.netfilter.stack.uses_conntrack.) Shown, marked, not counted.
        step = sh.steps[si] if si is not None else kh.steps[ki]
        alone = step.kind in BOOKKEEPING
        return {"state": ("alone-" if alone else "") + ("kernel" if si is None else "kplab"),
                "s": _short(sim_steps[si]["label"]) if si is not None else "",
                "k": _short(ker_steps[ki]["label"]) if ki is not None else "", "fields": []}
    a, b = skeys[si], kkeys[ki]
    if a == b:
        fields = _fields(sh.steps[si], kh.steps[ki], client)
    elif a[0] == b[0]:  # the same kind of step, another decision: name what differs
        names = KEY_FIELDS.get(a[0], ())
        fields = [{"name": n, "s": str(x), "k": str(y)} for n, x, y in zip(names, a[1:], b[1:]) if x != y]
    else:
        fields = []
    state = "same" if a == b and not fields else "differ"
    return {"state": state, "s": _short(sim_steps[si]["label"]), "k": _short(ker_steps[ki]["label"]),
            "fields": fields}


def _packet(flow, client: str) -> dict:
    """A header's compared fields: addresses and the server's port (not the client's)."""
    if flow is None:
        return {}
    return {f: getattr(flow, f) for f in ("src", "sport", "dst", "dport") if f != client}


def _pair_walks(sim, ker, sim_walk: dict, ker_walk: dict, reported: set, client: str) -> dict:
    """Two walks of one packet, hop by hop (hops aligned by host): for each row the two hops' indexes, the hop
    fields that differ and the steps side by side; then how each ended."""
    rows = []
    for si, ki in _align([h.host for h in sim.hops], [h.host for h in ker.hops]):
        sh = sim.hops[si] if si is not None else None
        kh = ker.hops[ki] if ki is not None else None
        fields = []
        if sh is not None and kh is not None:
            for name, a, b in (("host", sh.host, kh.host), ("in", sh.in_iface, kh.in_iface),
                               ("out", sh.out_iface, kh.out_iface), ("path", sh.path, kh.path)):
                if a != b:
                    fields.append(name)
            pa, pb = _packet(sh.packet_in, client), _packet(kh.packet_in, client)
            fields += [f"in {f}" for f in pa if pa[f] != pb.get(f)]
            pa, pb = _packet(sh.packet_out, client), _packet(kh.packet_out, client)
            if pa and pb:
                fields += [f"out {f}" for f in pa if pa[f] != pb.get(f)]
            steps = _pair_steps(sh, kh, sim_walk["hops"][si]["steps"], ker_walk["hops"][ki]["steps"], reported,
                                client)
        else:
            one = sim_walk["hops"][si]["steps"] if sh is not None else ker_walk["hops"][ki]["steps"]
            steps = [{"state": "kplab" if sh is not None else "kernel", "s": _short(st["label"]) if sh is not None
                      else "", "k": _short(st["label"]) if kh is not None else "", "fields": []} for st in one]
            fields.append("host")
        differences = len(fields) + sum(1 for r in steps if r["state"] in ("differ", "kplab", "kernel"))
        rows.append({"s": si, "k": ki, "fields": fields, "steps": steps, "differences": differences})
    ends = {"kplab": _ending(sim), "kernel": _ending(ker)}
    same_end = ends["kplab"] == ends["kernel"]
    return {"rows": rows, "ends": ends, "same_end": same_end,
            "differences": sum(r["differences"] for r in rows) + (0 if same_end else 1)}


def _ending(t) -> str:
    if t.verdict == "ACCEPT" and t.delivered_to:
        return f"ACCEPT: delivered to {t.delivered_to}, source seen {_addr(t.source_seen, False)}"
    return t.verdict


def _reported(kernel) -> set:
    """The step kinds the kernel's trace reports: those it holds anywhere, and always the rules and the ending."""
    kinds = {"rule", "nat", "policy", "deliver", "drop"}
    t = kernel
    while t is not None:
        kinds |= {s.kind for h in t.hops for s in h.steps}
        t = t.reply
    return kinds


def compare_data(simulated, kernel, pic, verdict=None) -> dict:
    """The JSON the side-by-side player embeds: both walks (each as the single player has it), their rows side by
    side, the reply's when both have one, and the tally of real connections (`verdict`, kplab.lab.compare)."""
    reported = _reported(kernel)
    sd, kd = simulated.to_dict(), kernel.to_dict()
    sim_walk, ker_walk = _walk(sd, pic, "kplab"), _walk(kd, pic, "kernel")
    main = _pair_walks(simulated, kernel, sim_walk, ker_walk, reported, "sport")
    main.update({"kplab": sim_walk, "kernel": ker_walk})
    reply = None
    if simulated.reply is not None and kernel.reply is not None:
        sr, kr = _walk(sd["reply"], pic, "reply"), _walk(kd["reply"], pic, "reply")
        reply = _pair_walks(simulated.reply, kernel.reply, sr, kr, reported, "dport")
        reply.update({"kplab": sr, "kernel": kr})
    unreported = sorted({s.kind for h in simulated.hops for s in h.steps} - reported)
    return {"main": main, "reply": reply, "tally": str(verdict) if verdict is not None else "",
            "origins": [sd.get("origin", "kplab"), kd.get("origin", "kplab")],
            "unreported": unreported,
            "no_reply": "" if reply else ("the kernel's trace has no reply" if simulated.reply is not None
                                          else "the simulator's trace has no reply (trace with reply=True)")}


def _picture_for(data: dict, cluster, picture, options, network=None):
    """The picture given; else the cluster's (as asked, or the one the trace was walked on: its Network's
    cluster and topology); else one of the trace's own hosts (a trace read from JSON)."""
    from kplab.views.picture import picture as draw, trace_picture
    if picture is not None:
        return picture
    outside = tuple(dict.fromkeys(h["host"] for h in _all_hops(data) if h.get("host_kind") == "outside"))
    if cluster is None and network is not None:
        return draw(network.cluster, outside=outside, topology=network.topology)
    if cluster is None:
        return trace_picture(data)
    return draw(cluster, outside=outside, **options)


def _all_hops(data: dict):
    yield from data.get("hops", ())
    if data.get("reply"):
        yield from _all_hops(data["reply"])


class Player:
    """The player for one trace. `html` is the standalone document; `_repr_html_` wraps it in an iframe."""

    def __init__(self, data: dict, pic, size: str = "normal"):
        self.data = data
        self.picture = pic
        self.size = size

    @property
    def html(self) -> str:
        pic = self.picture
        payload = json.dumps(self.data, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")
        # never narrower than keeps the picture's text >= 12 px: the card column wraps below instead
        pic_min = max(480, int(pic.width * MIN_TEXT_SCALE))
        scale = 1.25 if self.size == "presentation" else 1.0
        title = html.escape(self.data["title"])
        return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>kplab trace {title}</title><style>{PLAYER_CSS}"
                f".kp .pic{{flex:1 0 {pic_min}px}} .kp{{font-size:{15 * scale:.0f}px}}</style></head>\n"
                f'<body><div class="kp" data-testid="player" tabindex="0">'
                f'<div class="head"><span class="title">{title}</span>{self._origin_badges()}'
                f'<span class="counter" data-testid="hop-counter"></span>'
                f'<div class="packet" data-testid="packet-label"></div></div>'
                f'<div class="controls">'
                f'<button data-testid="first" title="first hop (Home)">|◀</button>'
                f'<button data-testid="back" title="step back (←)">◀ back</button>'
                f'<button data-testid="play" class="play" title="play / pause (space)">{PLAY_ICON} play</button>'
                f'<button data-testid="step" title="step forward (→)">step ▶</button>'
                f'<button data-testid="last" title="last hop (End)">▶|</button>'
                f'<label>speed <select data-testid="speed"><option value="0.5">0.5×</option>'
                f'<option value="1" selected>1×</option><option value="2">2×</option></select></label>'
                f'<label class="replyl"><input type="checkbox" data-testid="reply"> reply</label>'
                f'<label>outcome <select data-testid="outcome"></select></label></div>'
                f'<div class="main"><div class="pic">{pic.svg}</div>'
                f'<div class="side"><div class="card" data-testid="hop-card"></div>'
                f'<ol class="events" data-testid="event-list"></ol>'
                f'<details class="flowp" data-testid="flow-panel"><summary>netfilter flow at this hop</summary>'
                f"{flow_svg()}</details></div></div>"
                f'<div class="foot"></div></div>'
                f'<script type="application/json" id="kplab-trace">{payload}</script>'
                f"<script>{PLAYER_JS}</script></body></html>\n")

    def _origin_badges(self) -> str:
        """Who reported the walk shown: simulated by kplab, or observed in the Linux kernel."""
        if self.data.get("compare"):
            c = self.data["compare"]
            left, right = c["origins"]
            names = self.data["origin_names"]
            n = c["main"]["differences"]
            agree = ('<span class="badge ok" data-testid="verdict-badge">agree</span>' if not n else
                     f'<span class="badge bad" data-testid="verdict-badge">{n} difference{"s" if n > 1 else ""}</span>')
            return (f'<span class="origin {left}" data-testid="origin">{html.escape(names[0])}</span>'
                    f'<span class="vs">beside</span>'
                    f'<span class="origin {right}" data-testid="origin-right">{html.escape(names[1])}</span>{agree}')
        o = self.data["origin"]
        return f'<span class="origin {o}" data-testid="origin">{html.escape(self.data["origin_text"])}</span>'

    def _repr_html_(self) -> str:
        # An iframe keeps the player's script and styles apart from the notebook's; srcdoc needs no file or server,
        # and scripts run in JupyterLab, in nbconvert's HTML export and in a browser alike.
        doc = html.escape(self.html, quote=True)
        return (f'<iframe class="kplab-player" srcdoc="{doc}" style="width:100%;height:700px;border:0" '
                f'title="kplab trace player" loading="eager"></iframe>')

    def save(self, path: str | os.PathLike) -> Path:
        """Write the standalone document atomically (a temporary file beside it, then a rename)."""
        return write_atomically(Path(path), self.html)


def write_atomically(path: Path, text: str) -> Path:
    """Write the page to a temporary file beside the target, then rename it over the target: never a half-written
    page. Only a regular file (or a new name) is written: a FIFO, a device or a folder is refused rather than
    replaced; a symbolic link is followed to the file it names, as a shell's `>` would. The page gets the usual
    mode (0666 less the umask, or the mode of the file it replaces). KplabError on failure."""
    target = Path(os.path.realpath(path))
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise KplabError(f"{path}: cannot write ({e.strerror})") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise KplabError(f"{path}: not a regular file (kplab writes the page only to a regular file)")
    if st is not None and not os.access(target, os.W_OK):
        raise KplabError(f"{path}: cannot write (Permission denied)")
    folder = target.parent
    if not folder.is_dir():
        raise KplabError(f"{path}: folder {folder} does not exist")
    if st is not None:
        mode = stat.S_IMODE(st.st_mode)
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    try:
        fd, tmp = tempfile.mkstemp(prefix=".kplab-", suffix=".html", dir=folder)
    except OSError as e:
        raise KplabError(f"{path}: cannot write ({e.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            os.fchmod(fh.fileno(), mode)
        os.replace(tmp, target)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise KplabError(f"{path}: cannot write ({e.strerror})") from None
    return path


def play(trace, cluster=None, picture=None, branches=None, size: str = "normal", compare=None, verdict=None,
         **options) -> Player:
    """The player for `trace` (a kplab Trace: simulated by kplab, or observed in the Linux kernel by kplab.lab).

    The picture is `picture` when given; else the cluster's (kplab.views.picture): `cluster` — the one the trace
    ran on — with `options` (cni=, overlay=, layout=, ...) as the trace was run, or by default the cluster and
    topology the trace was walked on (`trace.network`, set by kplab.trace and the lab); else, for a trace read
    from JSON, a picture of the trace's own hosts. `branches` ((probability, Trace) pairs) lets every outcome be
    played; without them they are walked here (kplab.walk.branches) when the trace's ends can be walked again.
    `size="presentation"` enlarges the text for a projector.

    `compare`: another Trace of the same connection — the Linux kernel's (kplab.lab) beside kplab's — plays both
    side by side, stepping together hop by hop, kplab's on the left, each differing field and step highlighted
    and an "agree" badge where they match (compare_data); `verdict` (kplab.lab.compare.Verdict) adds the tally of
    the real connections. KplabError for an unknown size."""
    if size not in ("normal", "presentation"):
        raise KplabError(f"player size {size!r}: normal or presentation")
    if compare is not None:
        return _side_by_side(trace, compare, cluster, picture, size, verdict, options)
    data = trace.to_dict()
    network = getattr(trace, "network", None)
    pic = _picture_for(data, cluster, picture, {k: v for k, v in options.items() if k in ("cni", "overlay")},
                       network)
    if branches is None and len(data.get("outcomes", ())) > 1:
        branches = _branches(cluster, network, data, options)
    return Player(player_data(trace, pic, branches or ()), pic, size)


def _side_by_side(trace, other, cluster, picture, size: str, verdict, options) -> Player:
    """The side-by-side player: kplab's walk left (whichever of the two it is), the other right."""
    sim, ker = (other, trace) if trace.origin != "kplab" and other.origin == "kplab" else (trace, other)
    sd, kd = sim.to_dict(), ker.to_dict()
    both = {"hops": list(_all_hops(sd)) + list(_all_hops(kd))}
    network = getattr(sim, "network", None) or getattr(ker, "network", None)
    pic = _picture_for(both, cluster, picture, {k: v for k, v in options.items() if k in ("cni", "overlay")},
                       network)
    compare = compare_data(sim, ker, pic, verdict)
    compare["ports"] = ("Client ports are not compared: the client's kernel (and MASQUERADE --random-fully) "
                        "chooses them.")
    empty = {"label": "", "hops": [], "end": "", "verdict": sd["verdict"], "dns": [], "notes": [], "origin": "kplab"}
    data = {"title": f"{sd.get('source', '')} → {sd.get('destination', '')}", "main": empty, "reply": None,
            "outcomes": [], "origin": sd.get("origin", "kplab"), "origin_text": "side by side",
            "origin_names": [ORIGIN_TEXT[sd.get("origin", "kplab")], ORIGIN_TEXT[kd.get("origin", "kplab")]],
            "choice": {"text": "", "title": ""}, "compare": compare,
            "flow": {"edges": {k: list(v) for k, v in PATH_EDGES.items()},
                     "hooks": {k: list(v) for k, v in PATH_HOOKS.items()}},
            "simplified": ""}
    return Player(data, pic, size)


def _branches(cluster, network, data: dict, options) -> tuple:
    """Every branch of the same walk — over `cluster` with `options`, else over the Network the trace was walked
    on — or none when the trace's ends cannot be named again (a trace read back from JSON of another cluster):
    the outcome list then shows probabilities without their walks."""
    from kplab.walk import branches
    from kplab.walk.walker import run_branches
    packet = data["packet"]
    reply = data.get("reply") is not None and bool(data["reply"].get("hops")) and data.get("verdict") == "ACCEPT"
    ask = dict(port=packet.get("dport"), protocol=packet.get("protocol", "tcp"), reply=reply)
    try:
        if cluster is not None:
            return branches(cluster, data["source"], data["destination"], **ask, **options)
        if network is not None:
            return run_branches(network, data["source"], data["destination"], **ask)
    except KplabError:
        pass
    return ()


# Inline SVG icons: they draw the same everywhere (the pause glyph U+23F8 is in few fonts).
PLAY_ICON = ('<svg class="ico" viewBox="0 0 10 10" aria-hidden="true"><path d="M2 1 L9 5 L2 9 Z" '
             'fill="currentColor"/></svg>')
PAUSE_ICON = ('<svg class="ico" viewBox="0 0 10 10" aria-hidden="true"><rect x="1.5" y="1" width="2.6" height="8" '
              'fill="currentColor"/><rect x="5.9" y="1" width="2.6" height="8" fill="currentColor"/></svg>')

PLAYER_CSS = """
body{margin:0;background:#fff}
.kp{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;color:#1b2631;padding:6px 8px;outline:none}
.kp .head{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 16px}
.kp .title{font-weight:bold}
.kp .counter{background:#1f4e79;color:#fff;border-radius:4px;padding:1px 8px}
.kp .origin{border-radius:4px;padding:1px 8px;font-weight:bold;border:2px solid}
.kp .origin.kplab{color:#8a3b00;border-color:#d35400;background:#fff4ea}
.kp .origin.kernel{color:#0b4f6c;border-color:#1479a8;background:#e8f4fa}
.kp .ico{width:.8em;height:.8em;vertical-align:-.05em}
.kp .vs{color:#5d6d7e}
.kp .badge{border-radius:10px;padding:0 8px;font-weight:bold;font-size:.9em;white-space:nowrap}
.kp .badge.ok{background:#1e8449;color:#fff}
.kp .badge.bad{background:#b71c1c;color:#fff}
.kp .who{display:inline-block;min-width:4.4em;font-weight:bold;border-radius:3px;padding:0 4px;margin-right:2px}
.kp .who.kplab{color:#8a3b00;background:#fff4ea}
.kp .who.kernel{color:#0b4f6c;background:#e8f4fa}
.kp.cmp .side{flex:1 1 440px}
.kp.cmp .flowp{display:none}
.kp .cmph{margin-bottom:4px}
.kp .grid{display:grid;grid-template-columns:1.2em 1fr 1fr;gap:1px 6px;font-size:.9em;max-height:420px;overflow:auto}
.kp .grid .ch{font-weight:bold;position:sticky;top:0;background:#f8fbfe;padding-bottom:2px}
.kp .grid .ch.kplab{color:#8a3b00}
.kp .grid .ch.kernel{color:#0b4f6c}
.kp .grid .c{word-break:break-word;padding:0 3px}
.kp .grid .m{text-align:center;font-weight:bold}
.kp .grid .m.st-same{color:#1e8449}
.kp .grid .st-differ,.kp .grid .st-kplab,.kp .grid .st-kernel{background:#fde2e2}
.kp .grid .m.st-differ,.kp .grid .m.st-kplab,.kp .grid .m.st-kernel{color:#b71c1c}
.kp .grid .st-unreported,.kp .grid .st-alone-kplab,.kp .grid .st-alone-kernel{color:#7f8c8d}
.kp .bad{background:#f5b7b1;color:#7b1111;font-weight:bold;border-radius:2px}
.kp .tally{margin:4px 0 0;font:inherit;font-size:.9em;white-space:pre-wrap}
.kp svg .kdot{fill:none;stroke:#1479a8;stroke-width:4}
.kp.kernel-origin svg .dot{fill:#1479a8}
.kp.kernel-origin svg .trail{stroke:#1479a8}
.kp svg .ktrail{stroke:#1479a8;stroke-dasharray:3 6}
.kp .packet{flex-basis:100%;font-size:1.07em;margin-top:2px}
.kp .packet .chg{background:#ffd7a8;color:#8a3b00;font-weight:bold;border-radius:3px;padding:0 2px}
.kp .controls{display:flex;flex-wrap:wrap;gap:6px 10px;align-items:center;margin:6px 0}
.kp button,.kp select{font:inherit;font-size:.93em;padding:3px 10px;border:1px solid #8aa1b8;border-radius:4px;
 background:#f3f6f9;cursor:pointer}
.kp button.play{background:#1f4e79;color:#fff;min-width:7.5em}
.kp button:disabled,.kp select:disabled{opacity:.45;cursor:default}
.kp label{white-space:nowrap}
.kp .main{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
.kp .pic{min-width:0}
.kp .side{flex:1 1 %SIDE%px;min-width:0;display:flex;flex-direction:column;gap:8px}
.kp .card{border:2px solid #1f4e79;border-radius:6px;padding:6px 10px;background:#f8fbfe}
.kp .card h3{margin:0 0 4px;font-size:1.05em}
.kp .card .row{margin:3px 0}
.kp .card .k{color:#5d6d7e}
.kp .card .rule{background:#fff;border-left:4px solid #d35400;padding:2px 6px;margin:3px 0;word-break:break-word}
.kp .card .diff{color:#8a3b00;font-weight:bold}
.kp .card .hook{font-weight:bold;color:#1f4e79}
.kp .events{margin:0;padding:0 0 0 2.6em;max-height:260px;overflow:auto;border:1px solid #d5dde5;border-radius:6px}
.kp .events li{cursor:pointer;padding:1px 4px;word-break:break-word}
.kp .events li.hop{font-weight:bold;margin-top:3px}
.kp .events li.step{list-style:none;color:#34495e;font-size:.93em}
.kp .events li.cur{background:#ffe8d1}
.kp .events li.dec{color:#8a3b00}
.kp .foot{margin-top:6px;color:#34495e}
.kp .flowp summary{cursor:pointer;color:#1f4e79}
.kp .verdict-ACCEPT{color:#1e8449;font-weight:bold}
.kp .verdict-DROP,.kp .verdict-REJECT{color:#b71c1c;font-weight:bold}
.kp svg .lit{fill:#ffe0c2 !important;stroke:#d35400 !important;stroke-width:3 !important}
.kp svg .lit-edge{stroke:#d35400 !important;stroke-width:3 !important}
.kp svg .trail{fill:none;stroke:#d35400;stroke-width:4;stroke-dasharray:8 5;opacity:.8}
.kp svg .dot{fill:#d35400;stroke:#fff;stroke-width:2}
""".replace("%SIDE%", str(SIDE_PX))

PLAYER_JS = r"""
(function () {
  "use strict";
  var root = document.querySelector('[data-testid=player]');
  var D = JSON.parse(document.getElementById('kplab-trace').textContent);
  var ICONS = %ICONS%;
  var svg = root.querySelector('.pic svg');
  var layer = svg.querySelector('.overlay-layer');
  var NS = 'http://www.w3.org/2000/svg';
  var $ = function (id) { return root.querySelector('[data-testid=' + id + ']'); };
  var esc = function (s) { return String(s == null ? '' : s).replace(/[&<>"]/g, function (c) {
    return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]; }); };
  var state = {walk: D.main, base: D.main, i: 0, playing: false, timer: null, speed: 1, anim: null, kanim: null,
               cmp: D.compare ? D.compare.main : null};

  var trail = document.createElementNS(NS, 'polyline'); trail.setAttribute('class', 'trail');
  (svg.querySelector('.trail-layer') || layer).appendChild(trail);
  var dot = document.createElementNS(NS, 'circle'); dot.setAttribute('class', 'dot'); dot.setAttribute('r', 7);
  dot.setAttribute('data-testid', 'packet-dot'); layer.appendChild(dot);
  // ---- side by side: kplab's walk and the kernel's, one row (an aligned hop) at a time ----------------------
  var C = D.compare;
  var kdot = null, ktrail = null;
  if (D.origin === 'kernel' && !C) root.classList.add('kernel-origin');
  if (C) {
    root.classList.add('cmp');
    ktrail = document.createElementNS(NS, 'polyline'); ktrail.setAttribute('class', 'trail ktrail');
    (svg.querySelector('.trail-layer') || layer).appendChild(ktrail);
    kdot = document.createElementNS(NS, 'circle'); kdot.setAttribute('class', 'kdot'); kdot.setAttribute('r', 12);
    kdot.setAttribute('data-testid', 'kernel-dot'); layer.appendChild(kdot);
  }

  function place(d, p) { if (p) { d.setAttribute('cx', p[0]); d.setAttribute('cy', p[1]); } }
  function hop() { return state.walk.hops[state.i]; }
  function count() { return state.cmp ? state.cmp.rows.length : state.walk.hops.length; }
  function stay(d, key, points) {
    if (state[key]) cancelAnimationFrame(state[key]); state[key] = null; place(d, points[points.length - 1]); }

  function animate(d, key, points, done) {
    if (state[key]) cancelAnimationFrame(state[key]);
    if (!points || points.length < 2) { place(d, points && points[points.length - 1]); done(); return; }
    var lens = [], total = 0;
    for (var k = 1; k < points.length; k++) {
      var l = Math.hypot(points[k][0] - points[k - 1][0], points[k][1] - points[k - 1][1]); lens.push(l); total += l; }
    var ms = Math.min(1100, 250 + total * 0.9) / state.speed, t0 = null;
    function frame(ts) {
      if (t0 === null) t0 = ts;
      var f = Math.min(1, (ts - t0) / ms), want = f * total, k = 0;
      while (k < lens.length - 1 && want > lens[k]) { want -= lens[k]; k++; }
      var a = points[k], b = points[k + 1], r = lens[k] ? Math.min(1, want / lens[k]) : 1;
      place(d, [a[0] + (b[0] - a[0]) * r, a[1] + (b[1] - a[1]) * r]);
      if (f < 1) state[key] = requestAnimationFrame(frame); else { state[key] = null; done(); }
    }
    state[key] = requestAnimationFrame(frame);
  }

  function packetHtml(h) {
    var chg = {}; h.changed.forEach(function (c) { chg[c] = true; });
    function side(txt, a, b) {
      var parts = String(txt).split(':'), ip = esc(parts[0]), port = parts.length > 1 ? esc(parts[1]) : null;
      if (chg[a]) ip = '<span class="chg">' + ip + '</span>';
      if (port !== null && chg[b]) port = '<span class="chg">' + port + '</span>';
      return port === null ? ip : ip + ':' + port;
    }
    var flags = h.flags ? ' [' + esc(h.flags) + ']' : '';
    var s = esc(h.proto) + ' ' + esc(h.src) + ' → ' + esc(h.dst) + flags;
    if (h.changed.length) s += ' &nbsp;⇒ leaves as ' + side(h.out_src, 'src', 'sport') + ' → ' + side(h.out_dst, 'dst', 'dport');
    return s;
  }

  function cardHtml(h) {
    var out = '<h3>' + esc(h.host) + ' <span class="k">(' + esc(h.kind) + ')</span></h3>';
    out += '<div class="row"><span class="k">in</span> ' + esc(h['in'] || '–') + ' <span class="k">out</span> ' +
      esc(h.out || '–') + (h.path_kind ? ' <span class="k">path</span> ' + esc(h.path_kind) : '') + '</div>';
    if (h.route) out += '<div class="row"><span class="k">route</span> ' + esc(h.route) + '</div>';
    h.hooks.forEach(function (k) {
      out += '<div class="row"><span class="hook">' + esc(k.hook) + '</span> ' + k.chains.map(esc).join(' → ') + '</div>'; });
    var dec = h.deciding.map(function (n) { return h.steps[n]; }).filter(function (s) { return s.kind !== 'conntrack'; });
    if (dec.length) {
      out += '<div class="row k">what decided</div>';
      dec.forEach(function (s) {
        out += '<div class="rule">' + (s.where ? '<span class="k">' + esc(s.where) + '</span> ' : '') + esc(s.text) +
          (s.action ? ' ⇒ <b>' + esc(s.action) + '</b>' : '') + (s.diff ? ' <span class="diff">[' + esc(s.diff) + ']</span>' : '') +
          (s.note && s.kind !== 'nat' && s.kind !== 'conntrack' ? ' <span class="k">(' + esc(s.note) + ')</span>' : '') + '</div>'; });
    }
    if (h.changed.length) out += '<div class="row"><span class="k">changed</span> <span class="diff">' +
      h.steps.filter(function (s) { return s.diff; }).map(function (s) { return esc(s.diff); }).join('; ') + '</span></div>';
    if (h.conntrack) out += '<div class="row"><span class="k">conntrack</span> ' + esc(h.conntrack) + '</div>';
    return out;
  }

  function events() {
    if (state.cmp) { cmpEvents(); return; }
    var ol = $('event-list'), html = '';
    state.walk.hops.forEach(function (h, i) {
      html += '<li class="hop" data-hop="' + i + '" value="' + (i + 1) + '">' + esc(h.host) + ' <span class="k">(' +
        esc(h.kind) + ')</span> ' + esc(h['in'] || '') + (h.out ? ' → ' + esc(h.out) : '') + '</li>';
      h.steps.forEach(function (s, n) {
        var d = h.deciding.indexOf(n) >= 0 ? ' dec' : '';
        html += '<li class="step' + d + '" data-hop="' + i + '">' + esc(s.label) + '</li>'; });
    });
    ol.innerHTML = html;
  }

  function light(h) {
    svg.querySelectorAll('.lit,.lit-edge').forEach(function (e) { e.classList.remove('lit', 'lit-edge'); });
    h.keys.concat(h.vip ? [h.vip] : []).forEach(function (k) {
      var e = svg.querySelector('[data-key="' + k.replace(/"/g, '\\"') + '"]');
      if (e) e.classList.add(k.indexOf('node:') === 0 ? 'lit-edge' : 'lit'); });
    var fsvg = root.querySelector('.kplab-flow-svg');
    if (fsvg) {
      fsvg.querySelectorAll('.lit,.path,.on').forEach(function (e) { e.classList.remove('lit', 'path', 'on'); });
      (D.flow.hooks[h.path_kind] || []).forEach(function (k) {
        var e = fsvg.querySelector('rect.hook[data-hook="' + k + '"]'); if (e) e.classList.add('path'); });
      (D.flow.edges[h.path_kind] || []).forEach(function (k) {
        var e = fsvg.querySelector('[data-edge="' + k + '"]'); if (e) e.classList.add('on'); });
      Object.keys(h.tables).forEach(function (k) {
        var e = fsvg.querySelector('rect.hook[data-hook="' + k + '"]'); if (e) e.classList.add('lit');
        h.tables[k].forEach(function (t) {
          var r = fsvg.querySelector('rect.table[data-hook="' + k + '"][data-table="' + t + '"]'); if (r) r.classList.add('on'); });
      });
    }
  }

  function show(moveFrom) {
    if (state.cmp) { cmpShow(moveFrom); scrollCur(); return; }
    var h = hop(), n = state.walk.hops.length;
    $('hop-counter').textContent = 'Hop ' + (state.i + 1) + '/' + n + (state.walk === state.reply ? ' (reply)' : '');
    $('packet-label').innerHTML = packetHtml(h);
    $('hop-card').innerHTML = cardHtml(h);
    light(h);
    var pts = [];
    for (var k = 1; k <= state.i; k++) pts = pts.concat(state.walk.hops[k].points);
    trail.setAttribute('points', pts.map(function (p) { return p.join(','); }).join(' '));
    root.querySelectorAll('.events li').forEach(function (li) {
      li.classList.toggle('cur', +li.getAttribute('data-hop') === state.i); });
    scrollCur();
    $('back').disabled = $('first').disabled = state.i === 0;
    $('step').disabled = $('last').disabled = state.i === n - 1;
    var foot = root.querySelector('.foot');
    foot.innerHTML = (state.i === n - 1 ? '<span class="verdict-' + esc(state.walk.verdict) + '">' + esc(state.walk.end) + '</span> · ' : '') +
      (state.walk.notes && state.walk.notes.length ? state.walk.notes.map(esc).join(' ') + ' · ' : '') +
      (state.walk.dns.length ? 'DNS: ' + state.walk.dns.map(esc).join('; ') + ' · ' : '') + esc(D.simplified);
    if (moveFrom !== undefined && moveFrom === state.i - 1) animate(dot, 'anim', h.points, function () {});
    else stay(dot, 'anim', h.points);
  }
  function scrollCur() {
    var cur = root.querySelector('.events li.hop.cur');
    if (cur) { var ol = $('event-list'); ol.scrollTop = cur.offsetTop - ol.offsetTop - 4; }
  }
  function badge(n) {
    return n ? '<span class="badge bad" data-testid="differ-badge">' + n + (n === 1 ? ' difference' : ' differences') + '</span>'
      : '<span class="badge ok" data-testid="agree-badge">agree</span>';
  }
  function span(text, bad) { return bad ? '<span class="bad">' + esc(text) + '</span>' : esc(text); }
  function packetSide(h, row, dir) {
    if (!h) return '<span class="k">–</span>';
    var bad = {}; row.fields.forEach(function (f) { bad[f] = true; });
    function ep(txt, a, b) {
      var parts = String(txt).split(':');
      return span(parts[0], bad[dir + ' ' + a]) + (parts.length > 1 ? ':' + span(parts[1], bad[dir + ' ' + b]) : '');
    }
    var src = dir === 'in' ? h.src : h.out_src, dst = dir === 'in' ? h.dst : h.out_dst;
    return ep(src, 'src', 'sport') + ' → ' + ep(dst, 'dst', 'dport');
  }
  function cmpCard(row) {
    var W = state.cmp, sh = row.s === null ? null : W.kplab.hops[row.s], kh = row.k === null ? null : W.kernel.hops[row.k];
    var bad = {}; row.fields.forEach(function (f) { bad[f] = true; });
    var h = sh || kh;
    var out = '<div class="cmph"><b>' + esc(h.host) + '</b> <span class="k">(' + esc(h.kind) + ')</span> ' + badge(row.differences) + '</div>';
    out += '<div class="grid"><div class="ch"></div><div class="ch kplab">' + esc(D.origin_names[0]) + '</div><div class="ch kernel">' +
      esc(D.origin_names[1]) + '</div>';
    function line(mark, cls, a, b) {
      out += '<div class="m st-' + cls + '">' + mark + '</div><div class="c st-' + cls + '" data-side="kplab">' + a +
        '</div><div class="c st-' + cls + '" data-side="kernel">' + b + '</div>';
    }
    function where(x) {
      if (!x) return '<span class="k">not on this side</span>';
      return esc(x.host) + ' <span class="k">in</span> ' + span(x['in'] || '–', bad['in']) + ' <span class="k">out</span> ' +
        span(x.out || '–', bad.out) + (x.path_kind ? ' <span class="k">path</span> ' + span(x.path_kind, bad.path) : '');
    }
    var hopBad = bad.host || bad['in'] || bad.out || bad.path;
    line(hopBad ? '≠' : '=', hopBad ? 'differ' : 'same', where(sh), where(kh));
    var pin = row.fields.some(function (f) { return f.indexOf('in ') === 0; });
    line(pin ? '≠' : '=', pin ? 'differ' : 'same', packetSide(sh, row, 'in'), packetSide(kh, row, 'in'));
    var pout = row.fields.some(function (f) { return f.indexOf('out ') === 0; });
    if ((sh && sh.changed.length) || (kh && kh.changed.length) || pout)
      line(pout ? '≠' : '=', pout ? 'differ' : 'same', sh ? '⇒ ' + packetSide(sh, row, 'out') : '', kh ? '⇒ ' + packetSide(kh, row, 'out') : '');
    row.steps.forEach(function (st) {
      var mark = {same: '=', differ: '≠', kplab: '≠', kernel: '≠', unreported: '·', 'alone-kplab': '·',
                  'alone-kernel': '·'}[st.state];
      var a = esc(st.s), b = esc(st.k);
      if (st.state === 'unreported') b = '<span class="k">not in the kernel’s trace</span>';
      else if (st.state === 'alone-kplab') b = '<span class="k">not in the kernel’s trace here</span>';
      else if (st.state === 'alone-kernel') a = '<span class="k">not in kplab’s walk</span>';
      else if (st.state === 'kplab') b = '<span class="k">—</span>';
      else if (st.state === 'kernel') a = '<span class="k">—</span>';
      st.fields.forEach(function (f) {
        a += '<div class="fd"><span class="bad">' + esc(f.name) + ' ' + esc(f.s || '–') + '</span></div>';
        b += '<div class="fd"><span class="bad">' + esc(f.name) + ' ' + esc(f.k || '–') + '</span></div>'; });
      line(mark, st.state, a, b);
    });
    return out + '</div>';
  }
  function cmpEvents() {
    var html = '';
    state.cmp.rows.forEach(function (r, i) {
      var h = r.s !== null ? state.cmp.kplab.hops[r.s] : state.cmp.kernel.hops[r.k];
      html += '<li class="hop" data-hop="' + i + '" value="' + (i + 1) + '">' + esc(h.host) + ' <span class="k">(' +
        esc(h.kind) + ')</span> ' + badge(r.differences) + '</li>'; });
    $('event-list').innerHTML = html;
  }
  function cmpShow(moveFrom) {
    var W = state.cmp, row = W.rows[state.i], n = W.rows.length;
    var sh = row.s === null ? null : W.kplab.hops[row.s], kh = row.k === null ? null : W.kernel.hops[row.k];
    $('hop-counter').textContent = 'Hop ' + (state.i + 1) + '/' + n + (W === C.reply ? ' (reply)' : '');
    $('packet-label').innerHTML = '<div><span class="who kplab">kplab</span> ' + (sh ? packetHtml(sh) : '–') + '</div>' +
      '<div><span class="who kernel">kernel</span> ' + (kh ? packetHtml(kh) : '–') + '</div>';
    $('hop-card').innerHTML = cmpCard(row);
    light(sh || kh);
    function trailOf(walk, upto) {
      var pts = [];
      for (var k = 1; k <= upto; k++) pts = pts.concat(walk.hops[k].points);
      return pts.map(function (p) { return p.join(','); }).join(' ');
    }
    var lastS = -1, lastK = -1;
    for (var r = 0; r <= state.i; r++) { if (W.rows[r].s !== null) lastS = W.rows[r].s; if (W.rows[r].k !== null) lastK = W.rows[r].k; }
    trail.setAttribute('points', lastS > 0 ? trailOf(W.kplab, lastS) : '');
    ktrail.setAttribute('points', lastK > 0 ? trailOf(W.kernel, lastK) : '');
    root.querySelectorAll('.events li').forEach(function (li) {
      li.classList.toggle('cur', +li.getAttribute('data-hop') === state.i); });
    $('back').disabled = $('first').disabled = state.i === 0;
    $('step').disabled = $('last').disabled = state.i === n - 1;
    var foot = root.querySelector('.foot');
    foot.innerHTML = (state.i === n - 1 ? '<div><span class="who kplab">kplab</span> ' + esc(W.ends.kplab) +
      '</div><div><span class="who kernel">kernel</span> ' + esc(W.ends.kernel) + ' ' + (W.same_end ? badge(0) : badge(1)) + '</div>' : '') +
      '<div>· shown, not counted: ' + esc(C.unreported.length ? C.unreported.join(', ') + ' steps (the kernel’s trace has none); ' : '') +
      'conntrack records only one side reports (the kernel’s entry updates)</div>' +
      '<div class="k">' + esc(C.ports) + '</div>' + (C.tally ? '<pre class="tally" data-testid="tally">' + esc(C.tally) + '</pre>' : '');
    var fwd = moveFrom !== undefined && moveFrom === state.i - 1;
    if (sh) { if (fwd) animate(dot, 'anim', sh.points, function () {}); else stay(dot, 'anim', sh.points); }
    if (kh) { if (fwd) animate(kdot, 'kanim', kh.points, function () {}); else stay(kdot, 'kanim', kh.points); }
  }

  function go(i) { i = Math.max(0, Math.min(count() - 1, i)); var from = state.i; state.i = i; show(from); }
  function stop() { state.playing = false; clearTimeout(state.timer); $('play').innerHTML = ICONS.play + ' play'; }
  function tick() {
    if (!state.playing) return;
    if (state.i >= count() - 1) { stop(); return; }
    go(state.i + 1);
    state.timer = setTimeout(tick, 1600 / state.speed);
  }
  function toggle() {
    if (state.playing) { stop(); return; }
    if (state.i >= count() - 1) go(0);
    state.playing = true; $('play').innerHTML = ICONS.pause + ' pause'; state.timer = setTimeout(tick, 700 / state.speed);
  }
  function use(walk, reply) {
    stop(); state.base = walk; state.reply = reply || null;
    var box = $('reply'); box.checked = false; box.disabled = !state.reply;
    box.parentNode.title = state.reply ? 'show the answer packet' : 'this trace has no reply (trace with reply=True)';
    if (C) { state.cmp = C.main; box.disabled = !C.reply; box.parentNode.title = C.reply ? 'compare the answers' : C.no_reply; }
    state.walk = walk; state.i = 0; events(); show();
  }

  $('play').addEventListener('click', toggle);
  $('step').addEventListener('click', function () { stop(); go(state.i + 1); });
  $('back').addEventListener('click', function () { stop(); go(state.i - 1); });
  $('first').addEventListener('click', function () { stop(); go(0); });
  $('last').addEventListener('click', function () { stop(); go(count() - 1); });
  $('speed').addEventListener('change', function (e) { state.speed = +e.target.value; });
  $('reply').addEventListener('change', function (e) {
    stop(); state.walk = e.target.checked && state.reply ? state.reply : state.base;
    if (C) state.cmp = e.target.checked && C.reply ? C.reply : C.main;
    state.i = 0; events(); show(); });
  $('event-list').addEventListener('click', function (e) {
    var li = e.target.closest('li'); if (li) { stop(); go(+li.getAttribute('data-hop')); } });
  var sel = $('outcome');
  var opts = '<option value="-1">' + esc(D.choice.text) + '</option>';
  sel.title = D.choice.title;
  D.outcomes.forEach(function (o, k) {
    opts += '<option value="' + k + '"' + (o.walk ? '' : ' disabled') + '>' + esc(o.percent) + ' (' + esc(o.probability) + ') ' +
      esc(o.verdict) + (o.delivered_to ? ' → ' + esc(o.delivered_to) : '') + '</option>'; });
  sel.innerHTML = opts; sel.disabled = !D.outcomes.length;
  if (C) sel.parentNode.style.display = 'none';  // side by side: one connection, as it went
  sel.addEventListener('change', function (e) {
    var k = +e.target.value;
    if (k < 0) use(D.main, D.reply); else use(D.outcomes[k].walk, D.outcomes[k].walk.reply); });
  root.addEventListener('keydown', function (e) {
    if (e.target.tagName === 'SELECT' || e.target.tagName === 'INPUT') return;
    if (e.key === ' ') { toggle(); e.preventDefault(); }
    else if (e.key === 'ArrowRight') { stop(); go(state.i + 1); e.preventDefault(); }
    else if (e.key === 'ArrowLeft') { stop(); go(state.i - 1); e.preventDefault(); }
    else if (e.key === 'Home') { stop(); go(0); e.preventDefault(); }
    else if (e.key === 'End') { stop(); go(count() - 1); e.preventDefault(); }
  });
  root.addEventListener('click', function (e) { if (e.target.tagName !== 'SELECT') root.focus({preventScroll: true}); });
  use(D.main, D.reply);
  // Inside a notebook's iframe: grow the frame to the player's height.
  function fit() {
    // the player's own height (not the document's, which is at least the frame's: that would grow forever)
    try {
      var f = window.frameElement, want = Math.ceil(root.getBoundingClientRect().height) + 16;
      if (f && Math.abs(f.getBoundingClientRect().height - want) > 2) f.style.height = want + 'px';
    } catch (e) {}
  }
  if (window.ResizeObserver) new ResizeObserver(fit).observe(root);
  window.addEventListener('load', fit); fit();
  root.setAttribute('data-first-frame-ms', performance.now().toFixed(1));  // since navigation started
  root.setAttribute('data-ready', '1');
})();
""".replace("%ICONS%", json.dumps({"play": PLAY_ICON, "pause": PAUSE_ICON}))
