"""kube-proxy rule generation at scale vs. the real kernel loading the same payload.

Figures: for 1,000 / 10,000 / 30,000 ClusterIP Services x 10 endpoints, the time and peak Python memory
(tracemalloc) kplab takes to write the full restore payload (one `syncProxyRules`), the payload's size, and — where
this runs as root with `iptables-restore` and `ip` available — how long the real `iptables-restore` takes to load
that payload into a throwaway network namespace `kpl-bench-<pid>` (created here, always deleted; the host's own
namespace is never touched).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import tracemalloc

from kplab.k8s.cluster import Cluster
from kplab.k8s.endpointslice import Endpoint, EndpointPort, EndpointSlice
from kplab.k8s.node import Node, NodeAddress
from kplab.k8s.service import Service, ServicePort
from kplab.kubeproxy import proxier
from kplab.kubeproxy.config import ProxierConfig
from kplab.kubeproxy.kubeproxy import KubeProxy

SIZES = (1_000, 10_000, 30_000)
ENDPOINTS = 10
NODE = "node-1"


def build_cluster(n_services: int, n_endpoints: int = ENDPOINTS) -> Cluster:
    nodes = {NODE: Node(NODE, addresses=[NodeAddress("InternalIP", "192.168.49.2")]),
             "node-2": Node("node-2", addresses=[NodeAddress("InternalIP", "192.168.49.3")])}
    services, slices = {}, {}
    for i in range(n_services):
        name = f"svc-{i}"
        ip = f"10.{96 + i // 65536}.{(i // 256) % 256}.{i % 256}"
        svc = Service("bench", name, cluster_ip=ip, ports=[ServicePort(80, name="http", target_port=8080)])
        services[svc.key] = svc
        eps = [Endpoint([f"10.{128 + (i * n_endpoints + j) // 65536}.{((i * n_endpoints + j) // 256) % 256}."
                         f"{(i * n_endpoints + j) % 256}"], node_name=NODE if j % 2 else "node-2")
               for j in range(n_endpoints)]
        slices[f"bench/{name}-x"] = EndpointSlice("bench", f"{name}-x", name, endpoints=eps,
                                                  ports=[EndpointPort(8080, name="http")])
    return Cluster(nodes=nodes, services=services, endpointslices=slices)


def generate(cluster: Cluster) -> str:
    """One full syncProxyRules: read the Services and EndpointSlices, write the payload (no restore model)."""
    kp = KubeProxy(cluster, NODE)
    cfg = ProxierConfig.from_cluster(cluster, NODE)
    return proxier.write_sync(cfg, kp.service_ports(cfg), changed_services=None, existing_nat_chains=set()).payload


FLAVOURS = ("iptables-legacy-restore", "iptables-nft-restore")
KERNEL_TIMEOUT = 60.0  # seconds; iptables-nft 1.8.x can take minutes on payloads this size


def flavours() -> list[tuple[str, str]]:
    """(executable, its --version line) for each iptables-restore backend installed."""
    found = []
    for exe in FLAVOURS:
        path = shutil.which(exe)
        if not path:
            continue
        try:
            version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        found.append((exe, version))
    return found


def kernel_restore_seconds(payload: str, exe: str, timeout: float = KERNEL_TIMEOUT) -> float | None:
    """Load the payload with the real iptables-restore inside a throwaway network namespace; None on timeout."""
    ns = f"kpl-bench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    try:
        start = time.perf_counter()
        try:
            subprocess.run(["ip", "netns", "exec", ns, exe, "--noflush", "--counters"], input=payload, text=True,
                           check=True, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None  # subprocess.run kills the child on timeout
        return time.perf_counter() - start
    finally:
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


def main() -> None:
    backends = flavours() if os.geteuid() == 0 and shutil.which("ip") else []
    print("kernel comparison: " + ("; ".join(v for _, v in backends) if backends
                                   else "skipped (needs root, ip and iptables-restore)"))
    head = f"{'services':>9} {'endpoints':>9} {'rules':>8} {'payload':>8} {'generate':>9} {'peak mem':>9}"
    for exe, _ in backends:
        head += f" {exe.replace('-restore', ''):>16}"
    print(head, flush=True)
    gave_up: set[str] = set()
    for n in SIZES:
        cluster = build_cluster(n)
        tracemalloc.start()
        payload = generate(cluster)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        start = time.perf_counter()  # untraced run for the time figure (tracemalloc slows allocation)
        payload = generate(cluster)
        elapsed = time.perf_counter() - start
        row = (f"{n:>9} {n * ENDPOINTS:>9} {payload.count(chr(10) + '-A '):>8} {len(payload) / 1e6:>6.1f}MB "
               f"{elapsed:>7.2f} s {peak / 1e6:>7.0f}MB")
        for exe, _ in backends:
            if exe in gave_up:
                cell = "not run"
            else:
                try:
                    secs = kernel_restore_seconds(payload, exe)
                    if secs is None:
                        gave_up.add(exe)
                        cell = f"> {KERNEL_TIMEOUT:.0f} s"
                    else:
                        cell = f"{secs:.2f} s"
                except subprocess.CalledProcessError as e:
                    cell = "failed"
                    print(f"  {exe}: {(e.stderr or '').strip()[:200]}")
            row += f" {cell:>16}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
