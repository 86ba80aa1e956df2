"""`kplab lab up|trace|compare|down` end to end on the nodeport scenario, and the refusal where the lab cannot
run."""
from __future__ import annotations

import json

import pytest

from kplab.cli import main
from kplab.lab import namespace as ns
from kplab.walk.trace import Trace

from .conftest import DATA


def test_refuses_clearly_without_root(monkeypatch, capsys):
    import kplab.lab.lab as lab_module
    monkeypatch.setattr(lab_module.os, "geteuid", lambda: 1000)
    assert main(["lab", "up", str(DATA / "nodeport")]) == 1
    err = capsys.readouterr().err
    assert "needs root" in err and "Traceback" not in err


def test_trace_without_a_lab_says_so(monkeypatch, tmp_path, capsys):
    import kplab.lab.namespace as namespace
    import kplab.lab.state as state
    monkeypatch.setattr(state, "STATE_DIR", tmp_path / "none")
    monkeypatch.setattr(namespace, "STATE_DIR", tmp_path / "none")
    assert main(["lab", "trace", "--from", "203.0.113.10", "--to", "svc/frontend"]) == 1
    assert "no lab is up" in capsys.readouterr().err


@pytest.mark.kernel
def test_up_trace_compare_down(capsys):
    assert main(["lab", "up", str(DATA / "nodeport")]) == 0
    out = capsys.readouterr().out
    lab_id = out.split()[1]
    prefix = f"kpl-{lab_id}-"
    try:
        assert ns.existing(prefix), out
        assert main(["lab", "trace", "--lab", lab_id, "--from", "203.0.113.10", "--to", "minikube:31380",
                     "--json"]) == 0
        trace = Trace.from_dict(json.loads(capsys.readouterr().out))
        assert trace.verdict == "ACCEPT" and trace.delivered_to.startswith("default/webapp-")
        assert trace.host_names[:3] == ("203.0.113.10", "router", "minikube")
        assert any(s.kind == "nat" and s.action == "DNAT" for _, s in trace.steps())
        assert main(["lab", "compare", "--lab", lab_id, "--from", "203.0.113.10", "--to", "svc/frontend",
                     "--tries", "3"]) == 0  # a ClusterIP from outside: lost beyond the router in both
        shown = capsys.readouterr().out
        assert "simulator (kplab)" in shown and "Linux kernel (nftrace)" in shown and "agrees" in shown
    finally:
        assert main(["lab", "down", "--lab", lab_id]) == 0
    assert ns.leaks(prefix, set()) == []
