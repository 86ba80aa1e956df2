"""The policy matrix: NetworkPolicy's truth table as a colour grid, one grid per port/protocol.

    policy_matrix(rows)                   # rows as `kplab reach --json` gives them (or kplab.reach(cluster))
    policy_matrix(rows, port=5432)        # one port/protocol only

Rows are sources, columns destinations; a green ✓ is allowed, a red ✗ denied, a dash a pair the rows do not
hold (a pod to itself). Hovering a cell shows why (the reach row's `reason` when present, else the deciding
policies); cells decided by a policy carry a number that points into the side table, which lists each such pair
with its verdict, the policies and the reason. The verdicts are the rows' own (kplab.cni); nothing is decided here.
When the rows say the cluster's CNI does not enforce NetworkPolicy (`enforced` False), the matrix says so above
the grids: the verdicts are Kubernetes semantics, and packets there are not blocked.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from kplab.errors import KplabError
from kplab.views.reach import enforcement_note


@dataclass(frozen=True)
class Cell:
    """One (source, destination) pair at one port/protocol."""

    src: str
    dst: str
    allowed: bool
    ingress: bool
    egress: bool
    policies: tuple[str, ...]
    reason: str


@dataclass
class Grid:
    port: int
    protocol: str
    sources: list[str]
    destinations: list[str]
    cells: dict[tuple[str, str], Cell]

    def decided(self) -> list[Cell]:
        """Cells a policy decided (denied, or allowed by a policy's rule), in row then column order."""
        return [self.cells[(s, d)] for s in self.sources for d in self.destinations
                if (s, d) in self.cells and (self.cells[(s, d)].policies or not self.cells[(s, d)].allowed)]


def _records(rows) -> list[dict]:
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a DataFrame of reach rows
        out = []
        for r in rows.to_dict("records"):
            pol = r.get("policies", "")
            r["policies"] = [p for p in str(pol).split(", ") if p] if not isinstance(pol, (list, tuple)) else list(pol)
            out.append(r)
        return out
    return [r if isinstance(r, dict) else r.to_dict() for r in rows]


def _short(name: str) -> str:
    return name[len("default/"):] if name.startswith("default/") else name


@dataclass
class PolicyMatrix:
    """One Grid per (port, protocol), in ascending order. `_repr_html_` draws them; `str()` is a text grid.
    `note`: the sentence saying the cluster's CNI does not enforce these verdicts ("" when it does, or the rows
    do not say)."""

    grids: list[Grid]
    note: str = ""

    def grid(self, port: int, protocol: str = "TCP") -> Grid:
        for g in self.grids:
            if g.port == port and g.protocol == protocol.upper():
                return g
        raise KplabError(f"no rows for port {port}/{protocol.upper()} (have: "
                         + ", ".join(f"{g.port}/{g.protocol}" for g in self.grids) + ")")

    def __str__(self) -> str:
        out = []
        for g in self.grids:
            width = max(len(_short(s)) for s in g.sources)
            out.append(f"{g.port}/{g.protocol}: rows = from, columns = to "
                       + "  ".join(f"[{i + 1}] {_short(d)}" for i, d in enumerate(g.destinations)))
            for s in g.sources:
                marks = ["-" if (s, d) not in g.cells else "✓" if g.cells[(s, d)].allowed else "✗"
                         for d in g.destinations]
                out.append(f"  {_short(s):<{width}}  " + "   ".join(marks))
        return "\n".join(([f"note: {self.note}"] if self.note else []) + out)

    def _repr_html_(self) -> str:
        note = f'<p class="note" data-testid="enforcement-note">{html.escape(self.note)}</p>' if self.note else ""
        return (f'<div class="kplab-matrix" data-testid="policy-matrix"><style>{MATRIX_CSS}</style>{note}'
                + "".join(self._grid_html(g) for g in self.grids) + "</div>")

    def _grid_html(self, g: Grid) -> str:
        e = html.escape
        notes = {(c.src, c.dst): i + 1 for i, c in enumerate(g.decided())}
        # columns are numbered like the rows that name the same endpoint (long pod names stay horizontal)
        names = list(dict.fromkeys(g.sources + g.destinations))
        number = {n: i + 1 for i, n in enumerate(names)}
        head = "".join(f'<th class="col" title="{e(d, quote=True)}">{number[d]}</th>' for d in g.destinations)
        body = []
        for s in g.sources:
            cells = []
            for d in g.destinations:
                c = g.cells.get((s, d))
                if c is None:
                    cells.append('<td class="none" title="not a pair (a pod to itself)">–</td>')
                    continue
                why = c.reason or (("decided by " + ", ".join(c.policies)) if c.policies else
                                   "no policy isolates either end")
                tip = f"{_short(s)} → {_short(d)} {g.port}/{g.protocol}: {'allowed' if c.allowed else 'DENIED'}. {why}"
                mark = "✓" if c.allowed else "✗"
                note = f"<sup>{notes[(s, d)]}</sup>" if (s, d) in notes else ""
                cls = "ok" if c.allowed else "no"
                cells.append(f'<td class="{cls}" title="{e(tip, quote=True)}" data-from="{e(s, quote=True)}" '
                             f'data-to="{e(d, quote=True)}">{mark}{note}</td>')
            body.append(f'<tr><th class="row">{e(_short(s))} <b>{number[s]}</b></th>{"".join(cells)}</tr>')
        missing = [d for d in g.destinations if d not in g.sources]
        if missing:
            body.append('<tr><td colspan="99" class="why">' + ", ".join(f"{number[d]} = {e(_short(d))}" for d in missing)
                        + "</td></tr>")
        side = "".join(
            f'<tr><td>{notes[(c.src, c.dst)]}</td><td>{number[c.src]} → {number[c.dst]}</td>'
            f'<td class="{"ok" if c.allowed else "no"}">{"allowed" if c.allowed else "DENIED"}</td>'
            f'<td>{e(", ".join(c.policies) or "-")}</td><td class="why">{e(c.reason)}</td></tr>'
            for c in g.decided())
        side_table = (f'<table class="side"><tr><th>#</th><th>pair</th><th>verdict</th><th>policies</th>'
                      f'<th>why</th></tr>{side}</table>' if side else
                      '<p class="why">No policy selects these pods: everything is allowed.</p>')
        return (f'<div class="grid" data-testid="matrix-{g.port}-{g.protocol}"><h4>{g.port}/{g.protocol} — rows: from, '
                f'columns: to</h4><div class="pair"><table class="m"><tr><th class="row">from ↓ to →</th>{head}</tr>{"".join(body)}</table>'
                f"{side_table}</div></div>")


def policy_matrix(rows, port: int | None = None, protocol: str | None = None) -> PolicyMatrix:
    """Reach rows ({from, to, port, protocol, allowed, ingress, egress, policies[, reason]}, a list or a DataFrame)
    as one grid per port/protocol; `port`/`protocol` keep only those. KplabError when nothing is left."""
    records = _records(rows)
    groups: dict[tuple[int, str], list[dict]] = {}
    for r in records:
        proto = str(r["protocol"]).upper()
        if (port is not None and int(r["port"]) != port) or (protocol is not None and proto != protocol.upper()):
            continue
        groups.setdefault((int(r["port"]), proto), []).append(r)
    if not groups:
        raise KplabError("policy matrix: no reach rows" + (f" for port {port}" if port is not None else "")
                         + (f"/{protocol.upper()}" if protocol else ""))
    grids = []
    for (p, proto), rs in sorted(groups.items()):
        sources = sorted({str(r["from"]) for r in rs})
        destinations = sorted({str(r["to"]) for r in rs})
        cells = {(str(r["from"]), str(r["to"])): Cell(str(r["from"]), str(r["to"]), bool(r["allowed"]),
                                                      bool(r.get("ingress", True)), bool(r.get("egress", True)),
                                                      tuple(r.get("policies") or ()), str(r.get("reason", "")))
                 for r in rs}
        grids.append(Grid(p, proto, sources, destinations, cells))
    kept = [r for rs in groups.values() for r in rs]
    return PolicyMatrix(grids, enforcement_note(kept) or "")


MATRIX_CSS = """
.kplab-matrix{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:14px;color:#1b2631}
.kplab-matrix h4{font-size:15px;margin:8px 0 4px}
.kplab-matrix .pair{display:flex;gap:18px;align-items:flex-start;flex-wrap:wrap}
.kplab-matrix table{border-collapse:collapse}
.kplab-matrix table.m td{width:34px;height:30px;text-align:center;font-size:18px;border:2px solid #fff}
.kplab-matrix td.ok{background:#c8e6c9;color:#1b5e20}
.kplab-matrix td.no{background:#ffcdd2;color:#b71c1c;font-weight:bold}
.kplab-matrix td.none{background:#eceff1;color:#90a4ae}
.kplab-matrix sup{font-size:12px}
.kplab-matrix th.row{text-align:right;padding-right:8px;font-weight:normal;white-space:nowrap}
.kplab-matrix th.col{padding:0 2px;font-weight:bold;text-align:center}
.kplab-matrix table.side{font-size:14px;flex:1 1 520px;max-width:820px}
.kplab-matrix table.side td,.kplab-matrix table.side th{border-bottom:1px solid #dde3e8;padding:3px 6px;
 text-align:left;vertical-align:top}
.kplab-matrix .why{color:#37474f}
.kplab-matrix p.note{background:#fff3cd;border-left:4px solid #f0ad4e;padding:6px 10px;margin:4px 0 8px;
 max-width:1100px;font-family:'DejaVu Sans',Arial,sans-serif;font-size:15px}
.kplab-matrix table.side td:nth-child(2){white-space:nowrap}
"""
