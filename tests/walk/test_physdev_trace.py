"""kube-proxy v1.19's externalIP rule `-m physdev ! --physdev-is-in` through the walker: the walker passes the
bridge port a packet came in by, so the rule matches for a packet arriving on eth0 and not for a pod's
packet that crossed cni0."""
from __future__ import annotations

from kplab.cli import main
from kplab.netfilter import parse_ruleset
from kplab.walk import trace

OUTSIDE, EXTERNAL_IP = "203.0.113.7", "198.51.100.50"
PHYSDEV_RULE = "-m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j KUBE-SVC-"


def _hop_steps(hop):
    return [s for s in hop.steps if s.kind in ("rule", "nat")]


def test_outside_client_to_external_ip_is_dnated_by_the_physdev_rule(cluster):
    t = trace(cluster, OUTSIDE, EXTERNAL_IP, port=80, layout="v1.19")
    node = t.hops[2]
    assert node.host == "node-1" and node.in_iface == "eth0"
    jumps = [s for s in _hop_steps(node) if PHYSDEV_RULE in s.text]
    assert len(jumps) == 1 and jumps[0].action.startswith("jump KUBE-SVC-")
    assert any(s.action == "DNAT" for s in _hop_steps(node))
    assert t.packet_delivered.dst in ("10.244.1.10", "10.244.2.10") and t.packet_delivered.dport == 8080


def test_pod_on_the_bridge_does_not_match_physdev_is_in(cluster):
    t = trace(cluster, "default/client", EXTERNAL_IP, port=80, layout="v1.19")
    node = t.hops[1]
    assert node.host == "node-1" and node.in_iface == "cni0"
    assert any(s.kind == "link" and "bridge cni0" in s.text for s in node.steps)
    assert not any(PHYSDEV_RULE in s.text for s in _hop_steps(node))
    assert not any(s.action == "DNAT" for s in _hop_steps(node))


MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
  externalIPs: [192.168.49.100]
"""


def test_rules_v119_save_with_external_ips_parses_back(tmp_path, capsys):
    (tmp_path / "app.yaml").write_text(MANIFEST)
    assert main(["rules", str(tmp_path), "--node", "minikube", "--layout", "v1.19", "--form", "save"]) == 0
    text = capsys.readouterr().out
    assert "-d 192.168.49.100/32" in text and "-m physdev ! --physdev-is-in" in text
    ruleset = parse_ruleset(text, source="rules --form save")
    assert parse_ruleset(ruleset.save()) == ruleset
