"""Random clusters for the differential suite: 2-3 nodes, Services with 0-5 endpoints of every type and traffic
policy, session affinity, TCP and UDP ports, NetworkPolicies under Calico-style rules — and the connections to
try on each (pods, nodes and an outside client; ClusterIP, NodePort on every node, LoadBalancer, pod IPs,
hairpin). Everything follows from the seed, so a failure replays with that seed alone.

Left out for now, because the simulator does not model them yet (issue 14 is fixing each): ports where nothing
listens (RST / port unreachable), clients on the node network (192.168.49.100), loopback NodePorts."""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import yaml

OUTSIDE = "203.0.113.10"


@dataclass
class Generated:
    seed: int
    documents: list[dict]
    cni: str
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return yaml.safe_dump_all(self.documents, sort_keys=False)


def generate(seed: int) -> Generated:
    rng = random.Random(seed)
    docs: list[dict] = []
    n_nodes = rng.choice([2, 3])
    for i in range(n_nodes):
        name = "minikube" if i == 0 else f"minikube-m0{i + 1}"
        docs.append({"apiVersion": "v1", "kind": "Node",
                     "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                     "spec": {"podCIDR": f"10.244.{i}.0/24"},
                     "status": {"addresses": [{"type": "InternalIP", "address": f"192.168.49.{i + 2}"},
                                              {"type": "Hostname", "address": name}]}})
    policies = rng.random() < 0.35
    cni = "calico" if policies or rng.random() < 0.2 else "bridge"
    notes = [f"{n_nodes} nodes, cni {cni}"]
    apps = [f"app{k}" for k in range(rng.randint(1, 3))]
    docs.append(_deployment("client", 1, [("TCP", 7000)]))
    lb = 10
    for app in apps:
        replicas = rng.choice([0, 1, 1, 2, 2, 3, 4, 5])
        udp = rng.random() < 0.3
        ports = [("TCP", 8080)] + ([("UDP", 5353)] if udp else [])
        docs.append(_deployment(app, replicas, ports))
        kind = rng.choice(["ClusterIP", "NodePort", "NodePort", "LoadBalancer"])
        spec: dict = {"type": kind, "selector": {"app": app},
                      "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
        if udp:
            spec["ports"].append({"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP"})
        if kind != "ClusterIP":
            spec["externalTrafficPolicy"] = rng.choice(["Cluster", "Local"])
        if rng.random() < 0.3:
            spec["internalTrafficPolicy"] = "Local"
        if rng.random() < 0.25:
            spec["sessionAffinity"] = "ClientIP"
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": app, "namespace": "default"},
               "spec": spec}
        if kind == "LoadBalancer":
            svc["status"] = {"loadBalancer": {"ingress": [{"ip": f"198.51.100.{lb}"}]}}
            lb += 1
        docs.append(svc)
        notes.append(f"{app}: {kind} x{replicas} eTP={spec.get('externalTrafficPolicy', '-')} "
                     f"iTP={spec.get('internalTrafficPolicy', 'Cluster')} "
                     f"affinity={spec.get('sessionAffinity', 'None')} udp={udp}")
    if policies:
        for app in apps:
            choice = rng.random()
            if choice < 0.35:
                peers = [{"podSelector": {"matchLabels": {"app": rng.choice(apps + ["client"])}}}]
                docs.append(_policy(f"{app}-from-some", app, [{"from": peers, "ports": [{"port": 8080}]}]))
                notes.append(f"policy: {app} only from {peers[0]['podSelector']['matchLabels']['app']}")
            elif choice < 0.55:
                docs.append(_policy(f"{app}-deny", app, []))
                notes.append(f"policy: {app} denies all ingress")
    return Generated(seed, docs, cni, notes)


def _deployment(app: str, replicas: int, ports: list[tuple[str, int]]) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": app, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": "srv", "image": "srv",
                                                           "ports": [{"containerPort": p, "protocol": proto}
                                                                     for proto, p in ports]}]}}}}


def _policy(name: str, app: str, ingress: list[dict]) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"podSelector": {"matchLabels": {"app": app}}, "policyTypes": ["Ingress"], "ingress": ingress}}


def connections(cluster, seed: int, budget: int = 8) -> list[tuple[str, str, int, str]]:
    """(source host, destination IP, port, protocol) to try: every Service port from a pod (sometimes one of its
    own endpoints: hairpin) and a node, NodePorts on every node and LoadBalancer IPs from outside, a pod IP."""
    rng = random.Random(seed * 7919 + 1)
    pods = sorted(p.key for p in cluster.pods.values() if p.ip and not p.host_network)
    nodes = sorted(cluster.nodes)
    out: list[tuple[str, str, int, str]] = []
    for svc in sorted(cluster.services.values(), key=lambda s: s.key):
        if svc.namespace != "default" or svc.name == "kubernetes":
            continue
        own = [p.key for p in cluster.pods.values() if p.labels.get("app") == svc.name and p.ip]
        for port in svc.ports:
            proto = port.protocol.lower()
            client = rng.choice(own) if own and rng.random() < 0.3 else rng.choice(pods)
            out.append((client, svc.cluster_ip, port.port, proto))
            out.append((rng.choice(nodes), svc.cluster_ip, port.port, proto))
            if port.node_port:
                for node in nodes:
                    out.append((OUTSIDE, cluster.nodes[node].internal_ip, port.node_port, proto))
                out.append((rng.choice(pods), cluster.nodes[rng.choice(nodes)].internal_ip, port.node_port, proto))
            for ingress in svc.load_balancer_ingress:
                if ingress.ip:
                    out.append((OUTSIDE, ingress.ip, port.port, proto))
        if own:
            target = cluster.pods[rng.choice(own)]
            out.append((rng.choice(pods), target.ip, 8080, "tcp"))
    rng.shuffle(out)
    return out[:budget] if budget else out
