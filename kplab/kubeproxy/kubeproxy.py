"""KubeProxy: one node's kube-proxy as a small model of its sync loop.

Each `sync()` is one `syncProxyRules`: it reads the cluster as it is now, writes the restore payload — a full one
on the first sync, after a failure or when asked, otherwise (since v1.27, MinimizeIPTablesRestore) a partial one
that rewrites only the chains of Services whose Service or EndpointSlices changed — and applies it to the node's
tables. The course uses it to show what changes on a node when an endpoint appears or a Service goes away.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from kplab.errors import KplabError
from kplab.k8s.cluster import Cluster
from kplab.kubeproxy import layout119, proxier
from kplab.kubeproxy.config import ProxierConfig
from kplab.kubeproxy.endpoints import EndpointInfo, endpoints_for, slices_by_service
from kplab.kubeproxy.restore import comment
from kplab.kubeproxy.serviceport import ServicePortInfo, service_port_infos
from kplab.kubeproxy.tables import NodeTables, RestoreError

LAYOUTS = ("current", "v1.19")
CANARY = "KUBE-PROXY-CANARY"

# (table, chain kube-proxy jumps to, built-in chain, comment, extra match) — installed with EnsureRule(Prepend),
# in this order, so the last one ends up first in its built-in chain.
JUMPS_CURRENT = (
    ("filter", "KUBE-EXTERNAL-SERVICES", "INPUT", "kubernetes externally-visible service portals", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-EXTERNAL-SERVICES", "FORWARD", "kubernetes externally-visible service portals", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-NODEPORTS", "INPUT", "kubernetes health check service ports", ""),
    ("filter", "KUBE-SERVICES", "FORWARD", "kubernetes service portals", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-FORWARD", "FORWARD", "kubernetes forwarding rules", ""),
    ("filter", "KUBE-PROXY-FIREWALL", "INPUT", "kubernetes load balancer firewall", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-PROXY-FIREWALL", "OUTPUT", "kubernetes load balancer firewall", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-PROXY-FIREWALL", "FORWARD", "kubernetes load balancer firewall", "-m conntrack --ctstate NEW"),
    ("nat", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals", ""),
    ("nat", "KUBE-SERVICES", "PREROUTING", "kubernetes service portals", ""),
    ("nat", "KUBE-POSTROUTING", "POSTROUTING", "kubernetes postrouting rules", ""),
    # duplicates of kubelet's jumps to its KUBE-FIREWALL chain (no comment)
    ("filter", "KUBE-FIREWALL", "INPUT", "", ""),
    ("filter", "KUBE-FIREWALL", "OUTPUT", "", ""),
)


@dataclass
class SyncResult:
    payload: str  # the iptables-restore input of this sync
    full: bool  # full sync (every chain rewritten) or partial
    ok: bool = True  # False: iptables-restore refused it; the next sync will be full
    error: str | None = None
    deleted_chains: list[str] = field(default_factory=list)


def _jump_spec(extra: str, text: str, target: str) -> str:
    parts = [p for p in (extra, comment(text) if text else "", f"-j {target}") if p]
    return " ".join(parts)


class KubeProxy:
    def __init__(self, cluster: Cluster, node_name: str, layout: str = "current", family: str | None = None,
                 tables: NodeTables | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if layout not in LAYOUTS:
            raise KplabError(f"unknown kube-proxy layout {layout!r} (expected one of: {', '.join(LAYOUTS)})")
        self.cluster = cluster
        self.node_name = node_name
        self.layout = layout
        self.family = family
        self.tables = tables if tables is not None else NodeTables()
        self.clock = clock
        self.need_full_sync = True
        self.last_cleanup = float("-inf")  # when stale chains were last garbage-collected
        self.large_cluster = False
        self._seen: dict[str, tuple] = {}  # service key -> what kube-proxy last programmed for it
        for t in ("mangle", "nat", "filter"):  # ipt.Monitor's canaries
            self.tables.ensure_chain(t, CANARY)
        if layout == "v1.19":
            layout119.install_kubelet_chains(self.tables, ProxierConfig.from_cluster(cluster, node_name, family))

    # -----------------------------------------------------------------------------------------------------------
    def config(self) -> ProxierConfig:
        return ProxierConfig.from_cluster(self.cluster, self.node_name, self.family)

    def service_ports(self, cfg: ProxierConfig) -> list[tuple[ServicePortInfo, list[EndpointInfo]]]:
        ports = []
        index = slices_by_service(self.cluster)
        for key in sorted(self.cluster.services):
            for info in service_port_infos(self.cluster.services[key], cfg.family):
                ports.append((info, endpoints_for(self.cluster, info, cfg.node_name, cfg.family, index)))
        ports.sort(key=lambda pe: (pe[0].name, pe[0].protocol))
        return ports

    def sync(self, full: bool = False) -> SyncResult:
        cfg = self.config()
        ports = self.service_ports(cfg)
        seen: dict[str, list] = {}
        for info, eps in ports:
            seen.setdefault(info.service_key, []).append((info, tuple(eps)))
        fingerprints = {k: tuple(v) for k, v in seen.items()}
        changed = {k for k in fingerprints.keys() | self._seen.keys()
                   if fingerprints.get(k) != self._seen.get(k)}
        if any(not self.tables.has_chain(t, CANARY) for t in ("mangle", "nat", "filter")):
            self.need_full_sync = True  # someone flushed our tables: rebuild everything
            for t in ("mangle", "nat", "filter"):
                self.tables.ensure_chain(t, CANARY)

        full = full or self.need_full_sync or self.layout == "v1.19"  # v1.19 had no partial syncs
        if full:
            self._install_jumps(cfg)
        existing = {c for c in self.tables.chains("nat")}
        now = self.clock()
        if self.layout == "v1.19":
            out = layout119.write_sync(cfg, ports, existing_nat_chains=existing)
        else:
            total = sum(len(eps) for _, eps in ports)
            large = total > cfg.large_cluster_threshold
            cleanup = not large or now - self.last_cleanup > cfg.sync_period
            out = proxier.write_sync(cfg, ports, changed_services=None if full else changed,
                                     existing_nat_chains=existing if cleanup else None)
            if cleanup:
                self.last_cleanup = now
        self.large_cluster = out.large_cluster
        try:
            self.tables.restore(out.payload, source=f"{self.node_name} kube-proxy restore")
        except RestoreError as e:
            self.need_full_sync = True
            return SyncResult(out.payload, full, ok=False, error=str(e))
        self.need_full_sync = False
        self._seen = fingerprints
        return SyncResult(out.payload, full, deleted_chains=out.deleted_chains)

    def _install_jumps(self, cfg: ProxierConfig) -> None:
        jumps = layout119.JUMPS if self.layout == "v1.19" else JUMPS_CURRENT
        for table, target, builtin, text, extra in jumps:
            self.tables.ensure_chain(table, target)
            self.tables.ensure_rule(table, builtin, _jump_spec(extra, text, target), prepend=True)

    def ruleset_text(self) -> str:
        """The node's complete rule set now (iptables-save syntax, rules as kube-proxy wrote them)."""
        return self.tables.save_text()


