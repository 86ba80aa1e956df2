"""`kplab trace MANIFEST... --from SRC --to DST [--port N] [--protocol P] [--seed N] [--reply] [--json] [--html FILE]
[--cni bridge|calico] [--overlay none|vxlan|ipip]`."""
from __future__ import annotations

import json
from pathlib import Path

import kplab
from kplab.errors import KplabError
from kplab.cli import load
from kplab.views.player import play, write_atomically
from kplab.views.walk import outcomes_text


def run(args) -> int:
    cluster = load(args.manifests)
    options = {}
    if args.cni:
        options["cni"] = args.cni
    if args.overlay:
        options["overlay"] = None if args.overlay == "none" else args.overlay
    try:
        result = kplab.trace(cluster, args.src, args.dst, port=args.port, protocol=args.protocol, seed=args.seed,
                             reply=args.reply, **options)
    except KplabError as e:  # the core speaks of the source and destination; here they are flags
        text = str(e)
        for word, flag in (("source ", "--from "), ("destination ", "--to ")):
            if text.startswith(word):
                text = flag + text[len(word):]
        raise KplabError(text) from None
    if args.html:
        # the animated player: one self-contained file that works opened from disk, offline
        try:
            write_atomically(Path(args.html), play(result, cluster=cluster, **options).html)
        except KplabError as e:
            raise KplabError(f"--html {e}") from None
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    elif args.html:  # the page is the answer: stdout says where it is and how it ended, not the whole walk
        print(f"wrote {args.html}: {result.verdict} {result.reason}".rstrip())
    else:
        print(result)
        print()
        print("outcomes:")
        print(outcomes_text(result.outcomes()))
    return 0
