"""Views of a cluster Trace: one row per step (list of dicts or a DataFrame), the outcomes listing, a static
HTML page. pandas is imported only when a frame is asked for."""
from __future__ import annotations

import html
from typing import Any

from kplab.walk.trace import Outcome, Trace

COLUMNS = ["hop", "host", "in", "out", "kind", "table", "chain", "rule", "action", "changes"]


def step_rows(trace: Trace) -> list[dict[str, Any]]:
    """One dict per step, keys COLUMNS: hop number (from 1), host, interfaces, kind, table/chain, rule text,
    action, changes (the FlowDiff as text)."""
    rows = []
    for i, hop in enumerate(trace.hops, 1):
        for step in hop.steps:
            rows.append({"hop": i, "host": hop.host, "in": hop.in_iface, "out": hop.out_iface,
                         "kind": step.kind, "table": step.table, "chain": step.chain,
                         "rule": step.text, "action": step.action, "changes": str(step.diff)})
    return rows


def trace_frame(trace: Trace):
    """The step rows as a pandas DataFrame, columns COLUMNS."""
    import pandas as pd
    return pd.DataFrame(step_rows(trace), columns=COLUMNS)


def outcomes_text(outcomes: tuple[Outcome, ...]) -> str:
    """One line per outcome (Outcome.__str__): probability as a percentage, verdict, receiver, hosts crossed."""
    return "\n".join(str(o) for o in outcomes)


def trace_page(trace: Trace) -> str:
    """A simple static HTML page listing the trace and its outcomes (the animated player is kplab.views.player)."""
    title = html.escape(f"{trace.source} -> {trace.destination}")
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>kplab trace {title}</title></head>\n"
            f"<body><h1>kplab trace {title}</h1>\n<pre>{html.escape(str(trace))}</pre>\n"
            f"<h2>Outcomes</h2>\n<pre>{html.escape(outcomes_text(trace.outcomes()))}</pre>\n</body></html>\n")
