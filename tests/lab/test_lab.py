"""The lab's life cycle on the article's clusters: built from the simulator's topology, torn down with nothing
left behind (also when the body raises)."""
from __future__ import annotations

import pytest

from kplab.k8s import load_cluster
from kplab.lab import Lab
from kplab.lab import namespace as ns

from .conftest import DATA


@pytest.mark.kernel
def test_build_and_teardown_leave_nothing():
    lab = Lab(load_cluster(DATA / "nodeport"))
    with lab:
        names = ns.existing(lab.prefix)
        hosts = set(lab.topology.hosts)
        assert len(names) == len(hosts) + 1  # every host and the underlay
        assert {"minikube", "minikube-m02", "router", "203.0.113.10"} <= hosts
        assert lab.nsids and set(lab.nsids.values()) == hosts
    assert lab.leaks() == []


@pytest.mark.kernel
def test_an_exception_inside_still_tears_down():
    lab = Lab(load_cluster(DATA / "nodeport"))
    with pytest.raises(ZeroDivisionError):
        with lab:
            assert ns.existing(lab.prefix)
            1 / 0
    assert lab.leaks() == []
    lab.stop()  # twice is fine


@pytest.mark.kernel
def test_addresses_and_routes_are_the_topologys():
    from kplab.lab.namespace import run
    with Lab(load_cluster(DATA / "nodeport")) as lab:
        for host in ("minikube", "router", "203.0.113.10", "192.168.49.100", "default/webapp-d6989d74-7bqwt"):
            where = lab.namespace(host)
            topo = lab.topology.hosts[host]
            have = {(w[1], w[3]) for w in (line.split() for line in run(["ip", "-o", "-4", "addr"], namespace=where)
                                               .splitlines())}
            want = {(i.name, a) for i in topo.interfaces.values() for a in i.addresses} | {("lo", "127.0.0.1/8")}
            if host == "router":
                want.add(("wan", "169.254.0.1/32"))  # the outside clients' gateway (plumbing.WAN_GATEWAY)
            assert have == want, host
            routes = run(["ip", "route"], namespace=where)
            if topo.kind == "outside" and topo.interfaces["eth0"].peer:  # beyond the router: everything to it
                assert routes.startswith("default via 169.254.0.1 dev eth0 onlink"), routes
                continue
            for entry in topo.routes.routes:
                first = str(entry).splitlines()[0].replace(" proto bird", "")
                assert first.split(" proto ")[0].split(" scope ")[0] in routes, (host, first)


@pytest.mark.kernel
def test_the_kernel_holds_exactly_the_simulators_rules():
    """iptables-save from the node's namespace prints the very lines the simulator walks (kernel-normalised
    text, same order)."""
    from kplab.lab.namespace import run
    with Lab(load_cluster(DATA / "nodeport")) as lab:
        for node in ("minikube", "minikube-m02"):
            for table in ("nat", "filter"):
                saved = run(["iptables-save", "-t", table], namespace=lab.namespace(node))
                ours = lab.network.rules(node).split(f"*{table}\n", 1)[1].split("COMMIT", 1)[0]
                assert [x for x in saved.splitlines() if x.startswith("-A ")] == \
                    [x for x in ours.splitlines() if x.startswith("-A ")], (node, table)


@pytest.mark.kernel
def test_a_client_on_the_node_network():
    """The node-network client (192.168.49.100, like minikube's host) reaches NodePorts straight over the LAN, and
    with externalTrafficPolicy Local the pod sees its own address; a ClusterIP or a pod IP from there leaves by
    the router and is lost. Each as the simulator says."""
    cluster = load_cluster(DATA / "nodeport-local")
    with Lab(cluster) as lab:
        lan = "192.168.49.100"
        assert lan in lab.clients and lab.topology.hosts[lan].interfaces["eth0"].peer is None
        nodes = {n: lab.topology.node_ips[n] for n in ("minikube", "minikube-m02")}
        local = {n for n in nodes if any(p.node_name == n and p.labels.get("app") == "webapp"
                                         for p in cluster.pods.values())}
        assert local and local != set(nodes)
        for node, ip in nodes.items():
            seen, _ = lab.traced(lan, ip, 31380)  # traced: a drop is known at once
            if node in local:
                assert seen.kind == "reached" and seen.source_seen.startswith(f"{lan}:"), (node, seen)
            else:
                assert seen.kind == "timeout", (node, seen)  # kube-proxy's "has no local endpoints" DROP
            kernel = lab.trace(lan, ip, 31380)
            assert kernel.host_names[:2] == (lan, node)  # no router hop on the LAN
        frontend = cluster.services["default/frontend"]
        pod = next(p for p in cluster.pods.values() if p.labels.get("app") == "webapp")
        for dst, port in ((frontend.cluster_ip, frontend.ports[0].port), (pod.ip, 80)):
            assert lab.traced(lan, dst, port)[0].kind == "timeout"
            verdict = lab.compare(lan, dst, port, tries=3)
            assert verdict.agrees and set(r.kind for r in verdict.expected) == {"timeout"}, verdict


