"""Service validation and allocation errors, word for word as the API server says them."""
from __future__ import annotations

import pytest

from kplab.errors import KplabError
from kplab.k8s import load_cluster


def svc(name: str, spec: str) -> str:
    return f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {spec}\n"


CASES = [
    ("nodeport-range", svc("frontend", "{type: NodePort, ports: [{port: 80, nodePort: 99999}]}"),
     'Service "frontend" is invalid: spec.ports[0].nodePort: Invalid value: 99999: provided port is not in the '
     "valid range. The range of valid ports is 30000-32767"),
    ("nodeport-taken", svc("a", "{type: NodePort, ports: [{port: 80, nodePort: 31380}]}") + "---\n"
     + svc("frontend", "{type: NodePort, ports: [{port: 80, nodePort: 31380}]}"),
     'Service "frontend" is invalid: spec.ports[0].nodePort: Invalid value: 31380: provided port is already '
     "allocated"),
    ("clusterip-range", svc("frontend", "{clusterIP: 10.0.0.5, ports: [{port: 80}]}"),
     'Service "frontend" is invalid: spec.clusterIPs: Invalid value: []string{"10.0.0.5"}: failed to allocate IP '
     "10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/12"),
    ("clusterip-taken", svc("frontend", "{clusterIP: 10.96.0.10, ports: [{port: 80}]}"),
     'Service "frontend" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: failed to allocate '
     "IP 10.96.0.10: provided IP is already allocated"),
    ("clusterip-network-address", svc("frontend", "{clusterIP: 10.96.0.0, ports: [{port: 80}]}"),
     "the provided IP (10.96.0.0) is not in the valid range"),
    ("clusterip-garbage", svc("frontend", "{clusterIP: ten, ports: [{port: 80}]}"),
     'Service "frontend" is invalid: spec.clusterIPs[0]: Invalid value: "ten": must be a valid IP address, '
     "(e.g. 10.9.8.7 or 2001:db8::ffff)"),
    ("no-ports", svc("frontend", "{selector: {app: x}}"),
     'Service "frontend" is invalid: spec.ports: Required value'),
    ("port-name-required", svc("frontend", "{ports: [{port: 80}, {port: 443}]}"),
     'Service "frontend" is invalid: [spec.ports[0].name: Required value, spec.ports[1].name: Required value]'),
    ("port-name-duplicate", svc("frontend", "{ports: [{name: a, port: 80}, {name: a, port: 443}]}"),
     'spec.ports[1].name: Duplicate value: "a"'),
    ("port-range", svc("frontend", "{ports: [{port: 70000}]}"),
     "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"),
    ("protocol", svc("frontend", "{ports: [{port: 80, protocol: ICMP}]}"),
     'spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'),
    ("port-duplicate", svc("frontend", "{ports: [{name: a, port: 80}, {name: b, port: 80}]}"),
     'spec.ports[1]: Duplicate value: core.ServicePort{Name:"b", Protocol:"TCP", AppProtocol:(*string)(nil), '
     'Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:80, StrVal:""}, NodePort:0}'),
    ("target-port-name", svc("frontend", "{ports: [{port: 80, targetPort: web_http}]}"),
     'spec.ports[0].targetPort: Invalid value: "web_http": must contain only alpha-numeric characters (a-z, 0-9), '
     "and hyphens (-)"),
    ("nodeport-on-clusterip", svc("frontend", "{ports: [{port: 80, nodePort: 30080}]}"),
     "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"),
    ("type", svc("frontend", "{type: Magic, ports: [{port: 80}]}"),
     'spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
     '"NodePort"'),
    ("externalname-required", svc("frontend", "{type: ExternalName}"),
     'Service "frontend" is invalid: spec.externalName: Required value'),
    ("headless-nodeport", svc("frontend", "{type: NodePort, clusterIP: None, ports: [{port: 80}]}"),
     "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"),
    ("etp-on-clusterip", svc("frontend", "{externalTrafficPolicy: Local, ports: [{port: 80}]}"),
     'spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services'),
    ("etp-value", svc("frontend", "{type: NodePort, externalTrafficPolicy: Nearby, ports: [{port: 80}]}"),
     'spec.externalTrafficPolicy: Unsupported value: "Nearby": supported values: "Cluster", "Local"'),
    ("affinity-timeout", svc("frontend", "{sessionAffinity: ClientIP, sessionAffinityConfig: "
                                         "{clientIP: {timeoutSeconds: 0}}, ports: [{port: 80}]}"),
     "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than "
     "86400"),
    ("lb-ranges-forbidden", svc("frontend", "{loadBalancerSourceRanges: [10.0.0.0/8], ports: [{port: 80}]}"),
     "spec.loadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'"),
    ("hcnp", svc("frontend", "{type: NodePort, healthCheckNodePort: 30001, ports: [{port: 80}]}"),
     "spec.healthCheckNodePort: Invalid value: 30001: may only be set when `type` is 'LoadBalancer' and "
     "`externalTrafficPolicy` is 'Local'"),
    ("name", svc("Frontend", "{ports: [{port: 80}]}"),
     'Service "Frontend" is invalid: metadata.name: Invalid value: "Frontend": a DNS-1035 label must consist'),
    ("duplicate", svc("frontend", "{ports: [{port: 80}]}") + "---\n" + svc("frontend", "{ports: [{port: 81}]}"),
     'services "frontend" already exists'),
]


@pytest.mark.parametrize("text,message", [(t, m) for _, t, m in CASES], ids=[c[0] for c in CASES])
def test_invalid_service_message(write, text, message):
    path = write("svc.yaml", text)
    with pytest.raises(KplabError) as e:
        load_cluster(path)
    assert message in str(e.value)
    assert str(e.value).startswith(f"{path}:")  # names the file and line too


def test_error_names_the_line_of_the_object(write):
    path = write("svc.yaml", svc("ok", "{ports: [{port: 80}]}") + "---\n"
                 + svc("frontend", "{type: NodePort, ports: [{port: 80, nodePort: 99999}]}"))
    with pytest.raises(KplabError, match=r"svc.yaml:6: Service \"frontend\""):
        load_cluster(path)


def test_same_node_port_for_tcp_and_udp_of_one_service_is_fine(write):
    c = load_cluster(write("svc.yaml", svc("dns", "{type: NodePort, ports: [{name: u, port: 53, protocol: UDP, "
                                                  "nodePort: 30053}, {name: t, port: 53, nodePort: 30053}]}")))
    assert [p.node_port for p in c.service("dns").ports] == [30053, 30053]


def test_same_name_in_two_namespaces_is_fine(write):
    c = load_cluster(write("svc.yaml", svc("a", "{ports: [{port: 80}]}") + "---\n"
                           + "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: other}\nspec: {ports: [{port: 80}]}\n"))
    assert c.service("default/a").cluster_ip != c.service("other/a").cluster_ip