def node_ruleset_text(cluster: Cluster, node_name: str, layout: str = "current", family: str | None = None) -> str:
    """A node's complete rule set after kube-proxy's first sync: built-in chains with kube-proxy's jump rules and
    every kube-proxy chain, in iptables-save form (parseable by kplab.netfilter.parse_ruleset)."""
    kp = KubeProxy(cluster, node_name, layout, family=family)
    result = kp.sync()
    if not result.ok:  # pragma: no cover - a full sync on fresh tables cannot dangle
        raise KplabError(f"kube-proxy's restore failed on node {node_name}: {result.error}")
    return kp.ruleset_text()


def restore_payload(cluster: Cluster, node_name: str, layout: str = "current", family: str | None = None) -> str:
    """What kube-proxy hands to iptables-restore on its first (full) sync on this node."""
    return KubeProxy(cluster, node_name, layout, family=family).sync().payload


FORMS = ("restore", "save")


def node_rules(cluster: Cluster, node_name: str, layout: str = "current", form: str = "save") -> str:
    """A node's rules as text. `form="save"`: the node's whole rule set as `iptables-save` prints it on a live node
    (the kernel's option order, /32 masks, %.11f probabilities); `form="restore"`: what kube-proxy hands to
    iptables-restore on its first, full sync. KplabError for an unknown node, layout or form."""
    if form == "restore":
        return restore_payload(cluster, node_name, layout)
    if form != "save":
        raise KplabError(f"rules form {form!r}: expected one of {', '.join(FORMS)}")
    from kplab.netfilter import parse_ruleset
    return parse_ruleset(node_ruleset_text(cluster, node_name, layout), source=f"node {node_name}").save()
