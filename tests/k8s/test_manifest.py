"""Loading manifests: files, folders, multi-document YAML, kind: List, every kind, syntax errors, unknown kinds."""
from __future__ import annotations

from pathlib import Path

import pytest

from kplab.errors import KplabError
from kplab.k8s import load_cluster, read_manifests
from kplab.k8s.manifest import find_data_dir

DATA = Path(__file__).resolve().parents[2] / "data"

DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx, ports: [{containerPort: 8080, name: http}]}]
"""


def test_multi_document_file(write):
    path = write("a.yaml", DEPLOY + """
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
""")
    c = load_cluster(path)
    assert sorted(p.name.rsplit("-", 2)[0] for p in c.pods.values() if p.namespace == "default") == ["web", "web"]
    assert c.service("web").ports[0].target_port == "http"


def test_kind_list_as_kubectl_prints_it(write):
    path = write("list.yaml", """
apiVersion: v1
kind: List
metadata: {resourceVersion: ""}
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a, namespace: shop, labels: {app: a}}
  spec: {nodeName: minikube, containers: [{name: c, image: x}]}
  status: {podIP: 10.244.0.50, phase: Running, conditions: [{type: Ready, status: "True"}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: b, namespace: shop}
  spec: {containers: [{name: c, image: x}]}
  status: {phase: Running, conditions: [{type: Ready, status: "False"}]}
""")
    c = load_cluster(path)
    assert c.pod("shop/a").ip == "10.244.0.50"
    assert c.pod("shop/a").node_name == "minikube"
    assert c.pod("shop/b").ready is False
    assert "shop" in c.namespaces


def test_list_item_errors_name_the_item_line(write):
    path = write("list.yaml", """
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: ok}
  spec: {containers: [{name: c}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: Bad_Name}
  spec: {containers: [{name: c}]}
""")
    with pytest.raises(KplabError, match=r"list.yaml:8: Pod \"Bad_Name\" is invalid: metadata.name"):
        load_cluster(path)


def test_folder_reads_yaml_files_in_name_order(tmp_path):
    (tmp_path / "b.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: second}\n")
    (tmp_path / "a.yml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: first}\n")
    (tmp_path / "notes.txt").write_text("not a manifest: {{{")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: nested}\n")
    m = read_manifests(tmp_path)
    assert [n.name for n in m.namespaces] == ["first", "second"]


def test_json_file(write):
    path = write("svc.json", '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "j"},'
                             ' "spec": {"ports": [{"port": 53, "protocol": "UDP"}]}}')
    c = load_cluster(path)
    assert c.service("j").ports[0].protocol == "UDP"


def test_yaml_syntax_error_names_file_and_line(write):
    path = write("broken.yaml", """
apiVersion: v1
kind: Service
metadata:
  name: x
spec:
  ports: [{port: 80}
  selector: {app: x}
""")
    with pytest.raises(KplabError, match=r"broken.yaml:\d+: YAML syntax error") as e:
        load_cluster(path)
    line = int(str(e.value).split(":")[1])
    assert 5 <= line <= 7


def test_unknown_kinds_one_warning(write):
    path = write("mixed.yaml", """
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: c}
---
apiVersion: v1
kind: Namespace
metadata: {name: real}
""")
    c = load_cluster(path)
    skipped = [w for w in c.warnings if w.startswith("skipped")]
    assert skipped == ["skipped objects of kinds kplab does not model: ConfigMap (2), Ingress (1)"]
    assert "real" in c.namespaces


def test_missing_kind_and_missing_path(write, tmp_path):
    with pytest.raises(KplabError, match="kind not set"):
        load_cluster(write("nokind.yaml", "metadata: {name: x}\n"))
    with pytest.raises(KplabError, match='the path ".*nope" does not exist'):
        load_cluster(tmp_path / "nope")


def test_node_fields(write):
    c = load_cluster(write("nodes.yaml", """
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {zone: a}}
spec: {podCIDRs: [10.244.7.0/24]}
status:
  addresses: [{type: InternalIP, address: 10.0.0.11}, {type: ExternalIP, address: 203.0.113.5}]
  conditions: [{type: Ready, status: "False"}]
