"""Fuzz: mutations of the data/ manifests and of real iptables-save dumps (a seeded generator), each run through the
CLI. For every input: exit 0, or a non-zero exit whose message names the file (and line) or the object — never a
traceback, never more than a few seconds, never more than a few hundred MB (the runs share one worker process under
an address-space limit, each under an alarm).

Mutations a real API server refuses whatever the field (an unknown field holding a list, a mapping turned into a
list, a scalar turned into a mapping) must be refused: an exit 0 on them is a silent accept.

`python tests/test_fuzz.py --count [--pythonpath DIR]` runs the corpus one process per input against any checkout
and counts tracebacks, hangs, memory blow-ups and silent accepts (the figures in issue 15's closing note).
"""
from __future__ import annotations

import copy
import io
import json
import os
import random
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DUMPS = ROOT / ".." / "shared" / "conformance" / "kube-proxy" / "dumps"
SEED = 15
SECONDS = 8  # per input: a hang is anything slower (the machine may be loaded)
MEMORY = 1 << 30  # address space of the worker: 1 GiB (Python itself takes ~100 MB of it)
MANIFESTS = ["data/policy/apps.yaml", "data/policy/allow-db-access.yaml", "data/article/services.yaml",
             "data/article/webapp.yaml", "data/nodeport/frontend-nodeport.yaml", "data/headless/db-statefulset.yaml",
             "data/clusters/two-node.yaml"]
COMMANDS = [["get", "pods"], ["get", "svc"], ["get", "endpointslices"], ["rules", "--node", "minikube"], ["reach"]]


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


def _get(doc, path):
    for k in path:
        doc = doc[k]
    return doc


def _set(doc, path, value):
    _get(doc, path[:-1])[path[-1]] = value


SCALARS = [0, -1, 65536, 2 ** 31, 1.5, "80", "", "x" * 300, True, None, "Bad_Name!", "10.0.0.300", "1.2.3.4/40"]


def _mutate_document(rng: random.Random, doc) -> tuple[object, bool]:
    """One change to one field; True when any API server refuses the result whatever the field."""
    doc = copy.deepcopy(doc)
    paths = [p for p in _paths(doc) if p and p[0] not in ("apiVersion", "kind")]
    path = rng.choice(paths)
    value = _get(doc, path)
    kind = rng.randrange(7)
    if kind == 0 and isinstance(value, dict):
        value["zzUnknownField"] = [1]  # an unknown field, or a map value that is not a string
        return doc, True
    if kind == 1 and isinstance(value, dict):
        _set(doc, path, [1, 2])
        return doc, True
    if kind == 2 and not isinstance(value, (dict, list)) and value is not None:
        _set(doc, path, {"a": {"b": 1}})
        return doc, True
    if kind == 3 and isinstance(path[-1], str):
        parent = _get(doc, path[:-1])
        parent[path[-1][:-1] or "x"] = parent.pop(path[-1])  # a misspelt key (may still be a known one)
        return doc, False
    if kind == 4 and isinstance(path[-1], str):
        del _get(doc, path[:-1])[path[-1]]
        return doc, False
    _set(doc, path, rng.choice(SCALARS))
    return doc, False


def _mutate_text(rng: random.Random, text: str) -> str:
    lines = text.splitlines(keepends=True)
    i = rng.randrange(len(lines))
    kind = rng.randrange(5)
    if kind == 0:
        del lines[i]
    elif kind == 1:
        lines.insert(i, lines[rng.randrange(len(lines))])
    elif kind == 2:
        j = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:j] + rng.choice(["\t", ":", "-", "!", "&a ", "*a ", "'", '"', "{", "[", "\x00", "é"]) \
            + lines[i][j:]
    elif kind == 3:
        lines = lines[:i]
    else:
        words = lines[i].split(" ")
        k = rng.randrange(len(words))
        words[k] = rng.choice(["99999", "0", "-1", "80-70", "::1", "abcdefghijklmnopq", "-p", "-s", "--dport", "!"])
        lines[i] = " ".join(words)
    return "".join(lines)


def corpus(seed: int = SEED, manifests: int = 120, dumps: int = 60) -> list[dict]:
    """[{name, files: {name: text}, argv (with {file} for the first file), must_refuse}] — deterministic."""
    import yaml

    rng = random.Random(seed)
    cases = []
    for n in range(manifests):
        source = ROOT / rng.choice(MANIFESTS)
        command = rng.choice(COMMANDS)
        text = source.read_text()
        must_refuse = False
        if rng.random() < 0.7:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
            k = rng.randrange(len(docs))
            docs[k], must_refuse = _mutate_document(rng, docs[k])
            text = yaml.safe_dump_all(docs, sort_keys=False)
        else:
            text = _mutate_text(rng, text)
        argv = [command[0], "{file}", *command[1:]] if command[0] != "get" else [*command, "{file}"]
        cases.append({"name": f"m{n}-{source.name}", "files": {"m.yaml": text}, "argv": argv,
                      "must_refuse": must_refuse})
    sources = sorted(DUMPS.glob("*.rules.txt")) if DUMPS.is_dir() else []
    sources += [p for p in (ROOT / "data" / "byoc").glob("*") if p.suffix in (".rules", ".iptables-save") and p.is_file()]
    for n in range(dumps if sources else 0):
        source = rng.choice(sources)
        text = _mutate_text(rng, source.read_text())
        argv = ["trace-rules", "{file}", "--src", "10.244.0.5", "--dst", rng.choice(["10.96.0.10", "10.0.0.1"]),
                "--dport", rng.choice(["80", "53", "443"])]
        cases.append({"name": f"d{n}-{source.name}", "files": {"m.rules": text}, "argv": argv, "must_refuse": False})
    return cases


