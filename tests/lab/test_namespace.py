"""Lab namespaces: names, stale ones from crashed runs, leaks after teardown (also after an exception, Ctrl-C
and SIGTERM)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kplab.lab import namespace as ns
from kplab.lab.namespace import LabError

ROOT = Path(__file__).resolve().parents[2]


def test_run_prefix_names_this_process():
    assert ns.run_prefix("ab12") == f"kpl-{os.getpid()}-ab12-"


def test_create_refuses_names_outside_the_lab():
    with pytest.raises(LabError, match="kpl-"):
        ns.create(["eth-host"])
    with pytest.raises(LabError):
        ns.create(["kpl-1/../x"])


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.kernel
def test_stale_namespaces_of_dead_runs_are_swept_and_live_ones_kept():
    dead = f"kpl-{_dead_pid()}-abc123-node"
    live = f"kpl-{os.getpid()}-abc123-node"
    foreign = "kpl-notours"  # not in the lab's name form: left alone
    ns.create([dead, live])
    try:
        assert dead in ns.stale() and live not in ns.stale()
        swept = ns.sweep_stale()
        assert dead in swept
        assert dead not in ns.existing() and live in ns.existing()
        assert foreign not in swept
    finally:
        ns.delete([dead, live])
    assert not [n for n in ns.existing() if n in (dead, live)]


@pytest.mark.kernel
def test_inside_switches_back_even_on_error():
    name = f"kpl-{os.getpid()}-def456-x"
    before = os.stat("/proc/thread-self/ns/net").st_ino
    ns.create([name])
    try:
        with pytest.raises(RuntimeError):
            with ns.inside(name):
                assert os.stat("/proc/thread-self/ns/net").st_ino == ns.inode(name)
                raise RuntimeError("boom")
        assert os.stat("/proc/thread-self/ns/net").st_ino == before
    finally:
        ns.delete([name])


@pytest.mark.kernel
def test_entering_a_missing_namespace_is_a_clear_error():
    with pytest.raises(LabError, match="does not exist"):
        with ns.inside(f"kpl-{os.getpid()}-000000-gone"):
            pass


CHILD = textwrap.dedent("""
    import sys, time
    from kplab.k8s import load_cluster
    from kplab.lab import Lab
    lab = Lab(load_cluster(sys.argv[1]), tag="feed01")
    with lab:
        print(lab.prefix, flush=True)
        time.sleep(60)
""")


@pytest.mark.kernel
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_a_lab_killed_by_ctrl_c_or_sigterm_leaves_nothing(how):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(ROOT / "data" / "nodeport")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    try:
        prefix = child.stdout.readline().strip()
        assert prefix.startswith(f"kpl-{child.pid}-feed01-"), child.stderr.read()
        assert ns.existing(prefix), "the lab was not up"
        child.send_signal(how)
        child.wait(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert ns.leaks(prefix, set()) == []
