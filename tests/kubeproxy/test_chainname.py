from kplab.kubeproxy.address import canonical_cidr, canonical_ip
from kplab.kubeproxy.chainname import sep_chain, service_port_name, svc_chain


def test_reference_hashes():
    assert svc_chain("default/webapp", "TCP") == "KUBE-SVC-2IRACUALRELARSND"
    assert sep_chain("default/webapp", "tcp", "10.244.120.102:80") == "KUBE-SEP-AO6KYGU752IZFEZ4"
    assert sep_chain("default/webapp", "tcp", "10.244.120.103:80") == "KUBE-SEP-PJFBSHHDX4VZAOXM"
    assert svc_chain("ns1/svc1:p80", "tcp") == "KUBE-SVC-XPGD46QRK7WJZT7O"
    assert sep_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80") == "KUBE-SEP-SXIVWICOYRO3J4NJ"


def test_names_and_spellings():
    assert service_port_name("ns1", "svc1", "") == "ns1/svc1"
    assert canonical_ip("172.30.0.041") == "172.30.0.41"
    assert canonical_cidr(" 203.0.113.000/025") == "203.0.113.0/25"
