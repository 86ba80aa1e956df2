"""The simulator's trace next to the Linux kernel's, hop by hop: a text table for the terminal and an HTML table
for notebooks. Both traces are kplab Traces (the kernel's from kplab.lab.kerneltrace); only netfilter rule steps
are set side by side, since the kernel reports nothing else (no routes, no conntrack)."""
from __future__ import annotations

import html

def _rule_lines(hop) -> list[tuple[tuple, str]]:
    """(key, text) per netfilter step of a hop; the key is what must agree (table, chain, number, action class)."""
    from kplab.lab.kerneltrace import hop_chain, rule_steps
    return [(key, f"{step.where or step.table + '/' + step.chain} {step.action}")
            for key, step in zip(hop_chain(hop), rule_steps(hop))]


def _rows(simulated, kernel) -> list[tuple[str, str, str, str]]:
    """(host, simulator, kernel, mark) rows: mark is '' when equal, '!' where they differ."""
    rows: list[tuple[str, str, str, str]] = []
    sim_hops, ker_hops = list(simulated.hops), list(kernel.hops)
    for i in range(max(len(sim_hops), len(ker_hops))):
        s = sim_hops[i] if i < len(sim_hops) else None
        k = ker_hops[i] if i < len(ker_hops) else None
        host = s.host if s is not None else k.host
        if k is not None and s is not None and k.host != s.host:
            host = f"{s.host} / kernel: {k.host}"
        rows.append((host, f"in {s.in_iface or '-'} out {s.out_iface or '-'}" if s else "-",
                     f"in {k.in_iface or '-'} out {k.out_iface or '-'}" if k else "-",
                     "" if s and k and s.host == k.host else "!"))
        a = _rule_lines(s) if s is not None else []
        b = _rule_lines(k) if k is not None else []
        for j in range(max(len(a), len(b))):
            x = a[j] if j < len(a) else None
            y = b[j] if j < len(b) else None
            rows.append(("", x[1] if x else "", y[1] if y else "", "" if x and y and x[0] == y[0] else "!"))
    end_s = f"=> {simulated.verdict} {simulated.delivered_to or ''} {simulated.source_seen or ''}".strip()
    end_k = f"=> {kernel.verdict} {kernel.delivered_to or ''} {kernel.source_seen or ''}".strip()
    same = (simulated.verdict, simulated.delivered_to) == (kernel.verdict, kernel.delivered_to)
    rows.append(("outcome", end_s, end_k, "" if same else "!"))
    return rows


def side_by_side(simulated, kernel, width: int = 62) -> str:
    """A text table: one block per hop, the simulator's rule steps left, the kernel's right, `!` where they
    differ (rule numbers, chains or verdicts), and the outcomes at the bottom."""
    lines = [f"{'':1} {'simulator (kplab)':<{width}} {'Linux kernel (nftrace)'}"]
    for host, a, b, mark in _rows(simulated, kernel):
        if host and host != "outcome":
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
