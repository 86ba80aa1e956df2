"""Every field case in ../shared/field (and paste/) gives the answer the real node or cluster gave.

Each `NAME.expect.json` holds the `kplab` command (run from the field folder) and `expect`, the real answer. The
command runs through the CLI (with --json where the command has it); each key of `expect` is checked by the
checker of that key below. A key no checker knows fails the test, so a new kind of expectation is never passed
by accident. `why`, `should` and `notes` are the case's explanation, not an answer to check.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kplab.cli import main

FIELD = Path(__file__).resolve().parent / ".." / ".." / "shared" / "field"
CASES = sorted(FIELD.glob("*.expect.json")) + sorted(FIELD.glob("paste/*.expect.json")) if FIELD.is_dir() else []
EXPLANATIONS = {"why", "should", "notes"}


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def _json_argv(argv: list[str]) -> list[str]:
    return argv + ["--json"] if argv[0] in ("trace", "trace-rules", "reach") and "--json" not in argv else argv


def _node_addresses(manifest: str) -> set[str]:
    from kplab.k8s import load_cluster
    cluster = load_cluster(manifest)
    return {a.address for n in cluster.nodes.values() for a in n.addresses}


def check(argv: list[str], expect: dict, capsys) -> None:
    if expect.get("refused"):
        code, out, err = _run(argv, capsys)
        assert code == 1 and err.startswith("kplab: error: ") and "Traceback" not in err, (code, err)
        return
    code, out, err = _run(_json_argv(argv), capsys)
    if expect.get("ambiguous") is True and code == 1:  # refused, naming both readings
        assert "ambiguous" in err and "/pod/" in err and "/svc/" in err, err
        return
    assert code == 0, err
    data = json.loads(out)
    text = None
    for key, want in expect.items():
        if key in EXPLANATIONS:
            continue
        if key == "refused":
            continue
        if key == "must_not":  # "refuse: ..." : the command answered (exit 0 above)
            assert want.startswith("refuse"), want
        elif key in ("verdict", "out_iface"):
            assert data[key] == want, (key, data[key])
        elif key == "decided_by":
            assert {k: data["decided_by"][k] for k in want} == want
        elif key == "connection":
            assert data["connection"] == want
        elif key == "should_warn":
            assert data["warnings"], "expected a warning: " + want
        elif key == "delivered_to":  # "the nginx pod"
            name = re.fullmatch(r"the (\S+) pod", want).group(1)
            assert data["delivered_to"] and name in data["delivered_to"], data["delivered_to"]
        elif key == "source_seen":  # "a node address (...)"
            assert want.startswith("a node address"), want
            assert data["source_seen"].rsplit(":", 1)[0] in _node_addresses(argv[1])
        elif key == "ambiguous":  # answered: the notes say the name is both a Pod and a Service (or which it took)
            said = " ".join(data.get("notes", []))
            assert want is True and "Pod" in said and "Service" in said, said
        elif key == "allowed_by_policy_semantics":
            assert data and all(row["allowed"] == want for row in data), data
        elif key == "should_also_say":  # "policy not enforced by this cluster's CNI (bridge)"
            cni = re.search(r"\((\w+)\)", want).group(1)
            assert all(row["enforced"] is False and row["cni"] == cni for row in data), data
            if text is None:
                code, text, err = _run(argv, capsys)
                assert code == 0, err
            assert "does not enforce NetworkPolicy" in text and f"({cni})" in text
        elif key == "probes":
            for probe in want:
                check(probe["command"][1:], probe["expect"], capsys)
        else:
            pytest.fail(f"no checker for expectation {key!r}: {want!r}")


def _param(case: Path):
    return pytest.param(case, id=str(case.relative_to(FIELD)))


@pytest.mark.skipif(not CASES, reason=f"field data not found at {FIELD}")
@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_field_case(case, capsys, monkeypatch):
    spec = json.loads(case.read_text())
    assert spec["command"][0] == "kplab"
    monkeypatch.chdir(FIELD)
    check(spec["command"][1:], spec["expect"], capsys)


def test_checker_catches_a_wrong_answer(capsys, monkeypatch):
    """The runner can fail: the F1 case with the answer kplab used to give (out eth0, DROP) is refused."""
    case = FIELD / "F1-routing-out-iface.expect.json"
    if not case.is_file():
        pytest.skip(f"field data not found at {FIELD}")
    spec = json.loads(case.read_text())
    monkeypatch.chdir(FIELD)
    with pytest.raises(AssertionError):
        check(spec["command"][1:], {"verdict": "DROP", "out_iface": "eth0"}, capsys)
    with pytest.raises(pytest.fail.Exception):
        check(spec["command"][1:], {"no_such_key": 1}, capsys)
