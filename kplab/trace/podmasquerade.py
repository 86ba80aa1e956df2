"""The CNI's own NAT rule: pod traffic leaving the pod network is masqueraded to the node.

kube-proxy masquerades only Service traffic it marked; pods reaching the internet are
SNATed by the network plugin — flannel's FLANNEL-POSTRTG chain, Calico's natOutgoing.
These rules sit beside kube-proxy's in each node's nat table (laid over with Ruleset.combine).
Simplification: the real rules add `--random-fully`; kplab keeps the source port so the
listing stays readable.
"""
from __future__ import annotations


def pod_masquerade_rules(topology, node: str) -> str:
    cluster_cidr = topology.pod_cidr
    if topology.cni == "calico":
        return "\n".join([
            "*nat",
            ":POSTROUTING ACCEPT [0:0]",
            ":cali-POSTROUTING - [0:0]",
            ":cali-nat-outgoing - [0:0]",
            '-A POSTROUTING -m comment --comment "cali:O3lYWMrLQYEMJtB5" -j cali-POSTROUTING',
            '-A cali-POSTROUTING -m comment --comment "cali:Z-c7XtVd2Bq7s_hA" -j cali-nat-outgoing',
            f'-A cali-nat-outgoing -m comment --comment "natOutgoing: IP pool {cluster_cidr} to outside the pools" '
            f"-s {cluster_cidr} ! -d {cluster_cidr} -j MASQUERADE",
            "COMMIT",
            "",
        ])
    node_cidr = topology.node_cidrs.get(node) or cluster_cidr
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
