"""Listeners (kplab.walk.listener): a connection where nothing listens is refused — a TCP reset or an ICMP port
unreachable from the destination's kernel, walked back to the client through conntrack."""
from __future__ import annotations

import pytest

from kplab.k8s import load_cluster
from kplab import trace

CLUSTER = """apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec: {nodeName: minikube, containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: default, labels: {app: web}}
spec: {nodeName: minikube-m02, containers: [{name: s, image: nginx, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: dns-0, namespace: default, labels: {app: dns}}
spec: {nodeName: minikube-m02, containers: [{name: d, image: coredns, ports: [{containerPort: 53, protocol: UDP}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: blank, namespace: default}
spec: {nodeName: minikube-m02, containers: [{name: b, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: kube-system}
spec: {nodeName: minikube-m02, hostNetwork: true, containers: [{name: a, image: agent, ports: [{containerPort: 9100}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {selector: {app: web}, ports: [{name: a, port: 80}, {name: b, port: 8080, targetPort: 9999}]}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    path = tmp_path_factory.mktemp("listen") / "c.yaml"
    path.write_text(CLUSTER)
    return load_cluster(path)


def refused_by(t):
    """(client's error, what came back) for a refused trace."""
    assert t.reply is not None and t.reply.verdict == "ACCEPT", t.reason
    flow = t.reply.packet_delivered
    return flow.protocol, (flow.tcp_flags if flow.protocol == "tcp" else flow.icmp_code)


def test_declared_port_is_delivered_and_says_who_listens(cluster):
    t = trace(cluster, "default/client", "default/pod/web-0", port=80)
    assert t.verdict == "ACCEPT" and t.delivered_to == "default/web-0"
    deliver = t.hops[-1].steps[-1]
    assert "containerPort 80" in deliver.note and "does not check" in deliver.note


@pytest.mark.parametrize("dst, port, protocol, answer", [
    ("default/pod/web-0", 9999, "tcp", ("tcp", "RST,ACK")),      # a pod port nothing listens on
    ("default/pod/dns-0", 5353, "udp", ("icmp", 3)),             # UDP: ICMP port unreachable
    ("default/svc/web", 8080, "tcp", ("tcp", "RST,ACK")),        # via the Service: targetPort 9999, reset de-NATed
    ("node/minikube-m02", 22, "tcp", ("tcp", "RST,ACK")),        # a node port nothing listens on
])
def test_nothing_listening_is_refused(cluster, dst, port, protocol, answer):
    t = trace(cluster, "default/client", dst, port=port, protocol=protocol)
    assert t.verdict == "REJECT" and "nothing listens" in t.reason and "connection refused" in t.reason
    assert refused_by(t) == answer
    assert t.reply.delivered_to == "default/client"


def test_reset_through_a_service_comes_back_from_the_service_address(cluster):
    t = trace(cluster, "default/client", "default/svc/web", port=8080)
    back = t.reply.packet_delivered
    assert (back.src, back.sport) == (cluster.services["default/web"].cluster_ip, 8080)


@pytest.mark.parametrize("dst, port", [
    ("default/pod/blank", 4242),        # declares no ports: taken to listen anywhere, and said so
    ("node/minikube-m02", 9100),        # a hostNetwork pod's port
    ("node/minikube-m02", 10250),       # the kubelet
    ("node/minikube", 8443),            # the API server on the control plane
])
def test_modelled_listeners_accept(cluster, dst, port):
    t = trace(cluster, "default/client", dst, port=port)
    assert t.verdict == "ACCEPT", t.reason


@pytest.mark.parametrize("dst, port, protocol, state", [
    ("default/pod/web-0", 9999, "tcp", "ESTABLISHED"),  # the RST is the connection's reply direction
    ("default/pod/dns-0", 5353, "udp", "RELATED"),      # the ICMP error is related to it
])
def test_refusal_conntrack_state_as_the_kernel_sees_it(cluster, dst, port, protocol, state):
    # checked in a network namespace: the server host's OUTPUT counted the RST under --ctstate ESTABLISHED and
    # the ICMP port unreachable under RELATED
    t = trace(cluster, "default/client", dst, port=port, protocol=protocol)
    states = {s.action for h in t.reply.hops for s in h.steps if s.kind == "conntrack"} - {"confirm"}
    assert states == {state}