---
apiVersion: v1
kind: Node
metadata: {name: n2}
"""))
    n1, n2 = c.node("n1"), c.node("n2")
    assert (n1.pod_cidr, n1.internal_ip, n1.ready, n1.labels["zone"]) == ("10.244.7.0/24", "10.0.0.11", False, "a")
    assert n1.labels["kubernetes.io/hostname"] == "n1"
    # n2 had neither: the next free /24 of the pod subnet and the next address on the nodes' network
    assert n2.pod_cidr == "10.244.0.0/24"
    assert n2.internal_ip == "10.0.0.2"
    assert c.node_ip("n1") == "10.0.0.11"


def test_service_fields(write):
    c = load_cluster(write("svc.yaml", """
apiVersion: v1
kind: Service
metadata: {name: lb, labels: {tier: edge}}
spec:
  type: LoadBalancer
  selector: {app: web}
  externalTrafficPolicy: Local
  internalTrafficPolicy: Local
  externalIPs: [198.51.100.7]
  sessionAffinity: ClientIP
  loadBalancerSourceRanges: [203.0.113.0/24]
  ports:
  - {name: http, port: 80, targetPort: 8080, protocol: TCP}
  - {name: dns, port: 53, protocol: UDP}
status:
  loadBalancer:
    ingress: [{ip: 192.0.2.10, ipMode: Proxy}]
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: db.example.com}
---
apiVersion: v1
kind: Service
metadata: {name: hs}
spec: {clusterIP: None, selector: {app: web}, ports: [{port: 80}]}
"""))
    lb = c.service("lb")
    assert lb.external_traffic_policy == "Local" and lb.internal_traffic_policy == "Local"
    assert lb.session_affinity == "ClientIP" and lb.session_affinity_timeout == 10800
    assert lb.load_balancer_ingress[0].ip == "192.0.2.10" and lb.load_balancer_ingress[0].ip_mode == "Proxy"
    assert lb.load_balancer_source_ranges == ["203.0.113.0/24"] and lb.external_ips == ["198.51.100.7"]
    assert all(p.node_port for p in lb.ports) and lb.health_check_node_port
    assert lb.ports[1].target_port == 53  # defaulted to port, as the API server does
    assert c.service("ext").cluster_ip is None and c.service("ext").external_name == "db.example.com"
    assert c.service("hs").headless and c.service("hs").ports[0].node_port == 0


def test_endpointslice_and_legacy_endpoints(write):
    c = load_cluster(write("ext.yaml", """
