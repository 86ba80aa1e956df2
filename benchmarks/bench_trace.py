"""Trace throughput on the article scenario and on a 10,000-Service cluster; memory of the built network.

Target: >= 1,000 traces/s on the article scenario (topology and parsed rules are built once per
cluster and cached; each trace copies only the stacks it touches).
"""
from __future__ import annotations

import gc
import time
from pathlib import Path

from kplab.k8s.cluster import Cluster
from kplab.k8s.endpointslice import Endpoint, EndpointPort, EndpointSlice
from kplab.k8s.namespace import Namespace
from kplab.k8s.node import Node, NodeAddress
from kplab.k8s.pod import Pod
from kplab.k8s.service import Service, ServicePort

REPO = Path(__file__).resolve().parents[1]


def big_cluster(services: int = 10_000, nodes: int = 3, pods_per_service: int = 2) -> Cluster:
    """`services` ClusterIP Services, each backed by `pods_per_service` pods spread over the nodes."""
    node_objs = {f"node-{i}": Node(f"node-{i}", addresses=[NodeAddress("InternalIP", f"192.168.1.{10 + i}")],
                                   pod_cidr=f"10.{64 + i}.0.0/16") for i in range(nodes)}
    pods, svcs, slices = {}, {}, {}
    counter = [0] * nodes
    for s in range(services):
        eps = []
        for k in range(pods_per_service):
            n = (s * pods_per_service + k) % nodes
            counter[n] += 1
            c = counter[n]
            ip = f"10.{64 + n}.{c // 250}.{c % 250 + 2}"
            pod = Pod("default", f"p{s}-{k}", labels={"svc": f"s{s}"}, node_name=f"node-{n}", ip=ip)
            pods[pod.key] = pod
            eps.append(Endpoint([ip], ready=True, node_name=f"node-{n}", target_ref=pod.key))
        a, b = divmod(s + 10, 250)
        svc = Service("default", f"s{s}", cluster_ip=f"10.96.{a}.{b + 1}", selector={"svc": f"s{s}"},
                      ports=[ServicePort(80, target_port=8080)])
        svcs[svc.key] = svc
        sl = EndpointSlice("default", f"s{s}-x", f"s{s}", endpoints=eps, ports=[EndpointPort(8080)])
        slices[f"default/{sl.name}"] = sl
    return Cluster(namespaces={"default": Namespace("default")}, nodes=node_objs, pods=pods, services=svcs,
                   endpointslices=slices)


def rss() -> int:
    """Resident memory now (Linux /proc; tracemalloc would slow the build tenfold)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0
    import os
    return pages * os.sysconf("SC_PAGE_SIZE")


def rate(fn, seconds: float = 2.0) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def article_case():
    from kplab.k8s import load_cluster
    path = REPO / "data" / "article"
    cluster = load_cluster(path)
    pods = sorted(k for k, p in cluster.pods.items() if p.ip and not p.host_network)
    services = sorted(k for k, s in cluster.services.items() if s.cluster_ip not in (None, "None") and s.ports)
    return cluster, pods[0], services[0]


def main() -> None:
    from kplab.walk import network, run_trace, trace

    try:
        cluster, src, dst = article_case()
    except Exception as e:  # the scenario lands separately
        print(f"article scenario unavailable ({e}); skipped")
    else:
        start = time.perf_counter()
        trace(cluster, src, dst)
        print(f"article: first trace (builds topology + rules) {1000 * (time.perf_counter() - start):.1f} ms")
        per_s = rate(lambda: trace(cluster, src, dst))
        print(f"article: {per_s:,.0f} traces/s ({src} -> {dst}, one packet, seeded)")
        per_s = rate(lambda: trace(cluster, src, dst, reply=True))
        print(f"article: {per_s:,.0f} traces/s with the reply")
        per_s = rate(lambda: trace(cluster, src, dst).outcomes())
        print(f"article: {per_s:,.0f} traces/s with every outcome enumerated")

    gc.collect()
    base = rss()
    big = big_cluster()
    cluster_bytes = rss() - base
    start = time.perf_counter()
    trace(big, "default/p0-0", "default/s5000")
    build = time.perf_counter() - start
    total = rss() - base
    print(f"10k services: cluster objects {cluster_bytes / 2**20:.0f} MiB RSS; first trace (kube-proxy rules, parse, "
          f"stacks of the 2 nodes touched) {build:.1f} s; cluster + built network {total / 2**20:.0f} MiB RSS")
    per_s = rate(lambda: trace(big, "default/p0-0", "default/s5000"))
    print(f"10k services: {per_s:,.0f} traces/s through trace(cluster, ...) (each call compares the cluster's "
          f"revision to notice edits)")
    net = network(big)
    per_s = rate(lambda: run_trace(net, "default/p0-0", "default/s5000"))
    print(f"10k services: {per_s:,.0f} traces/s on a held network(cluster) (pod -> ClusterIP, walks KUBE-SERVICES)")
    built = sorted(n for n in net._base if n in big.nodes)
    print(f"10k services: nodes whose rules were built: {built} of {len(big.nodes)}")


if __name__ == "__main__":
    main()
