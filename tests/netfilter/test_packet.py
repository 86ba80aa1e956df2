"""Packet helpers: address:port text as Go's net.JoinHostPort writes it (kube-proxy's endpoint strings use it)."""
from kplab.netfilter.packet import join_host_port


def test_join_host_port():
    assert join_host_port("10.244.120.102", 80) == "10.244.120.102:80"
    assert join_host_port("fd00::1", 80) == "[fd00::1]:80"
    assert join_host_port("10.0.0.1", None) == "10.0.0.1"
