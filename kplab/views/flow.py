"""The netfilter flow diagram: the five hooks with their tables in the kernel's order, the routing decisions,
conntrack and the local process — the "iptables rules processing flow" every iptables course draws — with one
hop's path through it highlighted and the chains it visited listed at each hook.

    netfilter_flow()                       # the plain diagram
    netfilter_flow(trace, hop=2)           # a kplab Trace (or its to_dict()) and a hop number (from 1)

Table order per hook is the kernel's priority order (include/uapi/linux/netfilter_ipv4.h: raw -300,
conntrack -200, mangle -150, nat DNAT -100, filter 0, security 50, nat SNAT 100, conntrack confirm INT_MAX).
The path a hop took is its `path` (input, forward, output: which hooks the kernel runs for it); the hooks and
tables lit strongly are the ones whose rules the walk records for that hop.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

from kplab.errors import KplabError
from kplab.views.picture import FONT, FONT_FAMILY, SMALL

# hook -> tables in the order the kernel runs them (conntrack shown as the pseudo-table it is)
HOOK_TABLES = {
    "PREROUTING": ("raw", "conntrack", "mangle", "nat"),
    "INPUT": ("mangle", "filter", "nat", "confirm"),
    "FORWARD": ("mangle", "filter"),
    "OUTPUT": ("raw", "conntrack", "mangle", "nat", "filter"),
    "POSTROUTING": ("mangle", "nat", "confirm"),
}
TABLE_NOTES = {"conntrack": "conntrack", "confirm": "conntrack confirm"}
PATH_HOOKS = {"forward": ("PREROUTING", "FORWARD", "POSTROUTING"), "input": ("PREROUTING", "INPUT"),
              "output": ("OUTPUT", "POSTROUTING")}
PATH_EDGES = {"forward": ("in-pre", "pre-route", "route-fwd", "fwd-post", "post-out"),
              "input": ("in-pre", "pre-route", "route-in", "in-proc"),
              "output": ("proc-route2", "route2-out", "out-post", "post-out")}

ROW = 22
BOX_W = 208
BOXES = {  # hook -> (x, y) of its box's top-left corner
    "PREROUTING": (70, 40), "FORWARD": (450, 40), "POSTROUTING": (820, 40),
    "INPUT": (250, 230), "OUTPUT": (820, 230)}
EDGES = {  # name -> points
    "in-pre": ((14, 86), (70, 86)),
    "pre-route": ((278, 86), (330, 86)),
    "route-fwd": ((400, 86), (450, 86)),
    "fwd-post": ((658, 86), (820, 86)),
    "post-out": ((1028, 86), (1090, 86)),
    "route-in": ((365, 121), (365, 230)),
    "in-proc": ((458, 276), (500, 276)),
    "proc-route2": ((660, 276), (690, 276)),
    "route2-out": ((760, 276), (820, 276)),
    "out-post": ((924, 230), (924, 140)),
}


@dataclass
class HopFlow:
    """One hop as the diagram shows it: the path, and for each hook the tables and chains its rules visited."""

    host: str
    path: str | None
    hooks: dict[str, dict] = field(default_factory=dict)  # hook -> {"tables": [..], "chains": [..], "verdicts": [..]}


def hop_flow(hop: dict) -> HopFlow:
    """Read one hop of a Trace's JSON form (Hop.to_dict())."""
    flow = HopFlow(hop.get("host", ""), hop.get("path"))
    for s in hop.get("steps", ()):
        d = s.get("detail") or {}
        hook = d.get("hook")
        if s.get("kind") == "conntrack" and s.get("action") == "confirm" and not hook:
            # the kernel confirms a new entry at the packet's last hook (priority INT_MAX)
            hook = "INPUT" if flow.path == "input" else "POSTROUTING" if flow.path in ("forward", "output") else None
        if not hook or hook not in HOOK_TABLES:
            continue
        entry = flow.hooks.setdefault(hook, {"tables": [], "chains": [], "verdicts": []})
        table = d.get("table") or ("conntrack" if s.get("kind") == "conntrack" else None)
        if s.get("kind") == "conntrack" and s.get("action") == "confirm":
            table = "confirm"
        if table and table not in entry["tables"]:
            entry["tables"].append(table)
        chain = d.get("chain")
        if chain:
            name = f"{d.get('table')}/{chain}" if chain in HOOK_TABLES else chain
            if name not in entry["chains"]:
                entry["chains"].append(name)
        if s.get("kind") in ("nat", "drop", "policy") or s.get("action") in ("DROP", "REJECT", "ACCEPT", "DNAT",
                                                                            "SNAT", "MASQUERADE"):
            if s.get("action") and s["action"] not in entry["verdicts"]:
                entry["verdicts"].append(s["action"])
    return flow


