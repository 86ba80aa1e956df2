"""`kplab trace-rules` with what a real node holds: its routes and addresses (F1), any standard extension (F2),
loopback sources (F7), pasted forms (F11), restore payloads without their jumps (F12)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kplab.cli import main

FIELD = Path(__file__).resolve().parents[2] / ".." / "shared" / "field"

ADDRS = """1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 192.0.2.31/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever
3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever preferred_lft forever
4: cni0    inet 10.244.0.1/24 brd 10.244.0.255 scope global cni0\\       valid_lft forever preferred_lft forever
"""
ROUTES = """default via 192.0.2.1 dev eth0 proto dhcp src 192.0.2.31 metric 100
10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1
10.244.1.0/24 via 192.0.2.32 dev eth0 onlink
172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1
192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.31
"""
DOCKER = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 10.244.0.0/16 -o cni0 -j ACCEPT
-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -o cni0 -j ACCEPT
-A FORWARD -i cni0 -o eth0 -j ACCEPT
COMMIT
"""


@pytest.fixture
def node(tmp_path):
    (tmp_path / "rules").write_text(DOCKER)
    (tmp_path / "addrs").write_text(ADDRS)
    (tmp_path / "routes").write_text(ROUTES)
    return tmp_path


def trace(capsys, *argv) -> dict:
    assert main(["trace-rules", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_field_f1_docker0_to_docker0_is_accepted_by_rule_1(capsys):
    path = FIELD / "F1-routing-out-iface.rules"
    if not path.is_file():
        pytest.skip(f"field data not found at {FIELD}")
    data = trace(capsys, path, "--src", "172.17.0.2", "--dst", "172.17.0.3", "--dport", 80, "--in-iface", "docker0",
                 "--addrs", FIELD / "F1-routing-out-iface.addrs")
    assert (data["verdict"], data["out_iface"]) == ("ACCEPT", "docker0")
    assert {k: data["decided_by"][k] for k in ("table", "chain", "rule")} == {"table": "filter", "chain": "FORWARD",
                                                                            "rule": 1}


@pytest.mark.parametrize("src, dst, out_iface, rule, snat", [
    ("172.17.0.2", "8.8.8.8", "eth0", 2, "192.0.2.31:40000"),        # container to the world: masqueraded
    ("10.244.0.5", "10.244.1.7", "eth0", 4, None),                   # pod to a pod on the other node: no SNAT
    ("192.0.2.77", "10.244.0.9", "cni0", 3, None),                   # into a local pod from the LAN
    ("10.244.0.5", "203.0.113.1", "eth0", 4, "192.0.2.31:40000"),     # pod to the world
])
def test_routes_pick_the_out_interface_rule_and_snat_source(capsys, node, src, dst, out_iface, rule, snat):
    data = trace(capsys, node / "rules", "--src", src, "--dst", dst, "--dport", 443, "--addrs", node / "addrs",
                 "--routes", node / "routes")
    assert (data["verdict"], data["out_iface"], data["decided_by"]["rule"], data["snat"]) == \
        ("ACCEPT", out_iface, rule, snat)
    assert data["route_assumption"] is None


def test_in_interface_defaults_to_the_route_back_to_the_source(capsys, node):
    data = trace(capsys, node / "rules", "--src", "172.17.0.2", "--dst", "8.8.8.8", "--dport", 443,
                 "--addrs", node / "addrs", "--routes", node / "routes")
    assert data["in_iface"] == "docker0"


def test_one_off_route_and_address_flags(capsys, node):
    data = trace(capsys, node / "rules", "--src", "172.17.0.2", "--dst", "172.17.0.3", "--dport", 80,
                 "--addr", "docker0 172.17.0.1/16", "--addr", "eth0 192.0.2.31/24",
                 "--route", "default via 192.0.2.1 dev eth0")
    assert (data["verdict"], data["out_iface"], data["decided_by"]["rule"]) == ("ACCEPT", "docker0", 1)


def test_without_routes_the_assumption_is_stated(capsys, node):
    data = trace(capsys, node / "rules", "--src", "172.17.0.2", "--dst", "172.17.0.3", "--dport", 80,
                 "--local-ip", "192.0.2.31")
    assert data["out_iface"] == "eth0" and "assumed" in data["route_assumption"]
    assert main(["trace-rules", str(node / "rules"), "--src", "172.17.0.2", "--dst", "172.17.0.3", "--dport", "80",
                 "--local-ip", "192.0.2.31"]) == 0
    assert "assumption: " in capsys.readouterr().out


def test_without_addresses_the_in_interface_assumption_is_stated(capsys, node):
    """README example 4: a local pod's packet without --addrs is taken to arrive on eth0; the report says so."""
    data = trace(capsys, node / "rules", "--src", "10.244.0.5", "--dst", "10.96.0.10", "--dport", 53)
    assert data["in_iface"] == "eth0" and "--in-iface" in data["in_iface_assumption"]
    assert main(["trace-rules", str(node / "rules"), "--src", "10.244.0.5", "--dst", "10.96.0.10", "--dport", "53"]) == 0
    assert "in interface: eth0   (assumption: " in capsys.readouterr().out
    for given in (["--in-iface", "cni0"], ["--addrs", node / "addrs", "--routes", node / "routes"]):
        data = trace(capsys, node / "rules", "--src", "10.244.0.5", "--dst", "10.96.0.10", "--dport", 53, *given)
        assert data["in_iface"] == "cni0" and "in_iface_assumption" not in data


def test_blackhole_route_drops_at_the_routing_decision(capsys, node):
    data = trace(capsys, node / "rules", "--src", "172.17.0.2", "--dst", "10.99.0.1", "--dport", 80,
                 "--addrs", node / "addrs", "--route", "blackhole 10.99.0.0/16")
    assert data["verdict"] == "DROP" and data["decided_by"]["text"].startswith("routing: ")


def test_bad_routes_file_names_line(capsys, node):
    (node / "bad").write_text("default via 192.0.2.1 dev eth0\nChain INPUT (policy ACCEPT)\n")
    assert main(["trace-rules", str(node / "rules"), "--src", "1.1.1.1", "--dst", "2.2.2.2", "--dport", "1",
                 "--addrs", str(node / "addrs"), "--routes", str(node / "bad")]) == 1
    assert "bad:2:" in capsys.readouterr().err


# ---- F2: extensions

@pytest.mark.parametrize("name", ["F2-unknown-match-limit.rules", "F2b-unknown-target-checksum.rules"])
def test_field_f2_extensions_are_read(capsys, name):
    if not (FIELD / name).is_file():
        pytest.skip(f"field data not found at {FIELD}")
    data = trace(capsys, FIELD / name, "--src", "203.0.113.7", "--dst", "192.0.2.11", "--dport", 80,
                 "--local-ip", "192.0.2.11")
    assert data["verdict"] == "ACCEPT"


def test_state_dependent_verdict_names_the_rule(capsys, tmp_path):
    (tmp_path / "r").write_text("*filter\n:INPUT DROP [0:0]\n:ufw-user-input - [0:0]\n"
                                "-A INPUT -j ufw-user-input\n"
                                "-A ufw-user-input -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW "
                                "-m recent --set --name DEFAULT --mask 255.255.255.255 --rsource\n"
                                "-A ufw-user-input -p tcp -m tcp --dport 22 -m limit --limit 6/min -j ACCEPT\n"
                                "COMMIT\n")
    data = trace(capsys, tmp_path / "r", "--src", "203.0.113.7", "--dst", "192.0.2.11", "--dport", 22,
                 "--local-ip", "192.0.2.11")
    assert sorted(o["verdict"] for o in data["outcomes"]) == ["ACCEPT", "DROP"]
    (dep,) = data["depends_on"]
    assert (dep["chain"], dep["rule"]) == ("ufw-user-input", 2) and "limit" in dep["depends_on"]


# ---- F7/F8: loopback sources

def test_field_f7_loopback_source_connection_fails(capsys):
    path = FIELD / "F7-loopback-source-leaves-node.rules"
    if not path.is_file():
        pytest.skip(f"field data not found at {FIELD}")
    for localnet in ("0", "1"):
        data = trace(capsys, path, "--src", "127.0.0.1", "--dst", "127.0.0.1", "--dport", 32516,
                     "--local-ip", "192.0.2.51", "--route-localnet", localnet)
        assert data["connection"] == "fails"
        assert data["verdict"] == ("DROP" if localnet == "0" else "ACCEPT")


LOCALHOST_NODEPORT = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-MARK-MASQ - [0:0]
-A OUTPUT -d 127.0.0.1/32 -p tcp -m tcp --dport 30080 -j KUBE-MARK-MASQ
-A OUTPUT -d 127.0.0.1/32 -p tcp -m tcp --dport 30080 -j DNAT --to-destination 10.244.1.5:80
-A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
-A INPUT -j KUBE-FIREWALL
-A KUBE-FIREWALL -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
COMMIT
"""


def test_localhost_nodeport_masqueraded_with_route_localnet_from_the_dump(capsys, tmp_path):
    # kube-proxy's anti-martian rule comes with route_localnet=1; masquerading then gives a source that works
    (tmp_path / "r").write_text(LOCALHOST_NODEPORT)
    data = trace(capsys, tmp_path / "r", "--src", "127.0.0.1", "--dst", "127.0.0.1", "--dport", 30080,
                 "--local-ip", "192.0.2.51")
    assert (data["verdict"], data["snat"], data["connection"]) == ("ACCEPT", "192.0.2.51:40000", None)
    data = trace(capsys, tmp_path / "r", "--src", "127.0.0.1", "--dst", "127.0.0.1", "--dport", 30080,
                 "--local-ip", "192.0.2.51", "--route-localnet", "0")
    assert (data["verdict"], data["connection"]) == ("DROP", "fails")


def test_packet_from_an_own_address_arriving_from_outside_is_a_martian(capsys, tmp_path):
    (tmp_path / "r").write_text("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n")
    data = trace(capsys, tmp_path / "r", "--src", "192.0.2.51", "--dst", "192.0.2.51", "--dport", 30080,
                 "--local-ip", "192.0.2.51")
    assert data["path"] == "output"  # a source the node owns, no --in-iface: the node's own packet
    # ... handed back to it by a load balancer: arrives on eth0 with its own address as source
    data = trace(capsys, tmp_path / "r", "--src", "192.0.2.51", "--dst", "192.0.2.51", "--dport", 30080,
                 "--local-ip", "192.0.2.51", "--in-iface", "eth0")
    assert data["verdict"] == "DROP" and "martian" in data["decided_by"]["text"]
    data = trace(capsys, tmp_path / "r", "--src", "127.0.0.5", "--dst", "192.0.2.51", "--dport", 80,
                 "--local-ip", "192.0.2.51", "--in-iface", "eth0", "--route-localnet", "0")
    assert data["verdict"] == "DROP" and "martian" in data["decided_by"]["text"]


# ---- F11/F12: pasted forms, restore payloads

@pytest.mark.parametrize("name, words", [("paste/02-iptables-L-n-v.txt", "iptables -L"),
                                         ("paste/01-grep-fragment.rules", "fragment")])
def test_field_wrong_forms_are_refused_saying_what_to_run(capsys, name, words):
    if not (FIELD / name).is_file():
        pytest.skip(f"field data not found at {FIELD}")
    assert main(["trace-rules", str(FIELD / name), "--src", "1.1.1.1", "--dst", "192.0.2.11", "--dport", "1"]) == 1
    err = capsys.readouterr().err
    assert words in err and "iptables-save" in err


@pytest.mark.parametrize("text, words", [
    ("Chain KUBE-SERVICES (2 references)\n target prot opt source destination\n", "iptables -L"),
    ("-I FORWARD -j ACCEPT\n", "fragment"),
])
def test_my_wrong_forms_are_refused(capsys, tmp_path, text, words):
    (tmp_path / "r").write_text(text)
    assert main(["trace-rules", str(tmp_path / "r"), "--src", "1.1.1.1", "--dst", "2.2.2.2", "--dport", "1"]) == 1
    assert words in capsys.readouterr().err


@pytest.mark.parametrize("name", ["paste/01-nft-warning.rules", "paste/01-nft-incompatible-table.rules"])
def test_field_nft_warnings_are_reported(capsys, name):
    if not (FIELD / name).is_file():
        pytest.skip(f"field data not found at {FIELD}")
    data = trace(capsys, FIELD / name, "--src", "203.0.113.7", "--dst", "192.0.2.11", "--dport", 32204,
                 "--local-ip", "192.0.2.11")
    assert data["verdict"] == "DROP"
    assert any("iptables-legacy" in w for w in data["warnings"])


def test_restore_payload_without_jumps_is_flagged(capsys, tmp_path):
    data_dir = Path(__file__).resolve().parents[2] / "data" / "article"
    assert main(["rules", str(data_dir), "--node", "minikube", "--form", "restore"]) == 0
    (tmp_path / "restore").write_text(capsys.readouterr().out)
    data = trace(capsys, tmp_path / "restore", "--src", "10.244.120.101", "--dst", "10.96.0.10", "--dport", 53,
                 "--protocol", "udp", "--local-ip", "192.168.49.2")
    assert any("restore payload" in w for w in data["warnings"])
    assert main(["rules", str(data_dir), "--node", "minikube"]) == 0  # default form: save, which walks
    (tmp_path / "save").write_text(capsys.readouterr().out)
    data = trace(capsys, tmp_path / "save", "--src", "10.244.120.101", "--dst", "10.96.0.10", "--dport", 53,
                 "--protocol", "udp", "--local-ip", "192.168.49.2")
    assert data["warnings"] == [] and data["endpoints"]


def test_options_have_help(capsys):
    with pytest.raises(SystemExit):
        main(["trace-rules", "--help"])
    out = capsys.readouterr().out
    for option in ("--addrs", "--routes", "--route-localnet", "--local-ip", "--in-iface", "--dport"):
        line = next(l for l in out.splitlines() if l.strip().startswith(option))
        assert len(line.split(option, 1)[1].strip()) > 0 or option in out


CALICO_ADDRS = """1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 192.0.2.31/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever
"""
# Calico's routes: a /32 to each local pod by its host-side veth, the node's block blackholed, other blocks over IPIP
CALICO_ROUTES = """default via 192.0.2.1 dev eth0 proto dhcp src 192.0.2.31 metric 100
blackhole 10.244.120.64/26 proto bird
10.244.120.65 dev cali7d7b5b24b24 scope link
10.244.151.0/26 via 192.0.2.32 dev tunl0 proto bird onlink
192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.31
"""
# FORWARD lets pods' traffic out only when it comes in by a cali* interface (Calico's cali-FORWARD does the same)
CALICO_FORWARD = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -i cali+ -j ACCEPT
COMMIT
"""


def test_a_local_pods_packet_arrives_by_its_host_side_interface(capsys, tmp_path):
    (tmp_path / "rules").write_text(CALICO_FORWARD)
    (tmp_path / "addrs").write_text(CALICO_ADDRS)
    (tmp_path / "routes").write_text(CALICO_ROUTES)
    routed = trace(capsys, tmp_path / "rules", "--src", "10.244.120.65", "--dst", "203.0.113.9", "--dport", 443,
                   "--addrs", tmp_path / "addrs", "--routes", tmp_path / "routes")
    assert (routed["in_iface"], routed["verdict"]) == ("cali7d7b5b24b24", "ACCEPT")
    assert "in_iface_assumption" not in routed
    assert routed["decided_by"]["text"] == "-A FORWARD -i cali+ -j ACCEPT"
    # a pod on another node comes in by the tunnel: FORWARD's -i cali+ does not match it
    remote = trace(capsys, tmp_path / "rules", "--src", "10.244.151.7", "--dst", "203.0.113.9", "--dport", 443,
                   "--addrs", tmp_path / "addrs", "--routes", tmp_path / "routes")
    assert (remote["in_iface"], remote["verdict"]) == ("tunl0", "DROP")


def test_without_routes_the_in_interface_is_an_assumption_said_so(capsys, tmp_path):
    (tmp_path / "rules").write_text(CALICO_FORWARD)
    data = trace(capsys, tmp_path / "rules", "--src", "10.244.120.65", "--dst", "203.0.113.9", "--dport", 443,
                 "--local-ip", "192.0.2.31")
    assert data["in_iface"] == "eth0" and "assumed the packet arrives on eth0" in data["in_iface_assumption"]
    given = trace(capsys, tmp_path / "rules", "--src", "10.244.120.65", "--dst", "203.0.113.9", "--dport", 443,
                  "--local-ip", "192.0.2.31", "--in-iface", "cali7d7b5b24b24")
    assert (given["in_iface"], given["verdict"]) == ("cali7d7b5b24b24", "ACCEPT") and "in_iface_assumption" not in given
    assert main(["trace-rules", str(tmp_path / "rules"), "--src", "10.244.120.65", "--dst", "203.0.113.9",
                 "--dport", "443"]) == 0
    assert "in interface: eth0   (assumption: no --in-iface, --routes or --addrs given" in capsys.readouterr().out
