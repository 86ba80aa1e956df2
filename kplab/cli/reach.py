"""`kplab reach MANIFEST... [--from SRC] [--to DST] [--port N] [--protocol P] [--json]`: NetworkPolicy verdicts."""
from __future__ import annotations

import json
import sys

import kplab
from kplab.errors import KplabError
from kplab.cli import load
from kplab.views.reach import enforcement_note, reach_text


def run(args) -> int:
    cluster = load(args.manifests)
    records = kplab.reach(cluster, src=args.src, dst=args.dst, port=args.port, protocol=args.protocol)
    if args.json:
        json.dump(list(records), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not records:
        raise KplabError("no pairs to show: the manifests hold fewer than two endpoints for --from/--to")
    print(reach_text(records))
    note = enforcement_note(records)
    if note:
        print(f"note: {note}")
    return 0
