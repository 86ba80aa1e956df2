"""A connection's packets and the conntrack state each one had on each host it crossed.

    conversation_states(Connection(...).handshake())    # HTML table in a notebook, text in a terminal

Rows are packets in the order they were sent (0 = the first), columns the hosts in the order the packets first
met them; a cell is the state conntrack gave the packet when it entered that host (NEW, ESTABLISHED, RELATED,
INVALID — what `-m conntrack --ctstate` matches), empty where the packet did not pass. Reads only the traces'
conntrack steps (kplab.walk.trace.ConntrackDetail).
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Iterable

STATES = ("NEW", "ESTABLISHED", "RELATED", "INVALID")
_COLOURS = {"NEW": "#dbe9ff", "ESTABLISHED": "#dcf5dc", "RELATED": "#fff2cc", "INVALID": "#fde2e2"}


@dataclass(frozen=True)
class ConversationStates:
    """`hosts`: column names; `rows`: (packet number, the packet as sent, verdict, one state or "" per host)."""

    hosts: tuple[str, ...]
    rows: tuple[tuple[int, str, str, tuple[str, ...]], ...]

    def __str__(self) -> str:
        head = ["#", "packet", "verdict", *self.hosts]
        body = [[str(n), packet, verdict, *states] for n, packet, verdict, states in self.rows]
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *body])

    def _repr_html_(self) -> str:
        cell = "padding:3px 8px;border:1px solid #ccc;font-size:14px"
        head = "".join(f'<th style="{cell}">{html.escape(h)}</th>' for h in ("#", "packet", "verdict", *self.hosts))
        rows = []
        for n, packet, verdict, states in self.rows:
            tds = [f'<td style="{cell}">{n}</td>', f'<td style="{cell}"><code>{html.escape(packet)}</code></td>',
                   f'<td style="{cell}">{html.escape(verdict)}</td>']
            tds += [f'<td style="{cell};background:{_COLOURS.get(s, "#fff")}">{html.escape(s)}</td>' for s in states]
            rows.append("<tr>" + "".join(tds) + "</tr>")
        return (f'<table data-testid="conversation-states" style="border-collapse:collapse">'
                f"<tr>{head}</tr>{''.join(rows)}</table>")


def conversation_states(traces: Iterable) -> ConversationStates:
    """The table for a conversation's traces (a list of Trace, or anything with a `traces` list)."""
    walked = list(getattr(traces, "traces", traces))
    hosts: list[str] = []
    seen: list[dict[str, str]] = []
    for trace in walked:
        states: dict[str, str] = {}
        for hop, step in trace.steps("conntrack"):
            state = getattr(step.detail, "state", "")
            if state in STATES and hop.host not in states:
                states[hop.host] = state
                if hop.host not in hosts:
                    hosts.append(hop.host)
        seen.append(states)
    rows = tuple((i, str(t.packet), t.verdict, tuple(s.get(h, "") for h in hosts))
                 for i, (t, s) in enumerate(zip(walked, seen)))
    return ConversationStates(tuple(hosts), rows)
