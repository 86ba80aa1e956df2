"""Every path of the article, walked through the real engine and kube-proxy's rules.

Each test checks the hop sequence, each NAT change (host, field, before -> after) and the
source address the destination sees.
"""
from fractions import Fraction

import pytest

pytest.importorskip("kplab.netfilter", reason="no engine").__dict__.get("Stack") or pytest.skip("the netfilter engine (Stack) has not landed", allow_module_level=True)
pytest.importorskip("kplab.kubeproxy", reason="no kube-proxy").__dict__.get("node_ruleset_text") or pytest.skip("kube-proxy's node_ruleset_text has not landed", allow_module_level=True)

from kplab.walk import Connection, branches, network, trace  # noqa: E402

CLIENT, WEB_A, WEB_B = "default/client", "default/web-a", "default/web-b"
OUTSIDE = "203.0.113.7"


def nat(t):
    """(host, field, before, after) for every rewrite along the way."""
    return [(host, f, old, new) for host, step in t.nat_changes() for f, old, new in step.diff.changes
            if f != "mark"]


def by_destination(t):
    return {o.delivered_to: o for o in t.outcomes()}


def test_pod_to_pod_same_node(cluster):
    t = trace(cluster, CLIENT, WEB_A, port=8080)
    assert t.verdict == "ACCEPT"
    assert list(t.host_names) == [CLIENT, "node-1", WEB_A]
    assert nat(t) == []
    assert t.source_seen == "10.244.1.5:43210"


def test_pod_to_pod_across_nodes_routed(cluster):
    t = trace(cluster, CLIENT, WEB_B, port=8080)
    assert list(t.host_names) == [CLIENT, "node-1", "node-2", WEB_B]
    assert nat(t) == [] and t.source_seen == "10.244.1.5:43210"
    route = [s for s in t.hops[1].steps if s.kind == "route"][0]
    assert route.text.startswith("10.244.2.0/24 via 192.168.1.12 dev eth0")


@pytest.mark.parametrize("overlay,kind", [("vxlan", "vxlan"), ("ipip", "ipip")])
def test_pod_to_pod_across_nodes_overlay(cluster, overlay, kind):
    t = trace(cluster, CLIENT, WEB_B, port=8080, overlay=overlay)
    assert list(t.host_names) == [CLIENT, "node-1", "node-2", WEB_B]
    enc = [(h.host, s.action, s.text) for h, s in t.steps("encapsulation")]
    assert [e[:2] for e in enc] == [("node-1", "encapsulate"), ("node-2", "decapsulate")]
    assert enc[0][2].startswith(f"{kind} 192.168.1.11 -> 192.168.1.12")
    assert t.source_seen == "10.244.1.5:43210"


def test_pod_to_outside_masquerade_and_reply(cluster):
    t = trace(cluster, CLIENT, "8.8.8.8", port=443, reply=True)
    assert list(t.host_names) == [CLIENT, "node-1", "router", "8.8.8.8"]
    assert nat(t) == [("node-1", "src", "10.244.1.5", "192.168.1.11")]
    assert t.source_seen.startswith("192.168.1.11:")
    r = t.reply
    assert r.verdict == "ACCEPT" and list(r.host_names) == ["8.8.8.8", "router", "node-1", CLIENT]
    assert ("node-1", "dst", "192.168.1.11", "10.244.1.5") in nat(r)
    assert r.source_seen == "8.8.8.8:443"


@pytest.mark.parametrize("src", [CLIENT, "node-1"])
def test_cluster_ip_on_a_port_the_service_does_not_expose_is_lost(cluster, src):
    """No Service rule matches port 81, so nothing DNATs: the ClusterIP is owned by nobody and the SYN leaves by
    the default route to the router, where it is lost (no made-up host answers)."""
    t = trace(cluster, src, "10.96.0.10", port=81)
    assert t.verdict == "DROP" and t.delivered_to is None and t.source_seen is None
    assert t.host_names[-1] == "router" and "10.96.0.10" not in network(cluster).topology.hosts
    assert [c for c in nat(t) if c[1] == "dst"] == []
    last = t.hops[-1].steps[-1]
    assert (last.kind, last.action) == ("drop", "DROP") and t.hops[-1].out_iface == "wan"
    assert t.reason == "no host owns 10.96.0.10; the packet leaves by the default route and is lost: " \
                       "the client times out"
    data = t.to_dict()
    assert (data["verdict"], data["delivered_to"]) == ("DROP", None)
    assert [o["verdict"] for o in data["outcomes"]] == ["DROP"]


