"""`kplab get`: kubectl-style tables, -o yaml/json, errors without tracebacks (DataFrames: tests/views/test_kubectl.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from kplab.cli import main
from kplab.k8s import load_cluster

DATA = Path(__file__).resolve().parents[2] / "data"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def row(out: str, name: str) -> list[str]:
    for line in out.splitlines():
        cells = line.split()
        if len(cells) > 1 and cells[1] == name:
            return cells
    raise AssertionError(f"{name} not in\n{out}")


def test_get_services_article(capsys):
    code, out, err = run(capsys, "get", "services", str(DATA / "article"))
    assert code == 0 and err == ""
    assert out.splitlines()[0].split() == ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)",
                                           "SELECTOR"]
    assert row(out, "webapp")[2:] == ["ClusterIP", "10.96.1.3", "<none>", "80/TCP", "app=webapp"]
    assert row(out, "kube-dns")[5] == "53/UDP,53/TCP,9153/TCP"


def test_get_nodeport_shows_node_port(capsys):
    code, out, _ = run(capsys, "get", "svc", str(DATA / "nodeport"))
    assert code == 0 and row(out, "frontend")[2] == "NodePort" and row(out, "frontend")[5] == "80:31380/TCP"


def test_get_pods_wide_columns(capsys):
    code, out, _ = run(capsys, "get", "pods", str(DATA / "article"))
    assert out.splitlines()[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "IP", "NODE"]
    assert row(out, "webapp-d6989d74-7bqwt")[2:] == ["1/1", "Running", "10.244.120.102", "minikube-m02"]


def test_get_other_kinds(capsys):
    _, out, _ = run(capsys, "get", "endpointslices", str(DATA / "article"))
    webapp = [line.split() for line in out.splitlines() if line.split()[1].startswith("webapp-")]
    assert webapp[0][2:] == ["IPv4", "80", "10.244.120.102,10.244.120.103"]
    _, out, _ = run(capsys, "get", "nodes", str(DATA / "clusters" / "three-node.yaml"))
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["minikube", "minikube-m02", "minikube-m03"]
    _, out, _ = run(capsys, "get", "networkpolicies", str(DATA / "policy"))
    assert row(out, "allow-db-access")[2] == "app=db"


def test_output_yaml_and_json_carry_allocations(capsys):
    code, out, _ = run(capsys, "get", "services", str(DATA / "nodeport"), "-o", "yaml")
    doc = yaml.safe_load(out)
    assert code == 0 and doc["kind"] == "List"
    frontend = next(i for i in doc["items"] if i["metadata"]["name"] == "frontend")
    assert frontend["spec"]["clusterIP"] and frontend["spec"]["ports"][0]["nodePort"] == 31380
    code, out, _ = run(capsys, "get", "pods", str(DATA / "article"), "-o", "json")
    pods = json.loads(out)["items"]
    assert {p["status"]["podIP"] for p in pods} >= {"10.244.120.102", "10.244.120.103"}


def test_yaml_output_loads_back(tmp_path, capsys):
    """-o yaml prints `kind: List` as kubectl does, so it loads again."""
    _, out, _ = run(capsys, "get", "pods", str(DATA / "policy"), "-o", "yaml")
    (tmp_path / "pods.yaml").write_text(out)
    again = load_cluster(tmp_path / "pods.yaml")
    first = load_cluster(DATA / "policy")
    assert {k: p.ip for k, p in again.pods.items() if p.namespace == "default"} == \
        {k: p.ip for k, p in first.pods.items() if p.namespace == "default"}


def test_errors_exit_1_without_traceback(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: frontend}\nspec: {type: NodePort, ports: [{port: 80, "
                   "nodePort: 99999}]}\n")
    code, out, err = run(capsys, "get", "services", str(bad))
    assert code == 1 and out == ""
    assert err.strip() == (f'kplab: error: {bad}:1: Service "frontend" is invalid: spec.ports[0].nodePort: Invalid '
                           "value: 99999: provided port is not in the valid range. The range of valid ports is "
                           "30000-32767")
    code, _, err = run(capsys, "get", "widgets", str(DATA / "article"))
    assert code == 1 and 'resource type "widgets"' in err


def test_warnings_go_to_stderr(capsys, tmp_path):
    f = tmp_path / "cm.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    code, out, err = run(capsys, "get", "pods", str(f))
    assert code == 0 and "Warning: skipped objects of kinds kplab does not model: ConfigMap (1)" in err
    assert "coredns" in out


def test_subprocess_once(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "kplab.cli", "get", "services", str(DATA / "article")],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "frontend" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "kplab.cli", "get", "services", str(tmp_path / "missing.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "does not exist" in bad.stderr
