"""State of labs left up by `kplab lab up`: one JSON file per lab in /run/kplab, naming its namespaces' prefix,
its manifests and options, so `kplab lab trace|compare|down` (other processes) can find and use it, and so the
stale-namespace sweep (kplab.lab.namespace.stale) leaves it alone although its creating process has exited."""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from kplab.lab import namespace as ns
from kplab.lab.namespace import STATE_DIR, LabError


@dataclass(frozen=True)
class State:
    """id (`<pid>-<tag>`), namespace prefix, manifests (absolute paths), walk options, outside clients."""

    id: str
    prefix: str
    manifests: tuple[str, ...]
    options: dict
    clients: tuple[str, ...]


def save(lab, manifests, options: dict) -> State:
    """Record a lab that stays up after this process (written atomically)."""
    pid_tag = lab.prefix[len(ns.PREFIX):].rstrip("-")
    state = State(pid_tag, lab.prefix, tuple(str(Path(m).resolve()) for m in manifests), dict(options),
                  tuple(lab.clients))
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    path = STATE_DIR / f"{state.id}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2))
    os.replace(tmp, path)
    return state


def load(lab_id: str | None = None) -> State:
    """The state of lab `lab_id`, or of the only lab up; LabError when there is none or several."""
    files = sorted(STATE_DIR.glob("*.json")) if STATE_DIR.is_dir() else []
    if lab_id is not None:
        files = [f for f in files if f.stem == lab_id]
    if not files:
        raise LabError("no lab is up" + (f" with id {lab_id}" if lab_id else "") + ": run `kplab lab up MANIFEST...`")
    if len(files) > 1:
        raise LabError(f"several labs are up ({', '.join(f.stem for f in files)}): choose one with --lab ID")
    data = json.loads(files[0].read_text())
    return State(data["id"], data["prefix"], tuple(data["manifests"]), dict(data["options"]),
                 tuple(data["clients"]))


def remove(lab_id: str | None = None) -> list[tuple[str, int]]:
    """Delete the namespaces of one lab (or of every lab `kplab lab up` made) and their state files."""
    files = sorted(STATE_DIR.glob("*.json")) if STATE_DIR.is_dir() else []
    if lab_id is not None:
        files = [f for f in files if f.stem == lab_id]
        if not files:
            raise LabError(f"no lab with id {lab_id} is up")
    removed = []
    for f in files:
        data = json.loads(f.read_text())
        prefix = data.get("prefix", "")
        if not prefix.startswith(ns.PREFIX):
            continue
        names = ns.existing(prefix)
        left = ns.delete(names)
        if left:
            raise LabError(f"could not delete namespaces {', '.join(left)}")
        f.unlink(missing_ok=True)
        removed.append((data["id"], len(names)))
    return removed


@contextlib.contextmanager
def attach(lab_id: str | None = None):
    """The lab left up by `kplab lab up`, attached in this process (servers and the trace listener run while the
    body runs; the namespaces stay)."""
    from kplab.k8s import load_cluster
    from kplab.lab.lab import Lab
    state = load(lab_id)
    missing = [m for m in state.manifests if not Path(m).exists()]
    if missing:
        raise LabError(f"the lab's manifests are gone: {', '.join(missing)}")
    cluster = load_cluster(*state.manifests)
    lab = Lab(cluster, clients=state.clients, prefix=state.prefix, **state.options)
    lab.attach()
    try:
        yield lab
    finally:
        lab.detach()