def test_unowned_outside_address_after_dnat_is_lost_but_named_endpoints_answer(cluster):
    from kplab.k8s.endpointslice import Endpoint
    # a selectorless Service whose only endpoint is an outside address someone runs
    cluster.endpointslices["default/only-a-abc"].endpoints = [Endpoint(addresses=["203.0.113.40"], ready=True)]
    t = trace(cluster, CLIENT, "default/only-a")
    assert t.verdict == "ACCEPT" and t.delivered_to == "203.0.113.40"
    assert list(t.host_names) == [CLIENT, "node-1", "router", "203.0.113.40"]


def test_pod_to_cluster_ip_local_and_remote_endpoints(cluster):
    t = trace(cluster, CLIENT, "default/web", reply=True)
    outcomes = by_destination(t)
    assert set(outcomes) == {WEB_A, WEB_B}
    assert all(o.probability == Fraction(1, 2) for o in outcomes.values())
    assert list(outcomes[WEB_A].hosts) == [CLIENT, "node-1", WEB_A]
    assert list(outcomes[WEB_B].hosts) == [CLIENT, "node-1", "node-2", WEB_B]
    # DNAT on the client's node; the pod sees the client's own address
    assert all(o.source_seen == "10.244.1.5:43210" for o in outcomes.values())
    for _, b in branches(cluster, CLIENT, "default/web"):
        assert [c for c in nat(b) if c[1] == "dst"][0][:3] == ("node-1", "dst", "10.96.0.10")
    # the reply's source is rewritten back to the ClusterIP on the client's node
    assert t.reply.source_seen == "10.96.0.10:80"
    assert t.reply.host_names[-1] == CLIENT


def test_node_to_cluster_ip_output_path_masquerades(cluster):
    t = trace(cluster, "node-3", "default/web")
    for o in t.outcomes():
        assert o.hosts[0] == "node-3" and o.delivered_to in (WEB_A, WEB_B)
        assert o.source_seen.startswith("192.168.1.13:")
    for _, b in branches(cluster, "node-3", "default/web"):
        assert b.hops[0].path == "output"
        assert b.source_seen.startswith("192.168.1.13:")
        assert ("node-3", "dst", "10.96.0.10", b.packet_delivered.dst) in nat(b)


def test_nodeport_cluster_policy_snat_and_second_hop(cluster):
    t = trace(cluster, OUTSIDE, "node-3:30080", reply=True)
    outcomes = by_destination(t)
    assert set(outcomes) == {WEB_A, WEB_B}
    assert list(outcomes[WEB_A].hosts) == [OUTSIDE, "router", "node-3", "node-1", WEB_A]
    for o in outcomes.values():
        assert o.source_seen.startswith("192.168.1.13:")  # SNAT to node-3: the client address is lost
    for _, b in branches(cluster, OUTSIDE, "node-3:30080"):
        changes = nat(b)
        assert ("node-3", "src", OUTSIDE, "192.168.1.13") in changes
        assert ("node-3", "dport", 30080, 8080) in changes
    assert t.reply.verdict == "ACCEPT" and t.reply.source_seen == "192.168.1.13:30080"


def test_nodeport_local_policy_keeps_client_ip(cluster):
    t = trace(cluster, OUTSIDE, "node-1:30081")
    assert [o.delivered_to for o in t.outcomes()] == [WEB_A]
    assert list(t.host_names) == [OUTSIDE, "router", "node-1", WEB_A]
    assert t.source_seen == f"{OUTSIDE}:43210"
    assert [c[1] for c in nat(t)] == ["dst", "dport"]


def test_nodeport_local_policy_drops_without_local_endpoint(cluster):
    t = trace(cluster, OUTSIDE, "node-3:30081")
    assert t.verdict == "DROP" and t.host_names[-1] == "node-3"
    assert "has no local endpoints" in t.reason
    assert [o.verdict for o in t.outcomes()] == ["DROP"]


def test_load_balancer_local_only_healthy_nodes(cluster):
    t = trace(cluster, OUTSIDE, "203.0.113.100", port=80)
    outcomes = t.outcomes()
    assert sorted(o.delivered_to for o in outcomes) == [WEB_A, WEB_B]
    assert all("node-3" not in o.hosts for o in outcomes)
    assert sum(o.probability for o in outcomes) == 1
    for o in outcomes:
        assert list(o.hosts[:3]) == [OUTSIDE, "router", "load-balancer"]
        assert o.source_seen == f"{OUTSIDE}:43210"