def _run_in_process(case: dict, folder: Path) -> dict:
    """One case through kplab.cli.main in this process: its exit code, stderr's last line, or the exception."""
    import signal

    from kplab.cli import main

    paths = []
    for name, text in case["files"].items():
        path = folder / name
        path.write_text(text)
        paths.append(path)
    argv = [str(paths[0]) if a == "{file}" else a for a in case["argv"]]

    def alarm(signum, frame):
        raise TimeoutError("hang")

    signal.signal(signal.SIGALRM, alarm)
    signal.alarm(SECONDS)
    err, out = io.StringIO(), io.StringIO()
    try:
        with redirect_stderr(err), redirect_stdout(out):
            try:
                code = main(argv)
            except SystemExit as e:
                code = e.code
        result = {"code": code, "message": (err.getvalue().strip().splitlines() or [""])[-1]}
    except TimeoutError:
        result = {"code": None, "error": "hang"}
    except MemoryError:
        result = {"code": None, "error": "memory"}
    except BaseException as e:  # noqa: BLE001 - a traceback is exactly what this test looks for
        result = {"code": None, "error": f"traceback {type(e).__name__}: {str(e)[:200]}"}
    finally:
        signal.alarm(0)
    return {"name": case["name"], "path": str(paths[0]), "must_refuse": case["must_refuse"], **result}


def _worker(seed: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    os.chdir(ROOT)
    results = []
    for case in corpus(seed):
        with tempfile.TemporaryDirectory() as d:
            results.append(_run_in_process(case, Path(d)))
    print(json.dumps(results))


def test_fuzzed_manifests_and_dumps_fail_cleanly():
    import pytest

    if not DUMPS.is_dir() and os.environ.get("CI") == "true":
        pytest.fail(f"conformance dumps missing at {DUMPS}")
    done = subprocess.run([sys.executable, __file__, "--worker", str(SEED)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert len(results) >= 150
    faults = [r for r in results if r.get("error")]
    assert faults == [], faults[:5]
    unclear = [r for r in results if r["code"] != 0 and not (Path(r["path"]).name in r["message"]
                                                              or "argument" in r["message"] or "--" in r["message"])]
    assert unclear == [], unclear[:5]
    silent = [r for r in results if r["must_refuse"] and r["code"] == 0]
    assert silent == [], silent[:5]
    assert any(r["code"] == 0 for r in results) and any(r["code"] == 1 for r in results)  # both kinds occur


def _count(pythonpath: str) -> dict:
    """Each case in its own process against `pythonpath` (a checkout): the counts for the closing note."""
    counts = {"inputs": 0, "tracebacks": 0, "hangs": 0, "memory": 0, "silent_accepts": 0, "refused": 0, "accepted": 0}
    cli = "kplab.cli"
    for case in corpus():
        counts["inputs"] += 1
        with tempfile.TemporaryDirectory() as d:
            paths = []
            for name, text in case["files"].items():
                (Path(d) / name).write_text(text)
                paths.append(str(Path(d) / name))
            argv = [paths[0] if a == "{file}" else a for a in case["argv"]]
            try:
                done = subprocess.run(["prlimit", f"--as={2 << 30}", sys.executable, "-m", cli, *argv], cwd=ROOT,
                                      capture_output=True, text=True, timeout=20,
                                      env={**os.environ, "PYTHONPATH": pythonpath, "MPLBACKEND": "Agg"})
            except subprocess.TimeoutExpired:
                counts["hangs"] += 1
                continue
        if "MemoryError" in done.stderr:
            counts["memory"] += 1
        elif "Traceback" in done.stderr:
            counts["tracebacks"] += 1
        elif done.returncode == 0:
            counts["accepted"] += 1
            counts["silent_accepts"] += case["must_refuse"]
        else:
            counts["refused"] += 1
    return counts


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.path.insert(0, str(ROOT))
        _worker(int(sys.argv[2]))
    elif sys.argv[1:2] == ["--count"]:
        where = sys.argv[sys.argv.index("--pythonpath") + 1] if "--pythonpath" in sys.argv else str(ROOT)
        print(json.dumps(_count(where)))
