"""The rule writer of today's kube-proxy (iptables mode, v1.28+ layout with the nfacct counters of v1.29+).

One call is one `syncProxyRules`: from the Service ports and their endpoints to the restore payload. Rule order
and text follow kube-proxy's proxier.go; see ../shared/reference/kube-proxy-iptables.md §3–5 for the facts.
"""
from __future__ import annotations

from dataclasses import dataclass

from kplab.kubeproxy.address import cidr_contains
from kplab.kubeproxy.chainname import SERVICE_CHAIN_PREFIXES, is_service_chain
from kplab.kubeproxy.config import ProxierConfig
from kplab.kubeproxy.endpoints import EndpointInfo, categorize
from kplab.kubeproxy.restore import TableBuffer, comment, join_tables
from kplab.kubeproxy.serviceport import ServicePortInfo

MARK_MASQ = "KUBE-MARK-MASQ"
NODEPORTS_TAIL_COMMENT = "kubernetes service nodeports; NOTE: this must be the last rule in this chain"


def probability(n: int) -> str:
    """computeProbability: Go's %0.10f of 1/n."""
    return f"{1.0 / n:0.10f}"


def postrouting_rules(cfg: ProxierConfig) -> list[str]:
    """KUBE-POSTROUTING: masquerade, once, what KUBE-MARK-MASQ marked (the mark is cleared so it is not redone)."""
    masq = comment("kubernetes service traffic requiring SNAT") + " -j MASQUERADE"
    return [f"-m mark ! --mark {cfg.mark}/{cfg.mark} -j RETURN", f"-j MARK --xor-mark {cfg.mark}",
            masq + (" --random-fully" if cfg.random_fully else "")]


def write_masquerade_rules(nat: TableBuffer, cfg: ProxierConfig) -> None:
    """Masquerade machinery: mark in KUBE-MARK-MASQ, act (once) in KUBE-POSTROUTING."""
    for spec in postrouting_rules(cfg):
        nat.rule("KUBE-POSTROUTING", spec)
    nat.rule(MARK_MASQ, f"-j MARK --or-mark {cfg.mark}")


def delete_stale_chains(nat: TableBuffer, existing: set[str], active: set[str],
                        prefixes: tuple[str, ...] = SERVICE_CHAIN_PREFIXES) -> list[str]:
    """Flush and delete the service chains the node has that this sync did not write; returns their names."""
    deleted = []
    for chain in sorted(existing):
        if chain not in active and is_service_chain(chain, prefixes):
            nat.chain(chain)  # a chain line flushes it, so that -X can delete it
            nat.delete(chain)
            deleted.append(chain)
    return deleted


def firewall_sources(cfg: ProxierConfig, source_ranges, lb_ips) -> list[str]:
    """loadBalancerSourceRanges, plus the load balancer IPs themselves when a range holds the node's own IP: the
    node's traffic to its own load balancer comes back from the load balancer's IP."""
    allow_from_node = any(cfg.primary_ip and cidr_contains(src, cfg.primary_ip) for src in source_ranges)
    return list(source_ranges) + (list(lb_ips) if allow_from_node else [])


@dataclass
class SyncOutput:
    payload: str
    active_nat_chains: set[str]
    large_cluster: bool
    deleted_chains: list[str]


