"""kube-proxy's rules as v1.19 wrote them — the layout of the article's listings (minikube, Kubernetes v1.19.2).

What this relies on (and how sure it is):
- The rule writer follows the release-1.18-era `pkg/proxy/iptables/proxier.go` read from the search index (the
  version with `clusterCIDR`, `KUBE-XLB-*`, `KUBE-MARK-DROP`, `"%0.10f"` probabilities, 1000-endpoint comment
  threshold), cross-checked against the article's `iptables -t nat -L` listings for v1.19.2: ClusterIP masquerade
  rule `! -s 10.244.0.0/16` in KUBE-SERVICES, NodePort masquerade + jump in KUBE-NODEPORTS, SVC->SEP comments that
  are just `default/webapp`, `"Balancing rule 0 for default/webapp"` in XLB, `KUBE-MARK-DROP` at the end of an XLB
  chain without local endpoints, `-s 127.0.0.0/8 -j KUBE-MARK-MASQ` for eTP Local node ports. All match.
- KUBE-POSTROUTING: I used the `! --mark -j RETURN` / `--xor-mark` / MASQUERADE form and `--or-mark` in
  KUBE-MARK-MASQ, which I believe arrived in v1.19 (the 1.18 source still has `-m mark --mark ... -j MASQUERADE`
  and `--set-xmark`). Not verified against the v1.19 tag; the article trims those chains.
- Marks are written as `0x4000` (the value kube-proxy's `%#08x` gives may be `0x00004000`; the kernel prints
  `0x4000` either way).
- v1.19 knew no internalTrafficPolicy, terminating endpoints, health-check ACCEPT rules, KUBE-PROXY-FIREWALL or
  partial syncs: only Ready endpoints are used and every sync rewrites everything.
- kubelet's chains of that era are installed first: nat KUBE-MARK-DROP (`--or-mark 0x8000`), and filter
  KUBE-FIREWALL dropping 0x8000-marked packets and blocking incoming localnet connections.
"""
from __future__ import annotations

from kplab.errors import KplabError

from kplab.kubeproxy.address import cidr_contains, to_cidr
from kplab.kubeproxy.chainname import SERVICE_CHAIN_PREFIXES_V119
from kplab.kubeproxy.config import ProxierConfig
from kplab.kubeproxy.endpoints import EndpointInfo
from kplab.kubeproxy.proxier import (MARK_MASQ, NODEPORTS_TAIL_COMMENT, SyncOutput, delete_stale_chains,
                                     firewall_sources, postrouting_rules, probability, write_masquerade_rules)
from kplab.kubeproxy.restore import TableBuffer, comment, join_tables
from kplab.kubeproxy.serviceport import ServicePortInfo

MARK_DROP = "KUBE-MARK-DROP"
DROP_MARK = "0x8000"  # kubelet's --iptables-drop-bit 15

