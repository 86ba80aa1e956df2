from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kplab.cli import main

RULES = """*nat
:KUBE-SVC-X - [0:0]
:KUBE-SEP-1 - [0:0]
:KUBE-SEP-2 - [0:0]
:KUBE-SEP-3 - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A PREROUTING -p tcp -d 10.96.0.5 --dport 80 -j KUBE-SVC-X
-A OUTPUT -p tcp -d 10.96.0.5 --dport 80 -j KUBE-SVC-X
-A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SVC-X ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-X -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-1
-A KUBE-SVC-X -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-2
-A KUBE-SVC-X -j KUBE-SEP-3
-A KUBE-SEP-1 -p tcp -j DNAT --to-destination 10.244.1.1:8080
-A KUBE-SEP-2 -p tcp -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SEP-3 -p tcp -j DNAT --to-destination 10.244.1.3:8080
COMMIT
*filter
:FORWARD DROP [0:0]
-A FORWARD -d 10.244.0.0/16 -j ACCEPT
COMMIT
"""


@pytest.fixture
def dump(tmp_path):
    path = tmp_path / "node.rules"
    path.write_text(RULES)
    return path


def run_json(capsys, *argv):
    assert main(["trace-rules", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_fields(dump, capsys):
    data = run_json(capsys, dump, "--src", "10.244.2.2", "--dst", "10.96.0.5", "--dport", "80",
                    "--local-ip", "192.168.0.2")
    assert data["verdict"] == "ACCEPT"
    assert data["endpoints"] == ["10.244.1.1:8080", "10.244.1.2:8080", "10.244.1.3:8080"]
    assert data["masquerade"] is False
    assert [o["probability_exact"] for o in data["outcomes"]] == ["1/3", "1/3", "1/3"]
    assert set(data["outcomes"][0]) >= {"probability", "verdict", "endpoint", "masquerade"}
    assert data["hops"][0] == {"table": "nat", "chain": "PREROUTING", "rule": 1, "verdict": "jump KUBE-SVC-X",
                               "text": "-A PREROUTING -p tcp -d 10.96.0.5 --dport 80 -j KUBE-SVC-X"}
    assert data["hops"][-1]["verdict"] == "ACCEPT"


def test_local_source_takes_output_path_and_is_masqueraded(dump, capsys):
    data = run_json(capsys, dump, "--src", "192.168.0.2", "--dst", "10.96.0.5", "--dport", "80",
                    "--local-ip", "192.168.0.2")
    assert data["path"] == "output"
    assert data["masquerade"] is True
    assert data["hops"][0]["chain"] == "OUTPUT"


def test_forward_policy_drop(dump, capsys):
    data = run_json(capsys, dump, "--src", "10.244.2.2", "--dst", "8.8.8.8", "--dport", "53",
                    "--protocol", "udp")
    assert data["verdict"] == "DROP" and data["endpoints"] == []
    assert data["hops"][-1] == {"table": "filter", "chain": "FORWARD", "rule": None, "text": "policy DROP",
                                "verdict": "DROP"}


def test_text_output_is_readable(dump, capsys):
    assert main(["trace-rules", str(dump), "--src", "10.244.2.2", "--dst", "10.96.0.5", "--dport", "80"]) == 0
    out = capsys.readouterr().out
    assert "verdict: ACCEPT" in out and "1/3" in out and "DNAT" in out


def test_errors_exit_one_with_message(tmp_path, capsys):
    assert main(["trace-rules", str(tmp_path / "missing"), "--src", "1.1.1.1", "--dst", "2.2.2.2",
                 "--dport", "1"]) == 1
    assert "cannot read rules file" in capsys.readouterr().err
    bad = tmp_path / "bad.rules"
    bad.write_text("*filter\n-A INPUT --bogus 1 -j ACCEPT\nCOMMIT\n")
    assert main(["trace-rules", str(bad), "--src", "1.1.1.1", "--dst", "2.2.2.2", "--dport", "1"]) == 1
    assert f"{bad}:2: unknown option '--bogus'" in capsys.readouterr().err
    good = tmp_path / "good.rules"
    good.write_text("*filter\nCOMMIT\n")
    assert main(["trace-rules", str(good), "--src", "nonsense", "--dst", "2.2.2.2", "--dport", "1"]) == 1
    assert "--src" in capsys.readouterr().err


def test_subprocess_exit_codes(dump, tmp_path):
    ok = subprocess.run([sys.executable, "-m", "kplab.cli", "trace-rules", str(dump), "--src", "10.244.2.2",
                         "--dst", "10.96.0.5", "--dport", "80", "--json"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["endpoints"]
    bad = tmp_path / "loop.rules"
    bad.write_text("*filter\n:A - [0:0]\n-A A -j A\nCOMMIT\n")
    fail = subprocess.run([sys.executable, "-m", "kplab.cli", "trace-rules", str(bad), "--src", "1.1.1.1",
                           "--dst", "2.2.2.2", "--dport", "1"], capture_output=True, text=True)
    assert fail.returncode == 1
    assert "loop.rules:3: jump loop" in fail.stderr and "Traceback" not in fail.stderr
