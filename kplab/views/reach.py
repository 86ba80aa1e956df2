"""NetworkPolicy verdict rows (`kplab reach`'s JSON records) as a terminal table."""
from __future__ import annotations

HEAD = ("FROM", "TO", "PORT", "VERDICT", "WHY")


def reach_text(records: list[dict]) -> str:
    """FROM, TO, PORT (`80/TCP`), VERDICT (`allowed` or `DENIED`) padded two spaces apart, then WHY unpadded."""
    rows = [(r["from"], r["to"], f'{r["port"]}/{r["protocol"]}', "allowed" if r["allowed"] else "DENIED",
             r["reason"]) for r in records]
    widths = [max(len(str(x[i])) for x in rows + [HEAD]) for i in range(4)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4]
                     for row in [HEAD] + rows)
