"""Limits on bad or huge input (issue 15): time and peak memory of loading 40,000 Services, a Deployment with
10,000 replicas, and refusing a YAML alias bomb (9 levels of 9 aliases: 387 million leaves once expanded).

Peak memory is the process's high-water mark (ru_maxrss) of a fresh interpreter per case, so one case's garbage
does not count against the next; CPU seconds are given beside wall seconds (the machine may be shared)."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASE = """
import json, resource, sys, time
from kplab.errors import KplabError
from kplab.k8s import load_cluster
wall, cpu = time.perf_counter(), time.process_time()
try:
    c = load_cluster(sys.argv[1])
    result = f"{len(c.services)} services, {len(c.pods)} pods"
except KplabError as e:
    result = "refused: " + str(e).split(": ", 1)[1][:90]
print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "result": result,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def services(n: int) -> str:
    return "".join(f"---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: default}}\n"
                   f"spec:\n  selector: {{app: a{i % 50}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"
                   for i in range(n))


def deployment(replicas: int) -> str:
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: {replicas}\n"
            "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
            "    spec: {containers: [{name: c, ports: [{containerPort: 8080}]}]}\n")


def alias_bomb() -> str:
    levels = "abcdefghi"
    lines = ["apiVersion: v1", "kind: Service", "metadata:", "  name: web", "  annotations:",
             "    a: &a [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"    {c}: &{c} [" + ", ".join([f"*{p}"] * 9) + "]" for p, c in zip(levels, levels[1:])]
    lines += ["spec:", "  ports: [{port: 80}]", "  selector: {app: *i}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    cases = [("40,000 Services", services(40_000)), ("Deployment, 10,000 replicas", deployment(10_000)),
             ("YAML alias bomb (9^9)", alias_bomb())]
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in cases:
            path = Path(tmp) / "m.yaml"
            path.write_text(text)
            done = subprocess.run([sys.executable, "-c", CASE, str(path)], capture_output=True, text=True,
                                  cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=900)
            if done.returncode != 0:
                print(f"{name}: failed: {done.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(done.stdout)
            print(f"{name:30} {r['wall']:7.2f} s wall {r['cpu']:7.2f} s CPU  peak {r['peak_mb']:6.0f} MB  "
                  f"{r['result']}", flush=True)


if __name__ == "__main__":
    main()
