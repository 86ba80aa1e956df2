"""Through the front door: `import kplab` (time and what it loads), kplab.trace on the article's cluster, and on a
10,000-Service cluster after the first trace (which builds the topology and the touched nodes' rules).

Goals (issue 9): >= 1,000 traces/s on the article, >= 500/s on 10,000 Services after the first trace. Each
kplab.trace resolves the kubectl names, checks the cluster's revision (one integer), walks every branch of the
rules' random choices once and returns a frozen Trace with all outcomes.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = ("import time; t = time.perf_counter(); import kplab; t = time.perf_counter() - t; import sys; "
         "print(t, len(sys.modules), ' '.join(sorted(m for m in sys.modules if m.startswith('kplab') or "
         "m.split('.')[0] in ('pandas', 'numpy', 'yaml', 'matplotlib', 'networkx', 'ipywidgets'))))")


def import_figures() -> None:
    runs = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=60)
        seconds, count, names = out.stdout.split(" ", 2)
        runs.append((float(seconds), int(count), names.strip()))
    best = min(runs)
    print(f"import kplab: {1000 * best[0]:.1f} ms (best of 5); {best[1]} modules in sys.modules afterwards "
          f"(the interpreter's own included); of kplab and the heavy libraries: {best[2]}")
    out = subprocess.run([sys.executable, "-c", "import sys; print(len(sys.modules))"], capture_output=True,
                         text=True, timeout=60)
    print(f"  (a bare interpreter holds {out.stdout.strip()} modules)")


def main() -> None:
    import kplab
    from benchmarks.bench_trace import big_cluster, rate

    import_figures()
    cluster = kplab.load("article")
    start = time.perf_counter()
    kplab.trace(cluster, "deploy/auth", "svc/frontend")
    print(f"article: first kplab.trace (builds topology + rules) {1000 * (time.perf_counter() - start):.0f} ms")
    for src, dst, port in (("deploy/auth", "svc/frontend", None), ("deploy/auth", "deploy/webapp", 80)):
        per_s = rate(lambda: kplab.trace(cluster, src, dst, port=port))
        t = kplab.trace(cluster, src, dst, port=port)
        print(f"article: {per_s:,.0f} traces/s kplab.trace(c, {src!r}, {dst!r}) ({len(t.outcomes())} outcomes, "
              f"{sum(len(h.steps) for h in t.hops)} steps)")

    big = big_cluster()
    start = time.perf_counter()
    kplab.trace(big, "pod/p0-0", "svc/s5000")
    print(f"10k services: first kplab.trace {time.perf_counter() - start:.1f} s")
    per_s = rate(lambda: kplab.trace(big, "pod/p0-0", "svc/s5000"))
    print(f"10k services: {per_s:,.0f} traces/s kplab.trace(c, 'pod/p0-0', 'svc/s5000') after the first")


if __name__ == "__main__":
    main()