@dataclass
class FlowDiagram:
    """The diagram, optionally with one hop highlighted. `svg` is the drawing; `_repr_html_` adds the list of
    chains visited at each hook."""

    hop: HopFlow | None = None
    hop_number: int | None = None

    @property
    def svg(self) -> str:
        return flow_svg(self.hop)

    def chains_html(self) -> str:
        if self.hop is None:
            return ""
        rows = "".join(
            f"<tr><td><b>{h}</b></td><td>{html.escape(' → '.join(v['chains']) or '(no rule matched)')}</td>"
            f"<td>{html.escape(', '.join(v['verdicts']))}</td></tr>"
            for h, v in self.hop.hooks.items())
        what = f"hop {self.hop_number}: " if self.hop_number else ""
        return (f'<table class="kpf-chains" data-testid="flow-chains"><caption>{what}{html.escape(self.hop.host)}, '
                f"path {html.escape(self.hop.path or '—')}: chains visited at each hook</caption>"
                f"<tr><th>hook</th><th>chains</th><th>decisions</th></tr>{rows}</table>")

    def _repr_html_(self) -> str:
        return (f'<div class="kplab-flow" data-testid="netfilter-flow" style="font-family:{FONT_FAMILY}">'
                f"<style>{FLOW_PAGE_CSS}</style>{self.svg}{self.chains_html()}</div>")


def netfilter_flow(trace=None, hop: int | None = None) -> FlowDiagram:
    """The diagram; with a trace (a kplab Trace or its to_dict()) and `hop` (1-based), that hop highlighted.
    KplabError when the hop number is out of range."""
    if trace is None:
        return FlowDiagram()
    data = trace if isinstance(trace, dict) else trace.to_dict()
    hops = data.get("hops", [])
    number = hop if hop is not None else 1
    if not 1 <= number <= len(hops):
        raise KplabError(f"netfilter_flow: hop {number} is not in this trace (it has {len(hops)} hops)")
    return FlowDiagram(hop_flow(hops[number - 1]), number)


