"""kplab.kubeproxy: each node's rules as kube-proxy (iptables mode) writes them — today's layout and v1.19's."""
from kplab.kubeproxy.kubeproxy import KubeProxy, SyncResult, node_ruleset_text, restore_payload

__all__ = ["KubeProxy", "SyncResult", "node_ruleset_text", "restore_payload"]