def test_external_ip(cluster):
    t = trace(cluster, OUTSIDE, "198.51.100.50", port=80)
    assert {o.delivered_to for o in t.outcomes()} == {WEB_A, WEB_B}
    assert t.hops[2].host == "node-1"
    assert ("node-1", "dst", "198.51.100.50", t.packet_delivered.dst) in nat(t)


def test_hairpin_pod_to_its_own_service(cluster):
    t = trace(cluster, WEB_A, "default/only-a")
    assert list(t.host_names) == [WEB_A, "node-1", WEB_A]
    changes = nat(t)
    assert ("node-1", "dst", "10.96.0.21", "10.244.1.10") in changes
    assert ("node-1", "src", "10.244.1.10", "10.244.1.1") in changes  # hairpin masquerade to the bridge
    assert t.source_seen.startswith("10.244.1.1:")


def test_service_without_endpoints_rejects(cluster):
    t = trace(cluster, CLIENT, "default/empty")
    assert t.verdict == "REJECT" and list(t.host_names) == [CLIENT, "node-1"]
    assert t.delivered_to is None
    assert [o.verdict for o in t.outcomes()] == ["REJECT"]


def test_no_endpoints_port_unreachable_walks_back_to_the_client(cluster):
    t = trace(cluster, CLIENT, "default/empty")
    err = t.reply
    assert err is not None and list(err.host_names) == ["node-1", CLIENT]
    assert err.verdict == "ACCEPT" and err.delivered_to == CLIENT
    icmp = err.packet_delivered
    # From node-1's address facing the client (cni0), not the ClusterIP: no DNAT happened before the REJECT.
    assert (icmp.src, icmp.dst, icmp.protocol, icmp.icmp_type, icmp.icmp_code) == \
        ("10.244.1.1", "10.244.1.5", "icmp", "destination-unreachable", 3)
    assert (icmp.embedded.src, icmp.embedded.sport, icmp.embedded.dst, icmp.embedded.dport) == \
        ("10.244.1.5", 43210, "10.96.0.20", 80)
    states = [(h.host, s.action) for h, s in err.steps("conntrack")]
    assert states == [("node-1", "RELATED")]  # the pod's namespace has no rule that uses conntrack: none there
    assert "connection refused (ECONNREFUSED)" in err.hops[-1].steps[-1].text
    assert "connection refused" in t.reason
    data = t.to_dict()["reply"]["hops"][-1]["packet_in"]
    assert data["icmp_code"] == 3 and data["embedded"]["dst"] == "10.96.0.20"


def test_no_endpoints_with_calico_the_error_comes_from_the_node_address(cluster):
    # cali* devices carry no address, so the route back to the pod gives the node's own address as source.
    t = trace(cluster, CLIENT, "default/empty", cni="calico")
    assert t.reply.packet_delivered.src == "192.168.1.11" and t.reply.delivered_to == CLIENT


DNAT_THEN_REJECT = """*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.2.10:8080
COMMIT
*filter
:FORWARD ACCEPT [0:0]
-A FORWARD -d 10.244.2.10/32 -p tcp -m tcp --dport 8080 -j REJECT --reject-with {how}
COMMIT
"""


@pytest.mark.parametrize("how", ["icmp-port-unreachable", "tcp-reset"])
def test_error_of_a_dnat_connection_is_translated_back_to_the_service_address(cluster, how):
    t = trace(cluster, CLIENT, "default/empty", rules={"node-1": DNAT_THEN_REJECT.format(how=how)})
    assert t.verdict == "REJECT" and t.reply.delivered_to == CLIENT
    seen = t.reply.packet_delivered
    if how == "tcp-reset":
        assert (seen.src, seen.sport, seen.dst, seen.dport, seen.tcp_flags) == \
            ("10.96.0.20", 80, "10.244.1.5", 43210, "RST,ACK")
    else:  # outer source and the quoted packet both de-DNATed by node-1's conntrack
        assert (seen.src, seen.embedded.dst, seen.embedded.dport) == ("10.96.0.20", "10.96.0.20", 80)
        assert t.reply.packet.embedded.dst == "10.244.2.10"  # as REJECT quoted it
    assert ("node-1", "src", "10.244.2.10" if how == "tcp-reset" else "10.244.1.1", "10.96.0.20") in nat(t.reply)


