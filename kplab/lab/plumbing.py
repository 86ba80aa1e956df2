"""Plumbing: the simulator's Topology rebuilt from network namespaces, veths, bridges and routes.

One namespace per host of `kplab.walk.Topology` (nodes, pods, the router, the load balancer, outside
clients) plus an underlay namespace holding the bridge that is the node LAN. Interface names, addresses and
routes are the topology's own, so a kernel trace names the same devices a simulated one does:

    node   eth0 (a veth whose other end is a port of the underlay bridge), cni0 bridge with one veth per pod
           (hairpin on, as the bridge CNI sets it) or Calico-style cali* veths with proxy ARP and /32 routes
    pod    eth0 (the other end of its node's veth) with the topology's routes
    router eth0 on the LAN and a bridge `wan` (proxy ARP) whose ports lead to the outside clients; a packet it
           would send out `wan` to an address nobody owns is dropped on arrival (`swallow_rules`), as lost as
           in the simulator's outside world; no ICMP redirects (each try is a first connection)
    load balancer  eth0 on the LAN and multipath routes (hashing on ports, so each connection picks a node)
    clients  beyond the router: eth0 on `wan` with a default route to it; on the node network (the simulator's
           lan_host): eth0 on the LAN, the LAN on-link and a default route via the router

Nothing is created in the host namespace: every veth is made inside one lab namespace with its peer sent
straight into another (`ip link add ... peer name eth0 netns NS`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from kplab.lab.namespace import LabError

UNDERLAY = "underlay"
WAN_GATEWAY = "169.254.0.1"  # the router's link-scope address on `wan`: the outside clients' gateway


@dataclass
class Plan:
    """What to run to build the lab: namespace names and, per namespace, `ip -batch` lines and sysctls."""

    namespaces: dict[str, str] = field(default_factory=dict)  # host name (or "underlay") -> namespace name
    links: dict[str, list[str]] = field(default_factory=dict)  # namespace -> lines creating links (first pass)
    setup: dict[str, list[str]] = field(default_factory=dict)  # namespace -> addresses, up, routes (second pass)
    fdb: dict[str, list[str]] = field(default_factory=dict)  # namespace -> `bridge -batch` lines (VXLAN FDB)
    sysctls: dict[str, dict[str, str]] = field(default_factory=dict)  # namespace -> key -> value

    def namespace(self, host: str) -> str:
        return self.namespaces[host]


def namespace_name(prefix: str, host: str) -> str:
    """A readable, file-safe namespace name for a host: `<prefix><host>` with '/' turned into '.'."""
    safe = "".join(c if c.isalnum() or c in "-._" else "." for c in host)
    return f"{prefix}{safe}"


def _short(name: str, size: int = 15) -> str:
    return name if len(name) <= size else name[:6] + hashlib.sha1(name.encode()).hexdigest()[: size - 6]


def vtep_mac(node: str) -> str:
    """A node's VXLAN device MAC address: locally administered, fixed by the node name (flannel and Calico let the
    kernel choose one and publish it; the lab needs it before the devices exist, to write the FDB)."""
    digest = hashlib.sha1(node.encode()).hexdigest()
    return "02:" + ":".join(digest[i:i + 2] for i in range(0, 10, 2))


def _overlay(topology, name: str, host, iface, p: Plan, ns: str) -> None:
    """The lines for a node's tunnel device: VXLAN as flannel and Calico set it up (VNI, UDP port, MTU, no
    learning; for every other node a permanent neighbour entry for its VTEP address and an FDB entry sending
    that MAC to its node IP), or Calico's tunl0 (the ipip module's fallback device, which every namespace has
    once the module is loaded: configured, not created). That fallback tunl0 is made when the namespace is, so it
    comes before eth0 in device order, as in a container node (minikube, kind) started while the module was
    loaded, and unlike a machine that loaded it after boot; MASQUERADE out of an address-less cali* device takes
    the first device's global address (inet_select_addr), so a Calico hairpin's source follows that order."""
    from kplab.walk.topology import FLANNEL_VXLAN_PORT, IPIP_MTU, VXLAN_MTU, VXLAN_PORT, VXLAN_VNI
    local = topology.node_ips[name]
    if iface.kind == "ipip":
        p.links[ns].append(f"link set {iface.name} mtu {IPIP_MTU}")
        return
    port = FLANNEL_VXLAN_PORT if topology.cni == "bridge" else VXLAN_PORT
    p.links[ns].append(f"link add {iface.name} address {vtep_mac(name)} mtu {VXLAN_MTU} type vxlan id "
                       f"{VXLAN_VNI[topology.cni]} local {local} dev eth0 dstport {port} nolearning")
    for other, other_ip in sorted(topology.node_ips.items()):
        remote = topology.hosts[other].interfaces.get(iface.name)
        if other == name or remote is None or not remote.addresses:
            continue
        vtep = remote.addresses[0].split("/")[0]
        p.setup[ns].append(f"neigh replace {vtep} lladdr {vtep_mac(other)} dev {iface.name} nud permanent")
        p.fdb.setdefault(ns, []).append(f"fdb append {vtep_mac(other)} dev {iface.name} dst {other_ip} self "
                                        "permanent")


def plan(topology, prefix: str) -> Plan:
    """The commands that build `topology` in namespaces named `prefix...` (raises LabError for a device the lab
    cannot build)."""
    p = Plan()
    p.namespaces[UNDERLAY] = namespace_name(prefix, UNDERLAY)
    for name in topology.hosts:
        p.namespaces[name] = namespace_name(prefix, name)
    ul = p.namespaces[UNDERLAY]
    p.links[ul] = ["link add br0 type bridge", "link set br0 up"]
    p.setup[ul] = ["link set lo up"]
    p.sysctls[ul] = {"net.bridge.bridge-nf-call-iptables": "0"}
    port = 0
    for name, host in topology.hosts.items():
        ns = p.namespaces[name]
        p.setup.setdefault(ns, [])
        p.links.setdefault(ns, [])
        sysctl = p.sysctls.setdefault(ns, {})
        # icmp_ratemask 0: every ICMP error is sent (the kernel otherwise lets ~6 per peer through, then 1/s,
        # and a test making 32 connections would see the rest time out)
        sysctl.update({"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.default.rp_filter": "0",
                       "net.ipv4.icmp_ratemask": "0",
                       "net.ipv4.ip_forward": "1" if host.ip_forward else "0"})
        if host.kind == "node":
            sysctl["net.bridge.bridge-nf-call-iptables"] = "1"  # br_netfilter: bridged pod traffic sees iptables
            sysctl["net.ipv4.conf.all.route_localnet"] = "1"  # kube-proxy sets it for localhost NodePorts
        if host.kind in ("router", "load-balancer"):
            # no ICMP redirects: a LAN client told by the router to reach the load balancer directly would take
            # that shortcut on every later try, while kplab walks each connection as the network's first
            sysctl.update({"net.ipv4.conf.all.send_redirects": "0", "net.ipv4.conf.default.send_redirects": "0"})
        if host.kind == "load-balancer":
            sysctl["net.ipv4.fib_multipath_hash_policy"] = "1"  # spread connections (ports) over the next hops
        for iface in host.interfaces.values():
            if iface.kind == "ethernet" and iface.peer is None:  # on the node LAN
                ul_port = f"u{port}"
                port += 1
                p.links[ul] += [f"link add {ul_port} type veth peer name {iface.name} netns {ns}",
                                f"link set {ul_port} master br0", f"link set {ul_port} up"]
            elif iface.kind == "bridge":
                p.links[ns] += [f"link add {iface.name} type bridge"]
            elif iface.kind == "wan":
                p.links[ns] += [f"link add {iface.name} type bridge"]
                sysctl[f"net.ipv4.conf.{iface.name}.proxy_arp"] = "1"
                sysctl[f"net.ipv4.neigh.{iface.name}.proxy_delay"] = "0"  # answer at once, not within 0.8 s
                sysctl["net.bridge.bridge-nf-call-iptables"] = "0"
            elif iface.kind in ("bridge-port", "cali"):
                peer_host, peer_iface = iface.peer
                p.links[ns] += [f"link add {iface.name} type veth peer name {peer_iface} netns "
                                f"{p.namespaces[peer_host]}"]
                if iface.kind == "bridge-port":
                    p.links[ns] += [f"link set {iface.name} master {iface.master}",
                                    f"link set dev {iface.name} type bridge_slave hairpin on"]
                else:
                    sysctl[f"net.ipv4.conf.{iface.name}.proxy_arp"] = "1"  # answers for 169.254.1.1
                    sysctl[f"net.ipv4.neigh.{iface.name}.proxy_delay"] = "0"  # as Calico sets it
            elif iface.kind == "ethernet" and iface.peer is not None:  # an outside client behind the router
                peer_host, peer_iface = iface.peer
                router_ns = p.namespaces[peer_host]
                router_port = _short(f"w{name}")
                p.links.setdefault(router_ns, []).extend([
                    f"link add {router_port} type veth peer name {iface.name} netns {ns}",
                    f"link set {router_port} master {peer_iface}", f"link set {router_port} up"])
            elif iface.kind in ("vxlan", "ipip"):
                _overlay(topology, name, host, iface, p, ns)
            elif iface.kind == "veth":
                pass  # made by the other end
            else:
                raise LabError(f"{name}: the lab cannot build a {iface.kind} interface ({iface.name})")
        neighbours = [line for line in p.setup[ns] if line.startswith("neigh ")]  # once the devices are up
        lines = p.setup[ns] = [line for line in p.setup[ns] if not line.startswith("neigh ")]
        lines.append("link set lo up")
        for iface in host.interfaces.values():
            for address in iface.addresses:
                lines.append(f"addr add {address} dev {iface.name}")
            if iface.kind == "wan":
                lines.append(f"addr add {WAN_GATEWAY}/32 dev {iface.name} scope link")
        for iface in host.interfaces.values():
            lines.append(f"link set {iface.name} up")
        # on-link routes first: a gateway must be reachable when a route through it is added
        for route in sorted(host.routes.routes, key=lambda r: bool(r.via or r.nexthops)):
            if route.proto == "kernel" or route.kind == "local":
                continue  # connected routes come with the addresses
            if host.kind == "outside" and route.dest == "default" and not route.via:
                # an on-link default route would need the router to answer ARP for every address on the
                # internet; a gateway on the link sends everything to the router, which is what it means
                lines.append(f"route add default via {WAN_GATEWAY} dev {route.dev} onlink")
                continue
            lines.append(route_command(route))
        lines.extend(neighbours)
    return p


def swallow_rules(topology, router: str) -> list[str]:
    """The router's raw PREROUTING rules (iptables-save `-A` lines) that make the outside world the simulator
    models: a packet for an address nobody owns leaves by the default route and nothing ever answers. Every
    destination the router routes elsewhere than its default route (the LAN, load balancer IPs, externalIPs) or
    that an outside host owns is let through; the rest is dropped at once. The silence is the same as a packet
    lost beyond the router, but the trace shows the drop (in the lab's raw table, left out of the compared rules),
    so a connection's timeout is known without waiting for it."""
    host = topology.hosts[router]
    keep: list[str] = []
    for route in host.routes.routes:
        if route.dest != "default" and route.dest not in keep:
            keep.append(route.dest)
    for name, other in topology.hosts.items():
        wan = [i for i in other.interfaces.values() if i.peer == (router, "wan")]
        for iface in wan:
            keep += [a.split("/")[0] + "/32" for a in iface.addresses]
    lines = [f"-A PREROUTING -d {dest} -j ACCEPT" for dest in keep]
    return lines + ["-A PREROUTING -j DROP"]


def route_command(route) -> str:
    """`ip route add` for one topology route (blackhole/unreachable, multipath, onlink)."""
    if route.kind in ("blackhole", "unreachable", "prohibit"):
        return f"route add {route.kind} {route.dest}"
    parts = ["route add", route.dest]
    if route.nexthops:
        for nh in route.nexthops:
            parts.append(f"nexthop via {nh.via} dev {nh.dev} weight {nh.weight}")
        return " ".join(parts)
    if route.via:
        parts.append(f"via {route.via}")
    if route.dev:
        parts.append(f"dev {route.dev}")
    if route.scope and not route.via:
        parts.append(f"scope {route.scope}")
    if route.src:
        parts.append(f"src {route.src}")
    if route.onlink:
        parts.append("onlink")
    return " ".join(parts)
