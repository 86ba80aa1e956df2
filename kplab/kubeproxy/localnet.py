"""route_localnet: kube-proxy turns net.ipv4.conf.all.route_localnet on for localhost NodePorts, and with it
writes (as kubelet did) the filter rule that stops other hosts from using it to reach 127.0.0.0/8:
`-A KUBE-FIREWALL -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m comment --comment "block incoming localnet connections"
-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP` (proxier.go, only when IPv4 and localhostNodePorts).

A node's iptables-save does not hold sysctls, so a dump with that rule is the sign that the sysctl is on."""
from __future__ import annotations

from kplab.netfilter.rule import Rule
from kplab.netfilter.ruleset import Ruleset


def localnet_rule(ruleset: Ruleset) -> Rule | None:
    """The anti-martian rule that comes with route_localnet=1 (any chain of the filter table), or None."""
    table = ruleset.table("filter")
    if table is None:
        return None
    for chain in table.chains.values():
        for rule in chain.rules:
            if rule.dst == "127.0.0.0/8" and not rule.dst_negated and rule.src == "127.0.0.0/8" \
                    and rule.src_negated and rule.target == "DROP":
                return rule
    return None
