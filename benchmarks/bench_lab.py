"""The real-kernel lab, side by side with kplab (Linux and root only; skipped with the reason elsewhere).

Figures, in one run:
1. build and teardown of the article's cluster in network namespaces (median of 5);
2. time per traced real connection (connect, server's line, nftrace events read) and per conversion of those
   events into a kplab Trace (median of 200);
3. a real connection's first packet through a 10,000-Service rule set in the kernel against kplab's walk of the
   same rules: each side's *added* cost over a cluster with one Service (the kernel's: connect time with the big
   rule set loaded minus without; kplab's: the node's netfilter walk of that first packet, big minus small).
   Goal: kplab within 1.2x of the kernel's added cost.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = 10_000


def _median(xs):
    return statistics.median(xs) if xs else float("nan")


def _cluster_text(n_services: int) -> str:
    """Two nodes, two webapp pods, a client pod, and n ClusterIP Services over the webapp pods."""
    import yaml
    docs = []
    for i, name in enumerate(("minikube", "minikube-m02")):
        docs.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                     "spec": {"podCIDR": f"10.244.{i}.0/24"},
                     "status": {"addresses": [{"type": "InternalIP", "address": f"192.168.49.{i + 2}"}]}})
    for app, replicas in (("webapp", 2), ("client", 1)):
        docs.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": app, "namespace": "default"},
                     "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                              "template": {"metadata": {"labels": {"app": app}},
                                           "spec": {"containers": [{"name": "c", "image": "x",
                                                                    "ports": [{"containerPort": 8080}]}]}}}})
    for i in range(n_services):
        docs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{i}", "namespace": "default"},
                     "spec": {"selector": {"app": "webapp"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    return yaml.safe_dump_all(docs)


def _load(text: str):
    from kplab.k8s import load_cluster
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cluster.yaml"
        path.write_text(text)
        return load_cluster(path)


def build_and_teardown(rounds: int = 5) -> None:
    from kplab.k8s import load_cluster
    from kplab.lab import Lab
    cluster = load_cluster(ROOT / "data" / "article")
    builds, teardowns = [], []
    for _ in range(rounds):
        lab = Lab(cluster)
        t0 = time.perf_counter()
        lab.start()
        builds.append(time.perf_counter() - t0)
        lab.stop()
        teardowns.append(lab.built.teardown)
        assert lab.leaks() == []
    b = lab.built
    print(f"article cluster: {b.counts['namespaces']} namespaces ({b.counts['nodes']} nodes, {b.counts['pods']} pods)")
    print(f"  build (namespaces, links, rules, servers, trace socket): median {_median(builds) * 1000:.0f} ms "
          f"(min {min(builds) * 1000:.0f}, max {max(builds) * 1000:.0f}); last: namespaces {b.namespaces * 1000:.0f} ms,"
          f" links+addresses+routes {b.links * 1000:.0f} ms, rules {b.rules * 1000:.0f} ms")
    print(f"  teardown: median {_median(teardowns) * 1000:.1f} ms")


def traced_connections(n: int = 200) -> None:
    from kplab.k8s import load_cluster
    from kplab.lab import Lab
    from kplab.lab.kerneltrace import kernel_trace
    cluster = load_cluster(ROOT / "data" / "nodeport")
    with Lab(cluster) as lab:
        node_ip = cluster.nodes["minikube"].internal_ip
        port = next(p.node_port for s in cluster.services.values() for p in s.ports if p.node_port)
        connect, convert, events = [], [], []
        for _ in range(n):
            t0 = time.perf_counter()
            seen, evs = lab.traced(lab.clients[0], node_ip, port)
            t1 = time.perf_counter()
            kernel_trace(lab, lab.clients[0], f"{node_ip}:{port}", evs, seen)
            t2 = time.perf_counter()
            assert seen.kind == "reached", seen
            connect.append(t1 - t0)
            convert.append(t2 - t1)
            events.append(len(evs))
    print(f"traced NodePort connection from outside (through router, node, maybe a second node, pod): median "
          f"{_median(connect) * 1000:.2f} ms (p90 {sorted(connect)[int(n * 0.9)] * 1000:.2f}), "
          f"{_median(events):.0f} nftrace events; events -> kplab Trace {_median(convert) * 1000:.2f} ms")


def _first_packet(lab, pod, ip, n: int):
    times = []
    for _ in range(n):
        seen, _ = lab.traced(pod, ip, 80)
        assert seen.kind == "reached", seen
        times.append(seen.elapsed)
    return _median(times)


def _walk_time(network, node: str, src: str, ip: str, n: int) -> float:
    from kplab.netfilter import Packet, SeededChooser
    stack = network.base_stack(node)
    packet = Packet(src, ip, "tcp", 40000, 80, "SYN")
    times = []
    for i in range(n):
        s = stack.copy()
        t0 = time.perf_counter()
        walk = s.receive(packet, "cni0", SeededChooser(i))
        times.append(time.perf_counter() - t0)
        assert walk.verdict == "ACCEPT"
    return _median(times)


def big_ruleset(n_services: int = SERVICES, n: int = 60) -> None:
    from kplab.lab import Lab
    results = {}
    for size in (1, n_services):
        t0 = time.perf_counter()
        cluster = _load(_cluster_text(size))
        lab = Lab(cluster)
        t1 = time.perf_counter()
        with lab:
            t2 = time.perf_counter()
            pod = next(p.key for p in cluster.pods.values() if p.labels.get("app") == "client")
            node = cluster.pods[pod].node_name
            last = max((s for s in cluster.services.values() if s.name.startswith("svc-")),
                       key=lambda s: int(s.name.split("-")[1]))
            rules = sum(1 for line in lab.network.rules(node).splitlines() if line.startswith("-A "))
            kernel = _first_packet(lab, pod, last.cluster_ip, n)
            walk = _walk_time(lab.network, node, cluster.pods[pod].ip, last.cluster_ip, n)
        results[size] = (kernel, walk, rules)
        print(f"{size:>6} Services: {rules} rules on {node}; cluster+rules {t1 - t0:.1f} s, lab up {t2 - t1:.1f} s; "
              f"kernel connect to the last Service {kernel * 1e6:.0f} us; kplab walk of the first packet on the "
              f"node {walk * 1e6:.0f} us")
    k_added = results[n_services][0] - results[1][0]
    w_added = results[n_services][1] - results[1][1]
    ratio = w_added / k_added if k_added > 0 else float("inf")
    print(f"added by {n_services} Services: kernel {k_added * 1e6:.0f} us, kplab {w_added * 1e6:.0f} us "
          f"-> kplab / kernel = {ratio:.2f}x (goal <= 1.2x)")


def main() -> None:
    from kplab.lab import check
    problems = check()
    if problems:
        print("skipped: " + "; ".join(problems))
        return
    build_and_teardown()
    traced_connections()
    big_ruleset(int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else SERVICES)


if __name__ == "__main__":
    main()
