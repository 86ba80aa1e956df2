"""The simulator's trace next to the Linux kernel's, hop by hop: a text table for the terminal and an HTML table
for notebooks. Both traces are kplab Traces (the kernel's from kplab.lab.kerneltrace). Per hop: the interfaces in
and out, the routing decisions, conntrack (the state and the confirmed entry) and the netfilter rules, each set
side by side and marked `!` where they differ in what kplab.lab.compare checks; then the same for the reply
walking back, and the outcomes."""
from __future__ import annotations

import html


def _route_lines(hop) -> list[tuple[tuple, str]]:
    from kplab.lab.compare import routes
    steps = [s for s in hop.steps if s.kind == "route"]
    keys = routes(hop)
    if len(keys) != len(steps):  # a multipath choice folded into its lookup: show the decisions as compared
        return [(k, f"route {k[0]} dev {k[1] or '-'}" + (f" via {k[2]}" if k[2] else "")) for k in keys]
    return [(k, f"route {s.action}: {s.detail.route}") for k, s in zip(keys, steps)]


def _conntrack_lines(hop) -> list[tuple[tuple, str]]:
    from kplab.lab.compare import conntrack
    steps = [s for s in hop.steps if s.kind == "conntrack" and s.detail.state != "update"]
    return [(k, f"conntrack {s.detail.state}" + (f": {s.detail.entry}" if s.detail.entry else ""))
            for k, s in zip(conntrack(hop), steps)]


def _rule_lines(hop) -> list[tuple[tuple, str]]:
    """(key, text) per netfilter step of a hop; the key is what must agree (table, chain, number, action class)."""
    from kplab.lab.kerneltrace import hop_chain, rule_steps
    return [(key, f"{step.where or step.table + '/' + step.chain} {step.action}")
            for key, step in zip(hop_chain(hop), rule_steps(hop))]


def _pairs(a: list, b: list) -> list[tuple[str, str, str]]:
    rows = []
    for j in range(max(len(a), len(b))):
        x = a[j] if j < len(a) else None
        y = b[j] if j < len(b) else None
        rows.append(("", x[1] if x else "", y[1] if y else "", "" if x and y and x[0] == y[0] else "!"))
    return rows


def _walk_rows(simulated, kernel) -> list[tuple[str, str, str, str]]:
    """(host, simulator, kernel, mark) rows of one walk: mark is '' when equal, '!' where they differ."""
    rows: list[tuple[str, str, str, str]] = []
    sim_hops = list(simulated.hops) if simulated is not None else []
    ker_hops = list(kernel.hops) if kernel is not None else []
    for i in range(max(len(sim_hops), len(ker_hops))):
        s = sim_hops[i] if i < len(sim_hops) else None
        k = ker_hops[i] if i < len(ker_hops) else None
        host = s.host if s is not None else k.host
        if k is not None and s is not None and k.host != s.host:
            host = f"{s.host} / kernel: {k.host}"
        same = s is not None and k is not None and (s.host, s.in_iface, s.out_iface) == (k.host, k.in_iface, k.out_iface)
        rows.append((host, f"in {s.in_iface or '-'} out {s.out_iface or '-'}" if s else "-",
                     f"in {k.in_iface or '-'} out {k.out_iface or '-'}" if k else "-", "" if same else "!"))
        for lines in (_route_lines, _conntrack_lines, _rule_lines):
            rows += _pairs(lines(s) if s is not None else [], lines(k) if k is not None else [])
    return rows


def _end(trace) -> str:
    if trace is None:
        return "-"
    return f"=> {trace.verdict} {trace.delivered_to or ''} {trace.source_seen or ''}".strip()


def _rows(simulated, kernel) -> list[tuple[str, str, str, str]]:
    rows = _walk_rows(simulated, kernel)
    same = (simulated.verdict, simulated.delivered_to) == (kernel.verdict, kernel.delivered_to)
    rows.append(("outcome", _end(simulated), _end(kernel), "" if same else "!"))
    if simulated.reply is not None or kernel.reply is not None:
        rows.append(("the reply", str(simulated.reply.packet) if simulated.reply else "-",
                     str(kernel.reply.packet) if kernel.reply else "-",
                     "" if simulated.reply is not None and kernel.reply is not None else "!"))
        rows += _walk_rows(simulated.reply, kernel.reply)
        a, b = simulated.reply, kernel.reply
        same = a is not None and b is not None and (a.verdict, a.delivered_to) == (b.verdict, b.delivered_to)
        rows.append(("reply outcome", _end(a), _end(b), "" if same else "!"))
    return rows


def side_by_side(simulated, kernel, width: int = 62) -> str:
    """A text table: one block per hop, the simulator's steps left, the kernel's right, `!` where they differ
    (interfaces, routes, conntrack, rule numbers, chains or verdicts), the outcome, then the reply's walk."""
    lines = [f"{'':1} {'simulator (kplab)':<{width}} {'Linux kernel (nftrace)'}"]
    for host, a, b, mark in _rows(simulated, kernel):
        if host and host not in ("outcome", "reply outcome"):
            lines.append(f"  {host}")
        lines.append(f"{mark or ' '} {a[:width]:<{width}} {b}")
    return "\n".join(lines)


def side_by_side_html(simulated, kernel) -> str:
    """The same table as HTML (differences highlighted), for notebooks."""
    body = []
    for host, a, b, mark in _rows(simulated, kernel):
        style = " style=\"background:#fde2e2\"" if mark else ""
        if host:
            body.append(f"<tr><th colspan=\"2\" style=\"text-align:left\">{html.escape(host)}</th></tr>")
        body.append(f"<tr{style}><td><code>{html.escape(a)}</code></td><td><code>{html.escape(b)}</code></td></tr>")
    return ("<table class=\"kplab\"><thead><tr><th style=\"text-align:left\">simulator (kplab)</th>"
            "<th style=\"text-align:left\">Linux kernel (nftrace)</th></tr></thead><tbody>"
            + "".join(body) + "</tbody></table>")
