import json

import pytest

from kplab.cli import main

MANIFEST = """\
apiVersion: v1
kind: Node
metadata: {name: node-1}
spec: {podCIDR: 10.244.1.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.1.11}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-2}
spec: {podCIDR: 10.244.2.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.1.12}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec: {nodeName: node-2, containers: [{name: web, image: nginx, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec: {nodeName: node-1, containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
"""


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(MANIFEST)
    return path


def test_unknown_source_is_an_error_without_output_file(manifest, tmp_path, capsys):
    html = tmp_path / "t.html"
    code = main(["trace", str(manifest), "--from", "default/nope", "--to", "default/pod/web", "--html", str(html)])
    err = capsys.readouterr().err
    assert code == 1 and "--from default/nope" in err and "Traceback" not in err
    assert not html.exists()


def _engine():
    getattr(pytest.importorskip("kplab.netfilter"), "Stack", None) or pytest.skip("the netfilter engine (Stack) has not landed")
    getattr(pytest.importorskip("kplab.kubeproxy"), "node_ruleset_text", None) or pytest.skip("kube-proxy's node_ruleset_text has not landed")


def test_json_nodeport_local(manifest, capsys):
    _engine()
    assert main(["trace", str(manifest), "--from", "203.0.113.7", "--to", "node-2:30080", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "ACCEPT"
    [outcome] = data["outcomes"]
    assert {k: v for k, v in outcome.items() if k != "packet_delivered"} == {
        "probability": "1", "verdict": "ACCEPT", "delivered_to": "default/web", "source_seen": "203.0.113.7:43210",
        "hosts": ["203.0.113.7", "router", "node-2", "default/web"], "reason": "delivered to default/web"}
    assert (outcome["packet_delivered"]["src"], outcome["packet_delivered"]["dport"]) == ("203.0.113.7", 8080)
    assert main(["trace", str(manifest), "--from", "203.0.113.7", "--to", "node-1:30080", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "DROP"
    assert data["outcomes"][0]["delivered_to"] is None and data["outcomes"][0]["source_seen"] is None


def test_text_and_html(manifest, tmp_path, capsys):
    _engine()
    html = tmp_path / "t.html"
    assert main(["trace", str(manifest), "--from", "default/client", "--to", "default/pod/web", "--reply",
                 "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {html}: ") and len(out.strip().splitlines()) == 1  # the page is the answer
    page = html.read_text()
    assert 'data-testid="player"' in page and '"source":"default/client"' not in page  # the player, not a dump
    assert "default/client" in page and "<script" in page and "http" not in page.split("<body", 1)[1].replace(
        "http://www.w3.org/2000/svg", "")  # nothing to fetch: works offline


def test_cni_and_overlay_options_change_the_plumbing(manifest, capsys):
    _engine()
    args = ["trace", str(manifest), "--from", "default/client", "--to", "default/pod/web", "--port", "8080", "--json"]
    assert main(args) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(args + ["--cni", "calico", "--overlay", "vxlan"]) == 0
    calico = json.loads(capsys.readouterr().out)
    out_ifaces = [h["out_iface"] for h in plain["hops"]], [h["out_iface"] for h in calico["hops"]]
    assert out_ifaces[0][1] == "eth0" and out_ifaces[1][1] == "vxlan.calico"
    assert calico["hops"][2]["out_iface"].startswith("cali")
    assert main(args + ["--overlay", "none"]) == 0
    assert json.loads(capsys.readouterr().out)["hops"] == plain["hops"]


def test_unknown_cni_is_refused_by_the_parser(manifest, capsys):
    with pytest.raises(SystemExit):
        main(["trace", str(manifest), "--from", "default/client", "--to", "default/pod/web", "--cni", "weave"])