def flow_svg(hop: HopFlow | None = None) -> str:
    """The diagram as SVG (viewBox 1100x420, text 14-15 units). Elements carry data-hook / data-table /
    data-edge so the player's script can light them per hop."""
    path_hooks = PATH_HOOKS.get(hop.path, ()) if hop else ()
    path_edges = PATH_EDGES.get(hop.path, ()) if hop else ()
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="kplab-flow-svg" viewBox="0 0 1100 420" width="100%" '
           f'style="max-width:1100px;font-family:{FONT_FAMILY}" role="img" aria-label="netfilter packet flow" '
           f'data-testid="flow-svg"><style>{FLOW_CSS}</style>',
           '<defs><marker id="kpf-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="12" markerHeight="12" '
           'markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5d6d7e"/></marker></defs>']
    for name, pts in EDGES.items():
        cls = "edge on" if name in path_edges else "edge"
        p = " ".join(f"{x},{y}" for x, y in pts)
        out.append(f'<polyline class="{cls}" data-edge="{name}" points="{p}" marker-end="url(#kpf-arrow)"/>')
    out.append(_text("in", 14, 74, SMALL))
    out.append(_text("out", 1058, 74, SMALL))
    # routing decisions
    for key, cx, cy, label in (("route", 365, 86, "routing"), ("route2", 725, 276, "routing")):
        out.append(f'<polygon class="decision" data-node="{key}" points="{cx - 35},{cy} {cx},{cy - 35} {cx + 35},{cy} '
                   f'{cx},{cy + 35}"/>')
        out.append(_text(label, cx, cy + 5, SMALL - 1, "middle"))
    out.append('<rect class="proc" x="500" y="251" width="160" height="50" rx="8"/>')
    out.append(_text("local process", 580, 272, SMALL, "middle"))
    out.append(_text("(socket)", 580, 291, SMALL, "middle", "dim"))
    for hook, (x, y) in BOXES.items():
        tables = HOOK_TABLES[hook]
        visited = hop.hooks.get(hook) if hop else None
        cls = "hook lit" if visited else "hook path" if hook in path_hooks else "hook"
        h = 30 + ROW * len(tables) + 6
        out.append(f'<rect class="{cls}" data-hook="{hook}" x="{x}" y="{y}" width="{BOX_W}" height="{h}" rx="8"/>')
        out.append(_text(hook, x + BOX_W / 2, y + 21, FONT, "middle", "bold"))
        for i, table in enumerate(tables):
            ty = y + 30 + i * ROW
            on = visited is not None and table in visited["tables"]
            out.append(f'<rect class="table{" on" if on else ""}" data-hook="{hook}" data-table="{table}" x="{x + 8}" '
                       f'y="{ty}" width="{BOX_W - 16}" height="{ROW - 3}" rx="4"/>')
            out.append(_text(TABLE_NOTES.get(table, table), x + 16, ty + 15, SMALL))
    note = ("a packet from outside enters at PREROUTING; one from a local socket at OUTPUT; "
            "routing decides INPUT (for this host) or FORWARD")
    out.append(_text(note, 14, 410, SMALL - 1, cls="dim"))
    out.append("</svg>")
    return "".join(out)


def _text(text: str, x: float, y: float, size: float, anchor: str = "start", cls: str = "") -> str:
    a = f' text-anchor="{anchor}"' if anchor != "start" else ""
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x}" y="{y}" font-size="{size}"{a}{c}>{html.escape(text)}</text>'


FLOW_CSS = """
.kplab-flow-svg text{fill:#1b2631}
.kplab-flow-svg .bold{font-weight:bold}
.kplab-flow-svg .dim{fill:#5d6d7e}
.kplab-flow-svg .hook{fill:#eef4fb;stroke:#5b7fa6;stroke-width:1.5}
.kplab-flow-svg .hook.path{fill:#fff4e8;stroke:#e08e3c;stroke-width:2}
.kplab-flow-svg .hook.lit{fill:#ffe0c2;stroke:#d35400;stroke-width:3}
.kplab-flow-svg .table{fill:#fff;stroke:#c8d3de}
.kplab-flow-svg .table.on{fill:#ffc58f;stroke:#d35400}
.kplab-flow-svg .decision{fill:#fdf6e3;stroke:#b8860b;stroke-width:1.5}
.kplab-flow-svg .proc{fill:#eaf6e8;stroke:#5c9a52;stroke-width:1.5}
.kplab-flow-svg .edge{fill:none;stroke:#8a9bab;stroke-width:2.5}
.kplab-flow-svg .edge.on{stroke:#d35400;stroke-width:4}
"""

FLOW_PAGE_CSS = """
.kplab-flow .kpf-chains{border-collapse:collapse;font-size:14px;margin-top:6px}
.kplab-flow .kpf-chains caption{text-align:left;font-weight:bold;padding-bottom:4px}
.kplab-flow .kpf-chains td,.kplab-flow .kpf-chains th{border-bottom:1px solid #dde3e8;padding:3px 8px;text-align:left;
 vertical-align:top}
"""