apiVersion: v1
kind: Service
metadata: {name: legacy-db}
spec: {ports: [{name: pg, port: 5432}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: legacy-db}
subsets:
- addresses: [{ip: 192.0.2.20}]
  notReadyAddresses: [{ip: 192.0.2.21}]
  ports: [{name: pg, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec: {ports: [{port: 443, targetPort: 8443}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-1, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
ports: [{port: 8443, protocol: TCP, name: ""}]
endpoints:
- addresses: [192.0.2.30]
  conditions: {ready: true}
  nodeName: minikube
- addresses: [192.0.2.31]
  conditions: {ready: false, serving: true, terminating: true}
"""))
    api = c.slices_for(c.service("api"))
    assert [s.name for s in api] == ["api-1"]
    assert [(e.addresses[0], e.ready, e.serving, e.terminating) for e in api[0].endpoints] == [
        ("192.0.2.30", True, None, None), ("192.0.2.31", False, True, True)]
    legacy = c.slices_for(c.service("legacy-db"))
    assert len(legacy) == 1 and legacy[0].name.startswith("legacy-db-")
    assert [(e.addresses[0], e.ready) for e in legacy[0].endpoints] == [("192.0.2.20", True), ("192.0.2.21", False)]


def test_networkpolicy_kept_as_given(write):
    c = load_cluster(write("np.yaml", """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""))
    assert c.networkpolicies["shop/deny"].spec == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_cluster_and_proxy_configuration(write):
    c = load_cluster(write("kubeadm.yaml", """
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
networking: {podSubnet: 10.32.0.0/16, serviceSubnet: 10.100.0.0/16, dnsDomain: k8s.test}
apiServer:
  extraArgs:
  - {name: service-node-port-range, value: 20000-22767}
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ipvs
clusterCIDR: 10.32.0.0/16
iptables: {masqueradeBit: 15, masqueradeAll: true, localhostNodePorts: false}
nodePortAddresses: [192.168.49.0/24]
detectLocalMode: NodeCIDR
---
apiVersion: v1
kind: Node
metadata: {name: solo}
---
apiVersion: v1
kind: Service
metadata: {name: np}
spec: {type: NodePort, ports: [{port: 80}]}
"""))
    s, p = c.settings, c.proxy
    assert (s.pod_subnet, s.service_subnet, s.dns_domain, s.node_port_range) == (
        "10.32.0.0/16", "10.100.0.0/16", "k8s.test", (20000, 22767))
    assert (p.cluster_cidr, p.masquerade_bit, p.masquerade_all, p.localhost_node_ports, p.node_port_addresses,
            p.detect_local_mode, p.mode) == ("10.32.0.0/16", 15, True, False, ["192.168.49.0/24"], "NodeCIDR",
                                             "iptables")
    assert any("mode 'ipvs'" in w for w in c.warnings)
    assert c.node("solo").pod_cidr == "10.32.0.0/24"
    assert c.service("kubernetes").cluster_ip == "10.100.0.1"
    assert c.service("kube-system/kube-dns").cluster_ip == "10.100.0.10"
    assert 20000 <= c.service("np").ports[0].node_port <= 22767


def test_kubeadm_v1beta3_extra_args_map(write):
    c = load_cluster(write("kubeadm.yaml", """
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
apiServer: {extraArgs: {service-node-port-range: 40000-40100}}
"""))
    assert c.settings.node_port_range == (40000, 40100)


def test_defaults_without_nodes(write):
    c = load_cluster(write("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"))
    assert {n: (c.node_ip(n), c.nodes[n].pod_cidr) for n in c.nodes} == {
        "minikube": ("192.168.49.2", "10.244.0.0/24"), "minikube-m02": ("192.168.49.3", "10.244.1.0/24")}
    assert c.service("default/kubernetes").cluster_ip == "10.96.0.1"
    assert [e.addresses for s in c.slices_for(c.service("kubernetes")) for e in s.endpoints] == [["192.168.49.2"]]
    assert c.service("kube-system/kube-dns").cluster_ip == "10.96.0.10"
    coredns = [p for p in c.pods.values() if p.namespace == "kube-system"]
    assert len(coredns) == 1 and coredns[0].ip == "10.244.0.2"
    assert c.namespaces["x"].labels == {"kubernetes.io/metadata.name": "x"}


def test_user_kube_dns_replaces_the_default(write):
    c = load_cluster(write("dns.yaml", """
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec: {clusterIP: 10.96.0.53, selector: {k8s-app: my-dns}, ports: [{name: dns, port: 53, protocol: UDP}]}
"""))
    assert c.service("kube-system/kube-dns").cluster_ip == "10.96.0.53"
    assert not [p for p in c.pods.values() if p.namespace == "kube-system"]


def test_every_data_folder_loads_on_its_own():
    for folder in ["article", "nodeport", "nodeport-local", "headless", "policy"]:
        c = load_cluster(DATA / folder)
        assert c.pods and all(p.ip for p in c.pods.values()), folder
    for f in ["two-node.yaml", "three-node.yaml"]:
        assert len(load_cluster(DATA / "clusters" / f).nodes) == (2 if f.startswith("two") else 3)


def test_article_webapp_endpoints_match_the_article():
    c = load_cluster(DATA / "article")
    webapp = c.service("webapp")
    assert webapp.ports[0].name == "" and webapp.ports[0].port == 80
    got = sorted(f"{a}:{s.ports[0].port}" for s in c.slices_for(webapp) for e in s.endpoints for a in e.addresses)
    assert got == ["10.244.120.102:80", "10.244.120.103:80"]
    assert len([p for p in c.pods.values() if p.labels.get("app") == "webapp"]) == 2  # none created on top
    assert {c.service(n).type for n in ("frontend", "backend")} == {"ClusterIP"}


def test_find_data_dir_walks_up(tmp_path):
    assert find_data_dir(DATA / "article") == DATA
    with pytest.raises(KplabError, match="no data/ folder"):
        find_data_dir(tmp_path)


# --- Calico's IPPool: the CNI and the overlay ------------------------------------------------------------------

def _pool(ipip: str = "Never", vxlan: str = "Never", api: str = "crd.projectcalico.org/v1") -> str:
    return f"""
    apiVersion: {api}
    kind: IPPool
    metadata: {{name: default-ipv4-ippool}}
    spec: {{cidr: 10.244.0.0/16, blockSize: 26, ipipMode: {ipip}, vxlanMode: {vxlan}, natOutgoing: true}}
    """


@pytest.mark.parametrize("ipip, vxlan, overlay", [("Always", "Never", "ipip"), ("Never", "Always", "vxlan"),
                                                   ("Never", "Never", None)])
def test_ippool_makes_the_cluster_calico(write, ipip, vxlan, overlay):
    m = read_manifests(write("pool.yaml", _pool(ipip, vxlan)))
    assert (m.settings.cni, m.settings.overlay) == ("calico", overlay)
    assert m.warnings == [] and m.skipped == {}


def test_ippool_v3_api_and_crosssubnet_warns(write):
    m = read_manifests(write("pool.yaml", _pool("CrossSubnet", api="projectcalico.org/v3")))
    assert (m.settings.cni, m.settings.overlay) == ("calico", "ipip")
    assert len(m.warnings) == 1 and "CrossSubnet" in m.warnings[0] and "pool.yaml" in m.warnings[0]


def test_ippool_bad_mode_and_both_overlays_name_the_pool(write):
    with pytest.raises(KplabError, match=r"pool\.yaml.*default-ipv4-ippool.*ipipMode.*'Sometimes'"):
        read_manifests(write("pool.yaml", _pool("Sometimes")))
    with pytest.raises(KplabError, match=r"pool\.yaml.*cannot both"):
        read_manifests(write("pool.yaml", _pool("Always", "Always")))


def test_ippool_of_another_group_is_skipped(write):
    m = read_manifests(write("pool.yaml", _pool("Always", api="example.com/v1")))
    assert m.settings.cni == "bridge" and m.skipped == {"IPPool": 1}


def test_article_cluster_is_calico_with_ipip():
    c = load_cluster(find_data_dir(Path(__file__).parent) / "article")
    assert (c.settings.cni, c.settings.overlay) == ("calico", "ipip")
    assert {p.ip for p in c.pods.values() if p.name.startswith("webapp-")} == {"10.244.120.102", "10.244.120.103"}

# ---- kube-proxy's settings as clusters hold them: the kube-system/kube-proxy ConfigMap

FIELD = Path(__file__).resolve().parents[2] / ".." / "shared" / "field"


def test_field_f3_configmap_masquerade_all():
    path = FIELD / "F3-kube-proxy-configmap-ignored.yaml"
    if not path.is_file():
        pytest.skip(f"field data not found at {FIELD}")
    from kplab.walk import trace
    c = load_cluster(path)
    assert c.proxy.masquerade_all is True
    assert not any("ConfigMap" in w for w in c.warnings)
    t = trace(c, "default/client", "default/server", port=80)
    assert t.verdict == "ACCEPT"
    assert t.source_seen.split(":")[0] in {a.address for n in c.nodes.values() for a in n.addresses}


@pytest.mark.parametrize("configmap, check", [
    # kubeadm's ConfigMap: config.conf next to kubeconfig.conf
    ("""apiVersion: v1
kind: ConfigMap
metadata: {name: kube-proxy, namespace: kube-system}
data:
  config.conf: |-
    apiVersion: kubeproxy.config.k8s.io/v1alpha1
    kind: KubeProxyConfiguration
    clusterCIDR: 10.32.0.0/12
    detectLocalMode: NodeCIDR
  kubeconfig.conf: |-
    apiVersion: v1
    kind: Config
""", lambda p: (p.cluster_cidr, p.detect_local_mode) == ("10.32.0.0/12", "NodeCIDR")),
    # EKS: kube-proxy-config with `config`
    ("""apiVersion: v1
kind: ConfigMap
metadata: {name: kube-proxy-config, namespace: kube-system}
data:
  config: |
    apiVersion: kubeproxy.config.k8s.io/v1alpha1
    kind: KubeProxyConfiguration
    iptables:
      masqueradeBit: 15
      localhostNodePorts: false
""", lambda p: (p.masquerade_mark, p.localhost_node_ports) == ("0x8000", False)),
])
def test_kube_proxy_configmap_is_read_as_kube_proxy_configuration(write, configmap, check):
    c = load_cluster(write("cm.yaml", configmap))
    assert check(c.proxy)
    assert not any(w.startswith("skipped") for w in c.warnings)


def test_broken_kube_proxy_configmap_names_the_configmap_and_key(write):
    path = write("cm.yaml", """apiVersion: v1
kind: ConfigMap
metadata: {name: kube-proxy, namespace: kube-system}
data:
  config.conf: "kind: KubeProxyConfiguration\\niptables: [masqueradeAll: true"
""")
    with pytest.raises(KplabError, match=r"ConfigMap kube-system/kube-proxy, data.config.conf"):
        load_cluster(path)


def test_other_configmaps_are_still_skipped(write):
    c = load_cluster(write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: coredns, namespace: kube-system}\n"
                                      "data: {Corefile: '.:53 {}'}\n"))
    assert any("ConfigMap (1)" in w for w in c.warnings)