JUMPS = (
    ("filter", "KUBE-EXTERNAL-SERVICES", "INPUT", "kubernetes externally-visible service portals", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-SERVICES", "FORWARD", "kubernetes service portals", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-SERVICES", "INPUT", "kubernetes service portals", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-FORWARD", "FORWARD", "kubernetes forwarding rules", ""),
    ("nat", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals", ""),
    ("nat", "KUBE-SERVICES", "PREROUTING", "kubernetes service portals", ""),
    ("nat", "KUBE-POSTROUTING", "POSTROUTING", "kubernetes postrouting rules", ""),
)


def install_kubelet_chains(tables, cfg: ProxierConfig) -> None:
    """What kubelet (v1.19) set up before kube-proxy ran: the drop mark and its filter, the masquerade chains."""
    tables.ensure_chain("nat", MARK_DROP)
    tables.ensure_rule("nat", MARK_DROP, f"-j MARK --or-mark {DROP_MARK}", prepend=False)
    tables.ensure_chain("nat", MARK_MASQ)
    tables.ensure_rule("nat", MARK_MASQ, f"-j MARK --or-mark {cfg.mark}", prepend=False)
    tables.ensure_chain("nat", "KUBE-POSTROUTING")
    for spec in postrouting_rules(cfg):
        tables.ensure_rule("nat", "KUBE-POSTROUTING", spec, prepend=False)
    tables.ensure_rule("nat", "POSTROUTING", comment("kubernetes postrouting rules") + " -j KUBE-POSTROUTING")
    tables.ensure_chain("filter", "KUBE-FIREWALL")
    tables.ensure_rule("filter", "KUBE-FIREWALL", comment("kubernetes firewall for dropping marked packets")
                       + f" -m mark --mark {DROP_MARK}/{DROP_MARK} -j DROP", prepend=False)
    if cfg.family == "IPv4":
        tables.ensure_rule("filter", "KUBE-FIREWALL", "! -s 127.0.0.0/8 -d 127.0.0.0/8 "
                           + comment("block incoming localnet connections")
                           + " -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP", prepend=False)
    tables.ensure_rule("filter", "INPUT", "-j KUBE-FIREWALL")
    tables.ensure_rule("filter", "OUTPUT", "-j KUBE-FIREWALL")


def write_sync(cfg: ProxierConfig, ports: list[tuple[ServicePortInfo, list[EndpointInfo]]], *,
               existing_nat_chains: set[str] | None) -> SyncOutput:
    if cfg.local_iface:  # KEP-2450's interface detectors arrived in v1.23; v1.19 knew only CIDRs
        raise KplabError("the v1.19 layout knows detectLocalMode ClusterCIDR and NodeCIDR only (BridgeInterface "
                         "and InterfaceNamePrefix came with kube-proxy v1.23): use --layout current")
    filt, nat = TableBuffer("filter"), TableBuffer("nat")
    for c in ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD"):
        filt.chain(c)
    for c in ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", MARK_MASQ):
        nat.chain(c)
    write_masquerade_rules(nat, cfg)

    ready = [(info, [e for e in eps if e.ready]) for info, eps in ports]
    large = sum(len(eps) for _, eps in ready) > cfg.large_cluster_threshold
    active: set[str] = set()
    for info, eps in ready:
        _write_service_port(cfg, info, eps, filt, nat, active, large)

    deleted = delete_stale_chains(nat, existing_nat_chains or set(), active, SERVICE_CHAIN_PREFIXES_V119)

    tail = comment(NODEPORTS_TAIL_COMMENT)
    if cfg.node_ports_match_all:
        nat.rule("KUBE-SERVICES", f"{tail} -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
    else:
        for ip in cfg.local_ips:
            if any(cidr_contains(c, ip) for c in cfg.node_port_addresses):
                nat.rule("KUBE-SERVICES", f"{tail} -d {ip} -j KUBE-NODEPORTS")

    filt.rule("KUBE-FORWARD", "-m conntrack --ctstate INVALID -j DROP")
    filt.rule("KUBE-FORWARD", comment("kubernetes forwarding rules") + f" -m mark --mark {cfg.mark}/{cfg.mark} -j ACCEPT")
    if cfg.local_cidr:
        filt.rule("KUBE-FORWARD", f"-s {cfg.local_cidr} " + comment("kubernetes forwarding conntrack pod source rule")
                  + " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
        filt.rule("KUBE-FORWARD", comment("kubernetes forwarding conntrack pod destination rule")
                  + f" -d {cfg.local_cidr} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    return SyncOutput(join_tables(filt, nat), active, large, deleted)


def _write_service_port(cfg: ProxierConfig, info: ServicePortInfo, eps: list[EndpointInfo], filt: TableBuffer,
                        nat: TableBuffer, active: set[str], large: bool) -> None:
    name, p = info.name, info.protocol
    proto = f"-m {p} -p {p}"
    C, XLB, F = info.svc_chain, info.xlb_chain, info.fw_chain
    only_local = info.external_policy_local and info.type in ("NodePort", "LoadBalancer")
    has_eps = bool(eps)

    def reject(chain: str, match: str) -> None:
        """A Service without endpoints: kube-proxy rejects its traffic in the filter table."""
        filt.rule(chain, f'{comment(name + " has no endpoints")} {match} -j REJECT')

    svc_comment = "" if large else comment(name) + " "  # appendServiceCommentLocked
    if has_eps:
        nat.chain(C)
        active.add(C)
    if only_local:
        nat.chain(XLB)
        active.add(XLB)

    # ClusterIP
    if has_eps:
        args = f'{comment(name + " cluster IP")} {proto} -d {to_cidr(info.cluster_ip)} --dport {info.port}'
        if cfg.masquerade_all:
            nat.rule("KUBE-SERVICES", f"{args} -j {MARK_MASQ}")
        elif cfg.local_cidr:
            nat.rule("KUBE-SERVICES", f"{args} ! -s {cfg.local_cidr} -j {MARK_MASQ}")
        nat.rule("KUBE-SERVICES", f"{args} -j {C}")
    else:
        reject("KUBE-SERVICES", f"{proto} -d {to_cidr(info.cluster_ip)} --dport {info.port}")
    # externalIPs: always masqueraded, to the service chain
    for eip in info.external_ips:
        if has_eps:
            args = f'{comment(name + " external IP")} {proto} -d {to_cidr(eip)} --dport {info.port}'
            nat.rule("KUBE-SERVICES", f"{args} -j {MARK_MASQ}")
            nat.rule("KUBE-SERVICES", f"{args} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j {C}")
            nat.rule("KUBE-SERVICES", f"{args} -m addrtype --dst-type LOCAL -j {C}")
        else:
            reject("KUBE-EXTERNAL-SERVICES", f"{proto} -d {to_cidr(eip)} --dport {info.port}")
    # load balancer IPs go through the KUBE-FW chain
    for lbip in info.load_balancer_ips:
        if has_eps:
            nat.chain(F)
            active.add(F)
            nat.rule("KUBE-SERVICES", f'{comment(name + " loadbalancer IP")} {proto} -d {to_cidr(lbip)} '
                                      f"--dport {info.port} -j {F}")
            fw = comment(name + " loadbalancer IP")
            chosen = XLB
            if not only_local:
                nat.rule(F, f"{fw} -j {MARK_MASQ}")
                chosen = C
            if not info.source_ranges:
                nat.rule(F, f"{fw} -j {chosen}")
            for src in firewall_sources(cfg, info.source_ranges, [to_cidr(lbip)]):
                nat.rule(F, f"{fw} -s {src} -j {chosen}")
            nat.rule(F, f"{fw} -j {MARK_DROP}")  # not DNATed by now: firewalled
        else:
            reject("KUBE-SERVICES", f"{proto} -d {to_cidr(lbip)} --dport {info.port}")
    # NodePort
    if info.node_port:
        if has_eps:
            args = f"{comment(name)} {proto} --dport {info.node_port}"
            if not only_local:
                nat.rule("KUBE-NODEPORTS", f"{args} -j {MARK_MASQ}")
                nat.rule("KUBE-NODEPORTS", f"{args} -j {C}")
            else:
                loopback = "::1/128" if cfg.family == "IPv6" else "127.0.0.0/8"
                nat.rule("KUBE-NODEPORTS", f"{args} -s {loopback} -j {MARK_MASQ}")  # localhost martian fix
                nat.rule("KUBE-NODEPORTS", f"{args} -j {XLB}")
        else:
            reject("KUBE-EXTERNAL-SERVICES", f"-m addrtype --dst-type LOCAL {proto} --dport {info.node_port}")
    if not has_eps:
        return

    chains = [e.chain(info) for e in eps]
    for S in chains:
        nat.chain(S)
        active.add(S)
    if info.affinity_timeout:
        for S in chains:
            nat.rule(C, f"{svc_comment}-m recent --name {S} --rcheck --seconds {info.affinity_timeout} --reap -j {S}")
    n = len(eps)
    for i, (ep, S) in enumerate(zip(eps, chains)):
        stat = f"-m statistic --mode random --probability {probability(n - i)} " if i < n - 1 else ""
        nat.rule(C, f"{svc_comment}{stat}-j {S}")
        nat.rule(S, f"{svc_comment}-s {to_cidr(ep.ip)} -j {MARK_MASQ}")
        recent = f"-m recent --name {S} --set " if info.affinity_timeout else ""
        nat.rule(S, f"{svc_comment}{recent}{proto} -j DNAT --to-destination {ep.endpoint}")

    if not only_local:
        return
    if cfg.local_cidr:
        nat.rule(XLB, comment("Redirect pods trying to reach external loadbalancer VIP to clusterIP")
                 + f" -s {cfg.local_cidr} -j {C}")
    nat.rule(XLB, comment(f"masquerade LOCAL traffic for {name} LB IP") + f" -m addrtype --src-type LOCAL -j {MARK_MASQ}")
    nat.rule(XLB, comment(f"route LOCAL traffic for {name} LB IP to service chain")
             + f" -m addrtype --src-type LOCAL -j {C}")
    local = [S for ep, S in zip(eps, chains) if ep.is_local]
    if not local:
        nat.rule(XLB, comment(f"{name} has no local endpoints") + f" -j {MARK_DROP}")
        return
    if info.affinity_timeout:
        for S in local:
            nat.rule(XLB, f"{comment(name)} -m recent --name {S} --rcheck --seconds {info.affinity_timeout} --reap -j {S}")
    m = len(local)
    for i, S in enumerate(local):
        stat = f" -m statistic --mode random --probability {probability(m - i)}" if i < m - 1 else ""
        nat.rule(XLB, comment(f"Balancing rule {i} for {name}") + f"{stat} -j {S}")
