"""`kplab reach` end to end: JSON shape, the article's allow-db-access verdicts, and refusals without tracebacks."""
from __future__ import annotations

import json

from kplab.cli import main

MANIFEST = """
apiVersion: v1
kind: Pod
metadata: {name: frontend, namespace: default, labels: {role: frontend}}
spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata: {name: backend, namespace: default, labels: {role: backend}}
spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: default, labels: {role: db}}
spec: {containers: [{name: c, image: postgres, ports: [{containerPort: 5432, name: pg}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-db-access, namespace: default}
spec:
  podSelector: {matchLabels: {role: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {role: backend}}}]
    ports: [{port: %s}]
"""


def _write(tmp_path, port="5432"):
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST % port)
    return str(path)


def test_json_rows_for_allow_db_access(tmp_path, capsys):
    assert main(["reach", _write(tmp_path), "--to", "default/db", "--port", "5432", "--json"]) == 0
    rows = {r["from"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows["default/backend"]) >= {"from", "to", "port", "protocol", "allowed", "ingress", "egress", "policies"}
    assert rows["default/backend"]["allowed"] and rows["default/backend"]["policies"] == ["default/allow-db-access"]
    assert "ingress[0] from[0]" in rows["default/backend"]["reason"]
    front = rows["default/frontend"]
    assert (front["allowed"], front["ingress"], front["egress"]) == (False, False, True)
    assert front["reason"] == ("default/db is isolated for ingress by default/allow-db-access; "
                               "no rule allows 5432/TCP from default/frontend")


def test_text_table_and_declared_ports(tmp_path, capsys):
    assert main(["reach", _write(tmp_path), "--from", "default/frontend", "--to", "default/db"]) == 0
    out = capsys.readouterr().out
    assert "5432/TCP" in out and "DENIED" in out


def test_invalid_policy_is_refused_with_api_server_wording(tmp_path, capsys):
    assert main(["reach", _write(tmp_path, port="70000"), "--json"]) == 1
    err = capsys.readouterr().err
    assert 'The NetworkPolicy "allow-db-access" is invalid: spec.ingress[0].ports[0].port: Invalid value: 70000: ' \
           "must be between 1 and 65535, inclusive" in err
    assert "Traceback" not in err


def test_unknown_pod_is_refused(tmp_path, capsys):
    assert main(["reach", _write(tmp_path), "--from", "default/nope"]) == 1
    assert "pod default/nope not found" in capsys.readouterr().err