def test_ip_forward_off_drops_forwarded_packets(cluster):
    t = trace(cluster, CLIENT, WEB_B, port=8080, ip_forward={"node-1": False})
    assert t.verdict == "DROP" and list(t.host_names) == [CLIENT, "node-1"]
    assert "ip_forward" in t.reason or "forward" in t.reason


def test_trace_is_deterministic_per_seed(cluster):
    seen = {trace(cluster, CLIENT, "default/web", seed=s).delivered_to for s in range(12)}
    assert seen == {WEB_A, WEB_B}
    assert trace(cluster, CLIENT, "default/web", seed=3).to_json() == trace(cluster, CLIENT, "default/web", seed=3).to_json()


def test_connection_conntrack_states_and_invalid(cluster):
    net = network(cluster)
    conn = Connection(net, CLIENT, "default/only-a")
    traces = conn.handshake()
    assert all(t.verdict == "ACCEPT" for t in traces)
    states = [[s.action for h, s in t.steps("conntrack") if h.host == "node-1"] for t in traces]
    assert any("NEW" in " ".join(map(str, st)) for st in states[:1])
    assert any("ESTABLISHED" in " ".join(map(str, st)) for st in states[1:])
    assert traces[1].source_seen == "10.96.0.21:80"  # SYN-ACK comes back from the ClusterIP
    assert "10.96.0.21" in conn.conntrack("node-1")


def test_stray_packet_is_invalid_and_dropped_by_kube_forward(cluster):
    conn = Connection(network(cluster), CLIENT, WEB_B, port=8080)
    assert conn.send("SYN").verdict == "ACCEPT"
    t = conn.stray("SYN,ACK")
    assert t.verdict == "DROP" and list(t.host_names) == [WEB_B, "node-2"]
    drop = [s for h, s in t.steps() if s.chain == "KUBE-FORWARD" and s.action == "DROP"]
    assert drop and "INVALID" in drop[0].text


DATA = __import__("pathlib").Path(__file__).resolve().parents[2] / "data"


def test_article_pod_to_cluster_ip_reply_from_cluster_ip():
    from kplab.k8s import load_cluster
    cluster = load_cluster(DATA / "article")
    svc = cluster.services["default/frontend"]
    client = sorted(k for k, p in cluster.pods.items() if p.node_name == "minikube" and p.ip
                    and not p.host_network and k.startswith("default/"))[0]
    t = trace(cluster, client, "default/frontend", reply=True)
    outcomes = t.outcomes()
    assert sorted(o.packet_delivered.dst for o in outcomes) == ["10.244.120.102", "10.244.120.103"]
    assert all(o.probability == Fraction(1, 2) for o in outcomes)
    for o in outcomes:
        assert list(o.hosts[:3]) == [client, "minikube", "minikube-m02"]
        assert o.source_seen == f"{cluster.pods[client].ip}:43210"
    assert t.reply.source_seen == f"{svc.cluster_ip}:80"


def test_dns_cluster_ip_name_resolves_to_the_vip_then_dnat(cluster):
    t = trace(cluster, CLIENT, "web", port=80)
    assert [s.text for s in t.dns] == ["web.default.svc.cluster.local. A 10.96.0.10"]
    assert t.packet.dst == "10.96.0.10"
    assert [c[:3] for c in nat(t) if c[1] == "dst"] == [("node-1", "dst", "10.96.0.10")]


def test_dns_headless_name_gives_pod_ips_and_no_nat(cluster):
    t = trace(cluster, CLIENT, "web-headless.default.svc.cluster.local", port=8080)
    assert t.dns[0].text == "web-headless.default.svc.cluster.local. A 10.244.1.10, 10.244.2.10"
    assert t.packet.dst == "10.244.1.10" and t.delivered_to == WEB_A
    assert nat(t) == [] and t.source_seen == "10.244.1.5:43210"
    assert [o.delivered_to for o in t.outcomes()] == [WEB_A]  # no load balancing by rules


def test_dns_external_name_is_a_cname(cluster):
    t = trace(cluster, CLIENT, "ext", port=5432)
    assert t.dns[0].action == "CNAME" and t.dns[0].text == "ext.default.svc.cluster.local. CNAME db.example.com."
    assert list(t.host_names[:3]) == [CLIENT, "node-1", "router"] and t.delivered_to == t.packet.dst
    assert ("node-1", "src", "10.244.1.5", "192.168.1.11") in nat(t)  # leaves the cluster like any outside name


