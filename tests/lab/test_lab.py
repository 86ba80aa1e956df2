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
        for host in ("minikube", "router", "203.0.113.10", "default/webapp-d6989d74-7bqwt"):
            where = lab.namespace(host)
            topo = lab.topology.hosts[host]
            have = {(w[1], w[3]) for w in (line.split() for line in run(["ip", "-o", "-4", "addr"], namespace=where)
                                               .splitlines())}
            want = {(i.name, a) for i in topo.interfaces.values() for a in i.addresses} | {("lo", "127.0.0.1/8")}
            if host == "router":
                want.add(("wan", "169.254.0.1/32"))  # the outside clients' gateway (plumbing.WAN_GATEWAY)
            assert have == want, host
            routes = run(["ip", "route"], namespace=where)
            if topo.kind == "outside":  # everything to the router, as its on-link default route means
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
