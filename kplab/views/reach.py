"""NetworkPolicy verdicts drawn as tables: rows (`kplab reach`'s JSON records) as terminal text or a DataFrame, and
a whole truth table (kplab.cni.reach.TruthTable) as a DataFrame."""
from __future__ import annotations

import numpy as np

HEAD = ("FROM", "TO", "PORT", "VERDICT", "WHY")


def reach_text(records: list[dict]) -> str:
    """FROM, TO, PORT (`80/TCP`), VERDICT (`allowed` or `DENIED`) padded two spaces apart, then WHY unpadded."""
    rows = [(r["from"], r["to"], f'{r["port"]}/{r["protocol"]}', "allowed" if r["allowed"] else "DENIED",
             r["reason"]) for r in records]
    widths = [max(len(str(x[i])) for x in rows + [HEAD]) for i in range(4)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4]
                     for row in [HEAD] + rows)


def enforcement_note(records) -> str | None:
    """One sentence when the rows' verdicts do not reach the packets: a policy decided some row, but the cluster's
    CNI (the rows' `cni`) does not enforce NetworkPolicy (`enforced` False). None otherwise, and for rows that do
    not say (a truth table's)."""
    unenforced = [r for r in records if r.get("enforced") is False]
    if not unenforced or not any(r.get("policies") for r in records):
        return None
    return (f"These are the NetworkPolicies' verdicts by Kubernetes semantics; this cluster's CNI "
            f"({unenforced[0].get('cni')}) does not enforce NetworkPolicy, so packets are not blocked "
            f"(kplab trace delivers them).")


def reach_frame(records):
    """The same rows as a pandas DataFrame (what a notebook shows): from, to, port (`80/TCP`), verdict
    (`allowed` or `DENIED`), the deciding policies and why. An empty table has the columns and no rows."""
    import pandas as pd

    rows = [{"from": r["from"], "to": r["to"], "port": f'{r["port"]}/{r["protocol"]}',
             "verdict": "allowed" if r["allowed"] else "DENIED", "policies": ", ".join(r.get("policies") or ()),
             "why": r.get("reason", "")} for r in records]
    return pd.DataFrame(rows, columns=["from", "to", "port", "verdict", "policies", "why"])


def reach_table(records):
    """The rows as a notebook shows them: reach_frame's table without pandas' index column (kubectl prints none),
    every `why` in full (pandas cuts cells at 50 characters), and, when the cluster's CNI does not enforce
    NetworkPolicy, enforcement_note as the caption. A pandas Styler (renders as HTML in a notebook)."""
    styler = reach_frame(records).style.hide(axis="index")
    styler = styler.set_properties(**{"text-align": "left", "white-space": "normal"})
    styler = styler.set_table_styles([{"selector": "th", "props": [("text-align", "left")]},
                                    {"selector": "caption", "props": [("text-align", "left")]}])
    note = enforcement_note(records)
    return styler.set_caption(note) if note else styler


def truth_frame(table):
    """A TruthTable (kplab.cni.reach.truth_table) as a pandas DataFrame, one row a pair. Columns: from, to
    (categorical), port, protocol, allowed, ingress, egress, policies (the deciding policies, ", "-joined;
    categorical), and `reason` when the table has reasons. Categoricals keep a million-pair table small."""
    import pandas as pd

    frame = pd.DataFrame({
        "from": pd.Categorical.from_codes(table.src, categories=list(table.ends)),
        "to": pd.Categorical.from_codes(table.dst, categories=list(table.ends)),
        "port": np.full(len(table), table.port, dtype=np.int64),
        "protocol": table.protocol,
        "allowed": table.allowed,
        "ingress": table.ingress,
        "egress": table.egress,
        "policies": pd.Categorical.from_codes(table.policy_codes, categories=list(table.policy_labels)),
    })
    if table.reasons is not None:
        frame["reason"] = list(table.reasons)
    return frame