def test_calico_policy_layer_drops_and_allows():
    from kplab.k8s import load_cluster
    if not getattr(__import__("kplab.cni", fromlist=["calico"]), "calico", None):
        pytest.skip("Calico rules have not landed")
    c = load_cluster(DATA / "clusters" / "two-node.yaml", DATA / "policy")
    frontend = sorted(k for k in c.pods if k.startswith("default/frontend"))[0]
    backend = sorted(k for k in c.pods if k.startswith("default/backend"))[0]
    denied = trace(c, frontend, "default/db", cni="calico")
    assert denied.verdict == "DROP" and "End of tier default" in denied.reason
    assert any(s.kind == "policy" and s.action == "DROP" for _, s in denied.steps())
    allowed = trace(c, backend, "default/db", cni="calico")
    assert allowed.verdict == "ACCEPT" and allowed.delivered_to.startswith("default/db")
    assert any(s.kind == "policy" for _, s in allowed.steps())


def test_editing_a_service_port_in_place_rebuilds_the_rules(cluster):
    assert trace(cluster, CLIENT, "default/web", port=80).verdict == "ACCEPT"
    before = network(cluster)
    svc = cluster.services["default/web"]
    svc.ports[0].port = 8081  # in place: same object counts, different rules
    assert network(cluster) is not before
    moved = trace(cluster, CLIENT, "default/web", port=8081)
    assert moved.verdict == "ACCEPT" and moved.delivered_to in (WEB_A, WEB_B)
    assert "--dport 8081" in network(cluster).ruleset_text("node-1")
    old = trace(cluster, CLIENT, "10.96.0.10", port=80)  # no DNAT for the old port any more
    assert old.delivered_to not in (WEB_A, WEB_B)
    assert not [c for c in nat(old) if c[1] in ("dst", "dport")]


def test_network_is_reused_while_the_cluster_is_unchanged(cluster):
    first = network(cluster)
    trace(cluster, CLIENT, "default/web")
    assert network(cluster) is first
    assert network(cluster, refresh=True) is not first


def test_nodeport_without_endpoints_error_crosses_the_router_as_related(cluster):
    svc = cluster.services["default/empty"]
    svc.type, svc.external_traffic_policy, svc.ports[0].node_port = "NodePort", "Cluster", 30090
    t = trace(cluster, OUTSIDE, "node-2:30090")
    assert t.verdict == "REJECT" and list(t.host_names) == [OUTSIDE, "router", "node-2"]
    err = t.reply
    assert list(err.host_names) == ["node-2", "router", OUTSIDE] and err.delivered_to == OUTSIDE
    # Rejected in INPUT (the packet was for node-2): the error comes from the address it was sent to.
    assert err.source_seen == "192.168.1.12"
    # only node-2 tracks connections: the router's and the outside host's rules (none) do not use conntrack
    assert [(h.host, s.action) for h, s in err.steps("conntrack")] == [("node-2", "RELATED")]


def test_connection_send_to_a_service_without_endpoints_gets_the_error(cluster):
    conn = Connection(network(cluster), CLIENT, "default/empty")
    t = conn.send("SYN")
    assert t.verdict == "REJECT" and t.reply.delivered_to == CLIENT
    assert "connection refused" in t.reply.hops[-1].steps[-1].text
    assert len(conn.session.stack("node-1").conntrack) == 0  # the rejected connection left nothing behind
    assert "0 flow entries" in conn.conntrack(CLIENT)  # a pod without rules has no conntrack table (as in Linux)


def test_load_balancer_without_healthy_nodes_drops_at_routing_and_answers_host_unreachable(cluster):
    """The LB's route is `unreachable`: ip_route_input fails before FORWARD and ip_error sends ICMP host
    unreachable back, which ends the client's connect() at once (tcp_v4_err in SYN_SENT)."""
    cluster.endpointslices["default/web-lb-abc"].endpoints = []
    t = trace(cluster, OUTSIDE, "203.0.113.100", port=80)
    assert t.verdict == "DROP" and list(t.host_names) == [OUTSIDE, "router", "load-balancer"]
    route = [s for s in t.hops[-1].steps if s.kind == "route"][-1]
    assert route.action == "DROP" and route.text.startswith("unreachable 203.0.113.100")
    assert "no route to host (EHOSTUNREACH)" in route.note and "before FORWARD" in route.note
    error = t.reply
    assert error.verdict == "ACCEPT" and list(error.host_names) == ["load-balancer", "router", OUTSIDE]
    assert (error.packet.icmp_type, error.packet.icmp_code) == ("destination-unreachable", 1)
    assert error.source_seen == network(cluster).topology.hosts["load-balancer"].address
    assert "connect() fails at once" in error.hops[-1].steps[-1].text