@pytest.mark.kernel
def test_the_outside_world_swallows_what_nobody_owns():
    """The router drops (in the lab's raw table) what it would send out `wan` to an address no outside host owns:
    a ClusterIP sent from outside times out at once in the trace instead of after the connection timeout."""
    from kplab.lab.plumbing import swallow_rules
    cluster = load_cluster(DATA / "nodeport")
    with Lab(cluster) as lab:
        rules = swallow_rules(lab.topology, "router")
        assert rules[-1] == "-A PREROUTING -j DROP" and "-A PREROUTING -d 203.0.113.10/32 -j ACCEPT" in rules
        assert "-A PREROUTING -d 192.168.49.0/24 -j ACCEPT" in rules
        frontend = cluster.services["default/frontend"]
        observation, events = lab.traced("203.0.113.10", frontend.cluster_ip, frontend.ports[0].port)
        assert observation.kind == "timeout" and observation.elapsed < 1.0, observation
        assert any(e.verdict == "drop" and e.table == "raw" and lab.nsids.get(e.nsid) == "router" for e in events)


def _link(lab, host: str, device: str) -> dict:
    import json
    from kplab.lab.namespace import run
    return json.loads(run(["ip", "-d", "-s", "-j", "link", "show", "dev", device], namespace=lab.namespace(host)))[0]


@pytest.mark.kernel
@pytest.mark.parametrize("cni, device, vni, port", [("bridge", "flannel.1", 1, 8472),
                                                     ("calico", "vxlan.calico", 4096, 4789)])
def test_a_vxlan_overlay_carries_pods_between_nodes(cni, device, vni, port):
    """VXLAN as flannel (bridge) and Calico set it up: the device, VNI, UDP port and MTU of the simulator's
    topology, a permanent neighbour and FDB entry per other node; a pod's connection to a pod on another node
    leaves through the VXLAN device (its counters move) and agrees with the simulator, hop by hop."""
    import json
    from kplab.lab.namespace import run
    from kplab.lab.plumbing import vtep_mac
    cluster = load_cluster(DATA / "nodeport")
    with Lab(cluster, cni=cni, overlay="vxlan") as lab:
        assert lab.topology.overlay == "vxlan" and not lab.notes
        for node, other in (("minikube", "minikube-m02"), ("minikube-m02", "minikube")):
            link = _link(lab, node, device)
            info = link["linkinfo"]["info_data"]
            assert link["linkinfo"]["info_kind"] == "vxlan" and link["mtu"] == 1450
            assert (info["id"], info["port"], info["local"], info["learning"]) == \
                (vni, port, lab.topology.node_ips[node], False)
            vtep = lab.topology.hosts[other].interfaces[device].ips[0]
            neigh = json.loads(run(["ip", "-j", "neigh", "show", "dev", device], namespace=lab.namespace(node)))
            assert [(n["dst"], n["lladdr"]) for n in neigh] == [(vtep, vtep_mac(other))]
            fdb = json.loads(run(["bridge", "-j", "fdb", "show", "dev", device], namespace=lab.namespace(node)))
            assert {(f["mac"], f.get("dst")) for f in fdb if f.get("dst")} == \
                {(vtep_mac(other), lab.topology.node_ips[other])}
        pods = {p.node_name: p for p in cluster.pods.values() if p.labels.get("app") == "webapp"}
        src, dst = pods["minikube"], pods["minikube-m02"]
        before = (_link(lab, "minikube", device)["stats64"]["tx"]["packets"],
                  _link(lab, "minikube-m02", device)["stats64"]["rx"]["packets"])
        kernel = lab.trace(src.key, dst.ip, 80)
        after = (_link(lab, "minikube", device)["stats64"]["tx"]["packets"],
                 _link(lab, "minikube-m02", device)["stats64"]["rx"]["packets"])
        assert after[0] > before[0] and after[1] > before[1]  # encapsulated on one node, decapsulated on the other
        assert kernel.delivered_to == dst.key and kernel.verdict == "ACCEPT"
        hops = {h.host: h for h in kernel.hops}
        assert hops["minikube"].out_iface == device and hops["minikube-m02"].in_iface == device
        simulated = lab.simulate(src.key, dst.ip, 80)
        assert all(any(s.kind == "encapsulation" for s in h.steps) for _, t in simulated for h in t.hops
                   if h.host == "minikube-m02")
        verdict = lab.compare(src.key, dst.ip, 80, tries=3)
        assert verdict.agrees, verdict


@pytest.mark.kernel
def test_ip_in_ip_is_built_where_the_kernel_has_it():
    """Calico's IP-in-IP (the article's cluster): tunl0 configured as Calico does where the kernel has the ipip
    module; elsewhere the pod network is routed without encapsulation and the lab says so in a note."""
    from kplab.lab.lab import kernel_has
    cluster = load_cluster(DATA / "article")
    with Lab(cluster) as lab:
        if not kernel_has("ipip"):
            assert lab.topology.overlay is None
            assert any("no IP-in-IP" in n for n in lab.notes)
            pytest.skip("this kernel has no ipip module (CONFIG_NET_IPIP): the routed fallback was checked instead")
        assert lab.topology.overlay == "ipip" and any("tunl0" in n for n in lab.notes)
        for node in ("minikube", "minikube-m02"):
            link = _link(lab, node, "tunl0")
            assert link["mtu"] == 1480 and "UP" in link["flags"]
        pods = sorted((p for p in cluster.pods.values() if p.ip and p.namespace == "default"),
                      key=lambda p: p.node_name)
        src, dst = pods[0], pods[-1]
        assert src.node_name != dst.node_name
        verdict = lab.compare(src.key, dst.ip, 80, tries=3)
        assert verdict.agrees, verdict
