"""The front door (kplab/__init__.py): load, trace, rules, reach, explore; kubectl names; errors that name objects."""
from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

import kplab
from kplab.errors import KplabError

REPO = Path(__file__).resolve().parents[1]

EXPOSED = """\
apiVersion: v1
kind: Node
metadata: {name: node-1}
spec: {podCIDR: 10.244.1.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.1.11}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {run: web}}
spec: {nodeName: node-1, containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec: {nodeName: node-1, containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {run: web}, ports: [{port: 80}]}
"""


@pytest.fixture(scope="module")
def article():
    return kplab.load("article")


def test_done_when_command_runs_on_a_checkout():
    code = "import kplab; c = kplab.load('article'); print(kplab.trace(c, 'deploy/auth', 'svc/frontend'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("trace default/auth-565fbb4985-5kr4m -> default/frontend: tcp 10.244.0.3:43210 -> 10.96.1.1:80 [SYN]")
    assert "deploy/auth is Deployment default/auth: its pod auth-565fbb4985-5kr4m" in out.stdout
    assert "=> ACCEPT delivered to default/webapp-" in out.stdout


def test_every_submodule_imported_then_trace_still_a_function(article):
    for info in pkgutil.walk_packages(kplab.__path__, "kplab."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    assert callable(kplab.trace) and callable(kplab.reach) and callable(kplab.rules) and callable(kplab.load)
    assert kplab.trace(article, "deploy/auth", "svc/frontend").verdict == "ACCEPT"


def test_load_by_name_path_and_text(article, tmp_path):
    assert set(article.nodes) == {"minikube", "minikube-m02"}
    assert set(kplab.load(REPO / "data" / "article").pods) == set(article.pods)
    both = kplab.load(REPO / "data" / "clusters" / "three-node.yaml", REPO / "data" / "policy")
    assert "minikube-m03" in both.nodes and "default/allow-db-access" in both.networkpolicies
    c = kplab.load(EXPOSED)
    assert {"default/web", "default/client"} <= set(c.pods) and "default/web" in c.services
    with pytest.raises(KplabError, match=r"'nosuch' is neither a file, a folder nor a scenario \(scenarios in .*article"):
        kplab.load("nosuch")
    with pytest.raises(KplabError, match=r'^<yaml>:1: Service "x" is invalid: \[spec.ports\[0\].port: Invalid value: 99999'):
        kplab.load("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 99999}]}\n")


def test_trace_workload_to_service_with_exact_outcomes(article):
    t = kplab.trace(article, "deploy/auth", "svc/frontend")
    assert t.source == "default/auth-565fbb4985-5kr4m" and t.destination == "default/frontend"
    assert t.notes == ("deploy/auth is Deployment default/auth: its pod auth-565fbb4985-5kr4m "
                       "(the first of its 2 pods by name)",)
    assert [o.probability for o in t.outcomes()] == [Fraction(1, 2), Fraction(1, 2)]
    assert {o.delivered_to for o in t.outcomes()} == {"default/webapp-d6989d74-7bqwt", "default/webapp-d6989d74-vqcdp"}
    assert t == kplab.trace(article, "default/deploy/auth", "default/svc/frontend").__class__.from_dict(t.to_dict())


def test_a_port_the_service_lacks_is_said_in_the_notes(article):
    """kube-proxy writes rules per Service port: --port 81 on webapp (80/TCP) is not DNATed, and the notes say why
    instead of leaving the student to read the whole walk to the default route."""
    t = kplab.trace(article, "deploy/auth", "svc/webapp", port=81)
    assert any("has no port 81/TCP (its ports: 80/TCP)" in n for n in t.notes)
    assert t.verdict != "ACCEPT" and t.packet.dst == "10.96.1.3"
    assert not any("has no port" in n for n in kplab.trace(article, "deploy/auth", "svc/webapp", port=80).notes)
    dns = kplab.trace(article, "deploy/auth", "kube-system/svc/kube-dns", port=53, protocol="udp")
    assert not any("has no port" in n for n in dns.notes)
    tcp = kplab.trace(article, "deploy/auth", "svc/webapp", port=80, protocol="udp")
    assert any("has no port 80/UDP" in n for n in tcp.notes)


def test_spellings_reach_the_same_objects(article):
    base = kplab.trace(article, "default/auth-565fbb4985-5kr4m", "default/frontend")
    for src, dst in [("pod/auth-565fbb4985-5kr4m", "service/frontend"), ("default/po/auth-565fbb4985-5kr4m", "SVC/frontend"),
                     ("Deployment/auth", "default/services/frontend")]:
        t = kplab.trace(article, src, dst)
        assert (t.hops, t.all_outcomes) == (base.hops, base.all_outcomes)
    bare = kplab.trace(article, "deploy/auth", "frontend")  # a bare Service name goes through cluster DNS
    assert bare.dns[0].text == "frontend.default.svc.cluster.local. A 10.96.1.1"
    assert kplab.trace(article, "deploy/auth", "deploy/webapp", port=80).notes[1].startswith(
        "deploy/webapp is Deployment default/webapp: its pod webapp-d6989d74-7bqwt")
    assert kplab.trace(article, "deploy/auth", "svc/frontend", protocol="TCP").packet.protocol == "tcp"


def test_bare_name_of_pod_and_service_is_ambiguous():
    c = kplab.load(EXPOSED)
    with pytest.raises(KplabError) as e:
        kplab.trace(c, "client", "web")
    assert str(e.value) == ("destination web is ambiguous: it names default/pod/web and default/svc/web; "
                            "write one of those")
    assert kplab.trace(c, "client", "svc/web").delivered_to == "default/web"
    assert kplab.trace(c, "client", "pod/web").delivered_to == "default/web"


@pytest.mark.parametrize("src,dst,message", [
    ("deploy/auht", "svc/frontend", "source deploy/auht: Deployment 'auht' with pods in namespace 'default' not "
                                    "found (close matches: default/deploy/auth)"),
    ("deploy/auth", "svc/frontnd", "destination svc/frontnd: Service 'frontnd' in namespace 'default' not found "
                                   "(close matches: default/svc/frontend)"),
    ("deploy/auth", "svc/kube-dns", "close matches: kube-system/svc/kube-dns"),
    ("deploy/auth", "kube-dns", "DNS has no A or CNAME record for kube-dns (close matches: kube-system/svc/kube-dns"),
    ("svc/frontend", "deploy/auth", "source svc/frontend is a Service, and Services send nothing"),
    ("deploy/auth", "node/minikube", "destination node/minikube: a node needs a port"),
    ("deploy/auth", "widget/x", "no namespace 'widget', and 'widget' is not a kind kplab knows"),
    ("deploy/auth", "default/widget/x", "destination default/widget/x: 'widget' is not a kind kplab knows"),
    ("deploy/auth", "node/minikub", "close matches: node/minikube"),
])
def test_errors_name_objects_and_close_matches(article, src, dst, message):
    with pytest.raises(KplabError) as e:
        kplab.trace(article, src, dst)
    assert message in str(e.value) and "--" not in str(e.value)


def test_node_is_a_destination_with_a_port(article):
    t = kplab.trace(article, "deploy/auth", "node/minikube-m02", port=10250)
    assert t.packet.dst == article.nodes["minikube-m02"].internal_ip and t.packet.dport == 10250
    assert t.delivered_to == "minikube-m02"


def test_rules_of_a_node(article):
    text = kplab.rules(article, "minikube")
    assert text.startswith("*filter") and "-A KUBE-SERVICES" in text and text == kplab.rules(article, "node/minikube")
    assert "COMMIT" in kplab.rules(article, "minikube", form="restore")
    assert "KUBE-SEP" in kplab.rules(article, "minikube", layout="v1.19")
    with pytest.raises(KplabError, match=r"close matches: node/minikube"):
        kplab.rules(article, "minkube")


def test_reach_rows_and_workloads(article):
    rows = kplab.reach(article)
    assert isinstance(rows, tuple) and rows and set(rows[0]) == {"from", "to", "port", "protocol", "allowed", "ingress",
                                                               "egress", "policies", "reason", "cni", "enforced"}
    auth = kplab.reach(article, src="deploy/auth", port=80, protocol="tcp")
    assert {r["from"] for r in auth} == {"default/auth-565fbb4985-5kr4m", "default/auth-565fbb4985-szdjh"}
    assert all(r["protocol"] == "TCP" and r["port"] == 80 for r in auth)


def test_explore_is_the_views_explorer(article):
    from kplab.views.explorer import Explorer
    assert isinstance(kplab.explore(article), Explorer)
    with pytest.raises(KplabError):
        kplab.explore(article, size="enormous")  # keywords reach kplab.views.explorer.explore


def test_import_is_small():
    out = subprocess.run([sys.executable, "-c", "import sys, kplab; print(sorted(m for m in sys.modules "
                          "if m.split('.')[0] in ('kplab', 'pandas', 'matplotlib', 'networkx', 'ipywidgets', 'yaml', 'numpy')))"],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "['kplab', 'kplab.errors']"
    assert kplab.Trace.__module__ == "kplab.walk.trace"
