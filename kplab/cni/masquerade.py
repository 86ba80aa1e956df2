"""The CNI's own masquerade rule: pod traffic leaving the pod network is SNATed to the node.

kube-proxy masquerades only the Service traffic it marked (0x4000); a pod reaching the internet is
masqueraded by the network plugin — flannel's FLANNEL-POSTRTG chain, Calico's natOutgoing on an IP pool.
These rules sit beside kube-proxy's in each node's nat table (laid over with Ruleset.combine).

Simplification: the real rules add `--random-fully`; kplab leaves it out so the source port stays the
client's and the listing stays readable.
"""
from __future__ import annotations

from kplab.errors import KplabError

CNIS = ("bridge", "calico")


def masquerade_rules_text(cni: str, pod_cidr: str, node_pod_cidr: str | None = None) -> str:
    """The nat-table rules (iptables-restore text) a node's CNI writes for outgoing pod traffic.

    `cni`: "bridge" (flannel-style: pod CIDR per node, FLANNEL-POSTRTG) or "calico" (natOutgoing);
    `pod_cidr`: the cluster's pod network; `node_pod_cidr`: this node's share of it (flannel only)."""
    if cni == "calico":
        return _calico(pod_cidr)
    if cni == "bridge":
        return _flannel(pod_cidr, node_pod_cidr or pod_cidr)
    raise KplabError(f"CNI masquerade rules: unknown CNI style {cni!r} (one of {', '.join(CNIS)})")


def _calico(pool: str) -> str:
    # Calico masquerades traffic from an IP pool with natOutgoing to anywhere outside its pools. Felix also hooks
    # nat PREROUTING (above kube-proxy's KUBE-SERVICES) for floating-IP DNAT; with no floating IPs that chain is
    # empty, but the hook is there on every Calico node, and `iptables -t nat -L PREROUTING` shows it first.
    return "\n".join([
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
        ":cali-PREROUTING - [0:0]",
        ":cali-fip-dnat - [0:0]",
        ":cali-POSTROUTING - [0:0]",
        ":cali-nat-outgoing - [0:0]",
        '-A PREROUTING -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING',
        '-A cali-PREROUTING -m comment --comment "cali:r6XmIziWUJsdOK6Z" -j cali-fip-dnat',
        '-A POSTROUTING -m comment --comment "cali:O3lYWMrLQYEMJtB5" -j cali-POSTROUTING',
        '-A cali-POSTROUTING -m comment --comment "cali:Z-c7XtVd2Bq7s_hA" -j cali-nat-outgoing',
        f'-A cali-nat-outgoing -m comment --comment "natOutgoing: IP pool {pool} to outside the pools" '
        f"-s {pool} ! -d {pool} -j MASQUERADE",
        "COMMIT",
        "",
    ])


def _flannel(cluster_cidr: str, node_cidr: str) -> str:
    # flannel: leave kube-proxy's marked packets to kube-proxy, pod-to-pod untouched, traffic from
    # outside into this node's pods untouched; masquerade pods going out, and outsiders going to other nodes' pods.
    comment = '-m comment --comment "flanneld masq"'
    return "\n".join([
        "*nat",
        ":POSTROUTING ACCEPT [0:0]",
        ":FLANNEL-POSTRTG - [0:0]",
        f"-A POSTROUTING {comment} -j FLANNEL-POSTRTG",
        f"-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 {comment} -j RETURN",
        f"-A FLANNEL-POSTRTG -s {cluster_cidr} -d {cluster_cidr} {comment} -j RETURN",
        f"-A FLANNEL-POSTRTG ! -s {cluster_cidr} -d {node_cidr} {comment} -j RETURN",
        f"-A FLANNEL-POSTRTG -s {cluster_cidr} ! -d 224.0.0.0/4 {comment} -j MASQUERADE",
        f"-A FLANNEL-POSTRTG ! -s {cluster_cidr} -d {cluster_cidr} {comment} -j MASQUERADE",
        "COMMIT",
        "",
    ])