def test_blackhole_route_drops_before_forward_and_sends_nothing(cluster):
    """Calico's blackhole for the node's own pod block: an address no pod has is dropped at the routing
    decision, so kube-proxy's filter FORWARD chains never see it, and no error goes back."""
    t = trace(cluster, CLIENT, "10.244.1.99", port=80, cni="calico")
    assert t.verdict == "DROP" and list(t.host_names) == [CLIENT, "node-1"] and t.reply is None
    node = t.hops[-1]
    assert not any(s.chain == "FORWARD" or (s.chain or "").startswith("KUBE-FORWARD") for s in node.steps)
    assert not any(s.table == "nat" and s.chain == "POSTROUTING" for s in node.steps)
    route = [s for s in node.steps if s.kind == "route"][-1]
    assert route.action == "DROP" and route.text.startswith("blackhole 10.244.1.0/24")
    assert "sends no error" in t.reason


def test_udp_rejected_by_the_senders_own_rules_fails_send_with_eperm(cluster):
    # Found by the kernel lab: a node's datagram to a UDP Service without endpoints is REJECTed in the node's own
    # OUTPUT chain, and the application's send() fails with EPERM (nf_hook_slow's NF_DROP) — not ECONNREFUSED.
    from kplab.k8s.service import ServicePort
    empty = next(s for s in cluster.services.values() if s.name == "empty")
    empty.ports = [ServicePort(53, target_port=5353, protocol="UDP")]
    t = trace(cluster, "node-1", "10.96.0.20", port=53, protocol="udp")
    assert t.verdict == "REJECT" and t.host_names == ("node-1",)
    assert "send() fails at once with EPERM" in t.reason
    # from a pod the node rejects it in FORWARD: the pod's socket hears ICMP port unreachable instead
    t = trace(cluster, CLIENT, "10.96.0.20", port=53, protocol="udp")
    assert t.verdict == "REJECT" and "EPERM" not in t.reason and "connection refused" in t.reason
    # to its own NodePort (or 127.0.0.1:NODEPORT) the datagram leaves OUTPUT and comes back over lo, and the
    # REJECT is in INPUT (KUBE-EXTERNAL-SERVICES): send() succeeded, the ICMP port unreachable refuses it
    # (found by the kernel lab's differential suite)
    empty.type, empty.ports = "NodePort", [ServicePort(53, target_port=5353, protocol="UDP", node_port=30053)]
    for dst in ("127.0.0.1", network(cluster).topology.node_ips["node-1"]):
        t = trace(cluster, "node-1", dst, port=30053, protocol="udp")
        assert t.verdict == "REJECT" and t.host_names == ("node-1",)
        assert any(s.chain == "KUBE-EXTERNAL-SERVICES" and s.action == "REJECT" for s in t.hops[0].steps)
        assert "EPERM" not in t.reason and "connection refused" in t.reason, t.reason
    # TCP ignores the local drop and hears the REJECT's ICMP error: connection refused
    empty.ports = [ServicePort(53, target_port=5353, protocol="TCP")]
    t = trace(cluster, "node-1", "10.96.0.20", port=53)
    assert "EPERM" not in t.reason and "connection refused" in t.reason


def test_only_hosts_whose_rules_need_conntrack_track_the_connection(cluster):
    # Pods hold no rules, so the kernel registers no conntrack hooks there (nf_ct_netns_get, Linux >= 4.10): a
    # pod -> Service connection is tracked on the nodes only, in both directions, and `conntrack -L` in a pod is empty.
    net = network(cluster)
    conn = Connection(net, CLIENT, "default/web")
    syn, synack = conn.send("SYN"), conn.answer()
    for t in (syn, synack):
        kinds = {h.host: net.topology.hosts[h.host].kind for h in t.hops}
        tracked = {h.host for h, _ in t.steps("conntrack")}
        assert "pod" in kinds.values() and tracked, t.packet
        assert {kinds[h] for h in tracked} == {"node"}, (t.packet, tracked)
    assert [s.action for h, s in syn.steps("conntrack")][:1] == ["NEW"]
    assert {s.action for h, s in synack.steps("conntrack")} == {"ESTABLISHED"}
    assert "0 flow entries" in conn.conntrack(CLIENT) and "SYN_RECV" in conn.conntrack(syn.hops[1].host)