def write_sync(cfg: ProxierConfig, ports: list[tuple[ServicePortInfo, list[EndpointInfo]]], *,
               changed_services: set[str] | None, existing_nat_chains: set[str] | None,
               allow_cleanup: bool = True) -> SyncOutput:
    """changed_services None means a full sync; otherwise only those Services' per-service nat chains are written
    (MinimizeIPTablesRestore). existing_nat_chains (what `iptables-save -t nat` shows) drives stale-chain deletion;
    allow_cleanup False skips it (large clusters clean up at most once per syncPeriod)."""
    total_endpoints = sum(len(eps) for _, eps in ports)
    large = total_endpoints > cfg.large_cluster_threshold
    filt, nat = TableBuffer("filter"), TableBuffer("nat")
    for c in ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL"):
        filt.chain(c)
    for c in ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", MARK_MASQ):
        nat.chain(c)
    write_masquerade_rules(nat, cfg)

    if cfg.localhost_node_ports:
        # route_localnet opens a hole (CVE-2020-8558); this duplicate of kubelet's rule closes it.
        filt.chain("KUBE-FIREWALL")
        filt.rule("KUBE-FIREWALL", comment("block incoming localnet connections")
                  + " -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP")

    active: set[str] = set()
    discard = TableBuffer("nat")  # unchanged services in a partial sync write here, as kube-proxy's discard buffer
    for info, eps in ports:
        skip = changed_services is not None and info.service_key not in changed_services
        _write_service_port(cfg, info, eps, filt, nat, discard if skip else nat, active, large)

    for spec in nodeports_tail(cfg):  # must stay the last rules of KUBE-SERVICES
        nat.rule("KUBE-SERVICES", spec)

    deleted = []
    if allow_cleanup and existing_nat_chains is not None:
        deleted = delete_stale_chains(nat, existing_nat_chains, active)

    if not cfg.tcp_be_liberal:
        nfacct = " -m nfacct --nfacct-name ct_state_invalid_dropped_pkts" if cfg.nfacct else ""
        filt.rule("KUBE-FORWARD", f"-m conntrack --ctstate INVALID{nfacct} -j DROP")
    filt.rule("KUBE-FORWARD", comment("kubernetes forwarding rules") + f" -m mark --mark {cfg.mark}/{cfg.mark} -j ACCEPT")
    filt.rule("KUBE-FORWARD", comment("kubernetes forwarding conntrack rule")
              + " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    return SyncOutput(join_tables(filt, nat), active, large, deleted)


def nodeports_tail(cfg: ProxierConfig) -> list[str]:
    """KUBE-SERVICES -> KUBE-NODEPORTS for packets addressed to this node (rule specs, without `-A CHAIN`)."""
    c = comment(NODEPORTS_TAIL_COMMENT)
    if cfg.node_ports_match_all:
        extra = ""
        if cfg.family == "IPv6":
            extra = " ! -d ::1/128"
        elif not cfg.localhost_node_ports:
            extra = " ! -d 127.0.0.0/8"
        return [f"{c} -m addrtype --dst-type LOCAL{extra} -j KUBE-NODEPORTS"]
    return [f"{c} -d {ip} -j KUBE-NODEPORTS" for ip in cfg.node_port_ips()]


def _write_service_port(cfg: ProxierConfig, info: ServicePortInfo, eps: list[EndpointInfo], filt: TableBuffer,
                        nat: TableBuffer, chains_out: TableBuffer, active: set[str], large: bool) -> None:
    name, p = info.name, info.protocol
    proto = f"-m {p} -p {p}"
    cat = categorize(eps, info)
    C, L, E, F = info.svc_chain, info.svl_chain, info.ext_chain, info.fw_chain
    uses_cluster_chain = bool(cat.cluster) and info.uses_cluster_endpoints
    uses_local_chain = bool(cat.local) and info.uses_local_endpoints
    internal_chain = L if info.internal_policy_local else C
    external_chain = L if info.external_policy_local else C
    has_internal = cat.has_any and not (info.internal_policy_local and not cat.local)
    has_external = cat.has_any and not (info.external_policy_local and not cat.local)
    uses_ext_chain = cat.has_any and info.externally_accessible
    uses_fw_chain = cat.has_any and bool(info.load_balancer_ips) and bool(info.source_ranges)

    if not cat.has_any:
        int_target, int_comment = "REJECT", f"{name} has no endpoints"
        ext_target, ext_comment = "REJECT", f"{name} has no endpoints"
    else:
        int_target, int_comment = "DROP", f"{name} has no local endpoints"
        ext_target, ext_comment = "DROP", f"{name} has no local endpoints"

    if uses_cluster_chain:
        active.add(C)
    if uses_local_chain:
        active.add(L)
    if uses_ext_chain:
        active.add(E)
    if uses_fw_chain:
        active.add(F)
    for ep in cat.all_reachable:
        active.add(ep.chain(info))

    # 1. ClusterIP
    if has_internal:
        nat.rule("KUBE-SERVICES", f'{comment(name + " cluster IP")} {proto} -d {info.cluster_ip} '
                                  f"--dport {info.port} -j {internal_chain}")
    else:
        filt.rule("KUBE-SERVICES", f"{comment(int_comment)} {proto} -d {info.cluster_ip} --dport {info.port} "
                                   f"-j {int_target}")
    # 2. externalIPs
    for eip in info.external_ips:
        if cat.has_any:
            nat.rule("KUBE-SERVICES", f'{comment(name + " external IP")} {proto} -d {eip} --dport {info.port} -j {E}')
        if not has_external:
            filt.rule("KUBE-EXTERNAL-SERVICES", f"{comment(ext_comment)} {proto} -d {eip} --dport {info.port} "
                                                f"-j {ext_target}")
    # 3. load balancer IPs
    for lbip in info.load_balancer_ips:
        if cat.has_any:
            nat.rule("KUBE-SERVICES", f'{comment(name + " loadbalancer IP")} {proto} -d {lbip} --dport {info.port} '
                                      f"-j {F if uses_fw_chain else E}")
        if uses_fw_chain:
            filt.rule("KUBE-PROXY-FIREWALL", f'{comment(f"{name} traffic not accepted by {F}")} {proto} -d {lbip} '
                                             f"--dport {info.port} -j DROP")
    if not has_external:
        for lbip in info.load_balancer_ips:
            filt.rule("KUBE-EXTERNAL-SERVICES", f"{comment(ext_comment)} {proto} -d {lbip} --dport {info.port} "
                                                f"-j {ext_target}")
    # 4. NodePort
    if info.node_port:
        if cat.has_any:
            if cfg.localhost_node_ports and cfg.nfacct:
                nat.rule("KUBE-NODEPORTS", f"{comment(name)} {proto} -d 127.0.0.0/8 --dport {info.node_port} "
                                           f"-m nfacct --nfacct-name localhost_nps_accepted_pkts -j {E}")
            nat.rule("KUBE-NODEPORTS", f"{comment(name)} {proto} --dport {info.node_port} -j {E}")
        if not has_external:
            filt.rule("KUBE-EXTERNAL-SERVICES", f"{comment(ext_comment)} -m addrtype --dst-type LOCAL {proto} "
                                                f"--dport {info.node_port} -j {ext_target}")
    # 5. health check node port (even without endpoints: the load balancer must be able to ask)
    if info.health_check_node_port:
        filt.rule("KUBE-NODEPORTS", f'{comment(name + " health check node port")} -m tcp -p tcp '
                                    f"--dport {info.health_check_node_port} -j ACCEPT")

    # 6. From here on: per-service nat chains (skipped for unchanged Services in a partial sync).
    out = chains_out
    # 7. masquerade off-cluster traffic to the ClusterIP
    if has_internal:
        head = f'{comment(name + " cluster IP")} {proto} -d {info.cluster_ip} --dport {info.port}'
        if cfg.masquerade_all:
            out.rule(internal_chain, f"{head} -j {MARK_MASQ}")
        elif cfg.if_not_local:
            out.rule(internal_chain, f"{head} {cfg.if_not_local} -j {MARK_MASQ}")
    # 8. EXT chain
    if uses_ext_chain:
        out.chain(E)
        if not info.external_policy_local:
            out.rule(E, f'{comment(f"masquerade traffic for {name} external destinations")} -j {MARK_MASQ}')
        else:
            if cfg.if_local:
                out.rule(E, f'{comment(f"pod traffic for {name} external destinations")} {cfg.if_local} -j {C}')
            out.rule(E, f'{comment(f"masquerade LOCAL traffic for {name} external destinations")} '
                        f"-m addrtype --src-type LOCAL -j {MARK_MASQ}")
            out.rule(E, f'{comment(f"route LOCAL traffic for {name} external destinations")} '
                        f"-m addrtype --src-type LOCAL -j {C}")
        if has_external:
            out.rule(E, f"-j {external_chain}")
    # 9. FW chain (loadBalancerSourceRanges)
    if uses_fw_chain:
        out.chain(F)
        fw_comment = comment(name + " loadbalancer IP")
        for src in firewall_sources(cfg, info.source_ranges, info.load_balancer_ips):
            out.rule(F, f"{fw_comment} -s {src} -j {E}")
        out.rule(F, comment(f"other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL"))
    # 10. SVC / SVL chains
    if uses_cluster_chain:
        out.chain(C)
        _write_endpoint_jumps(out, info, C, cat.cluster, large)
    if uses_local_chain:
        out.chain(L)
        _write_endpoint_jumps(out, info, L, cat.local, large)
    # 11. SEP chains
    for ep in cat.all_reachable:
        S = ep.chain(info)
        out.chain(S)
        c = "" if large else comment(name) + " "
        out.rule(S, f"{c}-s {ep.ip} -j {MARK_MASQ}")  # hairpin: a pod reaching itself through the Service
        recent = f"-m recent --name {S} --set " if info.affinity_timeout else ""
        out.rule(S, f"{c}{recent}{proto} -j DNAT --to-destination {ep.endpoint}")


def _write_endpoint_jumps(out: TableBuffer, info: ServicePortInfo, chain: str, eps, large: bool) -> None:
    def c(ep: EndpointInfo) -> str:
        return "" if large else comment(f"{info.name} -> {ep.endpoint}") + " "
    if info.affinity_timeout:
        for ep in eps:
            S = ep.chain(info)
            out.rule(chain, f"{c(ep)}-m recent --name {S} --rcheck --seconds {info.affinity_timeout} --reap -j {S}")
    n = len(eps)
    for i, ep in enumerate(eps):
        stat = f"-m statistic --mode random --probability {probability(n - i)} " if i < n - 1 else ""
        out.rule(chain, f"{c(ep)}{stat}-j {ep.chain(info)}")

