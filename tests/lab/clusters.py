"""Random clusters for the differential suite: 2-3 nodes, Services with 0-5 endpoints of every type and traffic
policy, session affinity, TCP and UDP ports, NetworkPolicies under Calico-style rules — and the connections to
try on each (pods, nodes, a client on the node network and one beyond the router; ClusterIP, NodePort on every
node and on 127.0.0.1, LoadBalancer, pod IPs, hairpin, ports where nothing listens). Everything follows from the
seed, so a failure replays with that seed alone."""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import yaml

OUTSIDE = "203.0.113.10"
LAN = "192.168.49.100"  # the client on the node network (kplab.lab.lab_address of these clusters)
CLOSED = 9999  # a port no pod declares: a TCP reset or an ICMP port unreachable


@dataclass
class Generated:
    seed: int
    documents: list[dict]
    cni: str
    notes: list[str] = field(default_factory=list)
    overlay: str | None = None

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
    # between nodes: plain routes, or VXLAN (flannel.1 / vxlan.calico), or Calico's IP-in-IP (built where the
    # kernel has it, else routed: the lab says so); drawn apart so the rest of each seed's cluster stays as it was
    overlay = random.Random(seed + 104729).choice([None, None, "vxlan"] + (["ipip"] if cni == "calico" else []))
    notes = [f"{n_nodes} nodes, cni {cni}, overlay {overlay or 'none'}"]
    apps = [f"app{k}" for k in range(rng.randint(1, 3))]
    docs.append(_deployment("client", 1, [("TCP", 7000)]))
    lb = 10
    for app in apps:
        replicas = rng.choice([0, 1, 1, 2, 2, 3, 4, 5])
        udp = rng.random() < 0.3
        ports = [("TCP", 8080)] + ([("UDP", 5353)] if udp else [])
        docs.append(_deployment(app, replicas, ports))
        kind = rng.choice(["ClusterIP", "NodePort", "NodePort", "LoadBalancer"])
        # now and then the Service sends to a port its pods do not listen on: the pod's kernel resets
        target = 8081 if rng.random() < 0.1 else 8080
        spec: dict = {"type": kind, "selector": {"app": app},
                      "ports": [{"name": "http", "port": 80, "targetPort": target, "protocol": "TCP"}]}
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
        notes.append(f"{app}: {kind} x{replicas} targetPort={target} eTP={spec.get('externalTrafficPolicy', '-')} "
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
    return Generated(seed, docs, cni, notes, overlay)


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


def connections(cluster, seed: int, budget: int = 12) -> list[tuple[str, str, int, str]]:
    """(source host, destination IP, port, protocol) to try. Every kind of connection below is listed; the budget
    is spent first on one connection of each kind this cluster has (drawn at random), then on the rest at random:

    - a Service port from a pod, from one of its own endpoints (hairpin), from a node, and from the node-network
      client (a ClusterIP from outside the cluster: lost);
    - a NodePort from outside on every node, from the node-network client, from a pod, and from a node to itself
      (its own address, and 127.0.0.1: route_localnet, kube-proxy's REJECT when nothing serves it);
    - a LoadBalancer IP from outside and from the node network;
    - a pod IP directly from a pod, from a node and from the node-network client; a port where nothing listens
      on a pod (TCP reset / ICMP port unreachable) and a node port no Service uses."""
    rng = random.Random(seed * 7919 + 1)
    pods = sorted(p.key for p in cluster.pods.values() if p.ip and not p.host_network)
    nodes = sorted(cluster.nodes)
    ip = {n: cluster.nodes[n].internal_ip for n in nodes}
    kinds: dict[str, list[tuple[str, str, int, str]]] = {}

    def add(kind: str, *conn) -> None:
        kinds.setdefault(kind, []).append(tuple(conn))
    for svc in sorted(cluster.services.values(), key=lambda s: s.key):
        if svc.namespace != "default" or svc.name == "kubernetes":
            continue
        own = sorted(p.key for p in cluster.pods.values() if p.labels.get("app") == svc.name and p.ip)
        for port in svc.ports:
            proto = port.protocol.lower()
            add("clusterip from a pod", rng.choice(pods), svc.cluster_ip, port.port, proto)
            if own:
                add("hairpin", rng.choice(own), svc.cluster_ip, port.port, proto)
            add("clusterip from a node", rng.choice(nodes), svc.cluster_ip, port.port, proto)
            add("clusterip from the node network", LAN, svc.cluster_ip, port.port, proto)
            if port.node_port:
                for node in nodes:
                    add("nodeport from outside", OUTSIDE, ip[node], port.node_port, proto)
                add("nodeport from the node network", LAN, ip[rng.choice(nodes)], port.node_port, proto)
                add("nodeport from a pod", rng.choice(pods), ip[rng.choice(nodes)], port.node_port, proto)
                node = rng.choice(nodes)
                add("nodeport on 127.0.0.1", node, "127.0.0.1", port.node_port, proto)
                add("nodeport from the node itself", node, ip[node], port.node_port, proto)
            for ingress in svc.load_balancer_ingress:
                if ingress.ip:
                    add("loadbalancer from outside", OUTSIDE, ingress.ip, port.port, proto)
                    add("loadbalancer from the node network", LAN, ingress.ip, port.port, proto)
        if own:
            target = cluster.pods[rng.choice(own)]
            add("pod ip from a pod", rng.choice(pods), target.ip, 8080, "tcp")
            add("pod ip from a node", rng.choice(nodes), target.ip, 8080, "tcp")
            add("pod ip from the node network", LAN, target.ip, 8080, "tcp")
            add("closed port on a pod", rng.choice(pods), target.ip, CLOSED, rng.choice(["tcp", "udp"]))
    used = {p.node_port for s in cluster.services.values() for p in s.ports} | \
        {s.health_check_node_port for s in cluster.services.values()}
    free = max(p for p in range(30000, 32768) if p not in used)  # a node port no Service has
    add("closed node port", rng.choice([OUTSIDE, LAN] + pods), ip[rng.choice(nodes)], free,
        rng.choice(["tcp", "udp"]))
    chosen, rest = [], []
    for kind in sorted(kinds):
        conns = kinds[kind]
        rng.shuffle(conns)
        chosen.append(conns[0])
        rest += conns[1:]
    rng.shuffle(chosen)
    rng.shuffle(rest)
    out = chosen + rest
    return out[:budget] if budget else out
