from kplab.walk.route import Nexthop, RouteEntry, RoutingTable


def test_longest_prefix_wins_and_local_table_first():
    t = RoutingTable()
    t.add(RouteEntry("default", via="192.168.1.1", dev="eth0"))
    t.add(RouteEntry("10.244.0.0/16", via="192.168.1.12", dev="eth0"))
    t.add(RouteEntry("10.244.1.0/24", dev="cni0", scope="link"))
    t.local["10.244.1.1"] = "cni0"
    assert t.lookup("10.244.1.7").dev == "cni0"
    assert t.lookup("10.244.2.7").via == "192.168.1.12"
    assert t.lookup("8.8.8.8").via == "192.168.1.1"
    assert t.lookup("10.244.1.1").kind == "local"


def test_no_default_route_means_no_route():
    t = RoutingTable([RouteEntry("10.0.0.0/8", dev="eth0")])
    assert t.lookup("8.8.8.8") is None


def test_printed_like_ip_route():
    t = RoutingTable()
    t.add(RouteEntry("default", via="192.168.1.1", dev="eth0"))
    t.add(RouteEntry("10.244.1.5/32", dev="cali12345678901", scope="link"))
    t.add(RouteEntry("10.244.3.0/24", via="10.244.3.0", dev="flannel.1", onlink=True))
    t.add(RouteEntry("10.244.1.0/24", kind="blackhole", proto="bird"))
    t.add(RouteEntry("203.0.113.100/32", nexthops=(Nexthop("192.168.1.11", "eth0"), Nexthop("192.168.1.12", "eth0"))))
    assert str(t).splitlines() == [
        "default via 192.168.1.1 dev eth0",
        "10.244.1.5 dev cali12345678901 scope link",
        "10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink",
        "blackhole 10.244.1.0/24 proto bird",
        "203.0.113.100",
        "\tnexthop via 192.168.1.11 dev eth0 weight 1",
        "\tnexthop via 192.168.1.12 dev eth0 weight 1",
    ]
