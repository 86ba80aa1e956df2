"""The `iptables -L -n` listing against what iptables itself prints for the same rules."""
from __future__ import annotations

import re

import pytest

from kplab.errors import KplabError
from kplab.netfilter import parse_ruleset
from kplab.views.listing import list_rule, list_rules

RULES = """\
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-X - [0:0]
:KUBE-SEP-A - [0:0]
:KUBE-POSTROUTING - [0:0]
:AAA-FIRST - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -o eth0 -j MASQUERADE
-A POSTROUTING -p tcp -s 10.0.0.0/8 -j SNAT --to-source 192.168.1.1:1000-2000
-A POSTROUTING -p tcp -j MASQUERADE --to-ports 1024-65535
-A KUBE-SERVICES ! -s 10.244.0.0/16 -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-MARK-MASQ
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-SVC-X
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j AAA-FIRST
-A KUBE-SERVICES -p udp --sport 53 -m addrtype ! --src-type LOCAL --dst-type LOCAL -g KUBE-SVC-X
-A KUBE-SERVICES -p tcp -m multiport --dports 80,443:445 -j RETURN
-A KUBE-SERVICES -p tcp -m multiport ! --sports 1000 -j RETURN
-A KUBE-SERVICES -m state --state RELATED,ESTABLISHED -j RETURN
-A KUBE-SERVICES -m conntrack ! --ctstate INVALID -j RETURN
-A KUBE-SERVICES -p tcp ! --dport 22 -j RETURN
-A KUBE-SERVICES ! -p udp -j RETURN
-A KUBE-SERVICES -i eth0 -o eth1 -j RETURN
-A KUBE-SERVICES -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-SERVICES -m mark --mark 0x8000 -j RETURN
-A KUBE-SERVICES -m physdev --physdev-is-bridged -j RETURN
-A KUBE-SERVICES -p tcp
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-MARK-MASQ -j MARK --set-mark 0x10
-A KUBE-MARK-MASQ -j MARK --xor-mark 0x10
-A KUBE-MARK-MASQ -j MARK --and-mark 0xffffbfff
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x1/0xf
-A KUBE-SVC-X -m comment --comment "default/kubernetes:https" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-A
-A KUBE-SVC-X -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-A --mask 255.255.255.255 --rsource -j KUBE-SEP-A
-A KUBE-SVC-X -m recent --set --name KUBE-SEP-A --rdest -j KUBE-SEP-A
-A KUBE-SVC-X -m statistic --mode nth --every 3 --packet 1 -j KUBE-SEP-A
-A KUBE-SEP-A -s 192.168.49.2/32 -m comment --comment "default/kubernetes:https" -j KUBE-MARK-MASQ
-A KUBE-SEP-A -p tcp -m comment --comment "default/kubernetes:https" -m tcp -j DNAT --to-destination 192.168.49.2:8443
-A KUBE-SEP-A -p tcp -j DNAT --to-destination 192.168.49.2:8443 --random --persistent
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A AAA-FIRST -p icmp -m icmp --icmp-type 8 -j RETURN
-A AAA-FIRST -m iprange --src-range 10.0.0.1-10.0.0.9 -j RETURN
-A AAA-FIRST -m set --match-set foo src -j RETURN
-A AAA-FIRST -p tcp -m tcp --tcp-flags SYN,RST SYN -j RETURN
-A AAA-FIRST -p sctp -m sctp --dport 9 -j RETURN
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -m conntrack --ctstate INVALID -j DROP
-A FORWARD -p tcp -j REJECT --reject-with tcp-reset
-A FORWARD -j REJECT
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FIREWALL -j LOG --log-prefix "x: " --log-level 4
COMMIT
"""

# `iptables -t nat -L -n` and `iptables -t filter -L -n` of iptables v1.8.9 (nf_tables) after `iptables-restore` of
# RULES into a fresh network namespace (kpl-seams-PID, 2026-11-30; `ipset create foo hash:ip` first): exactly what
# it printed, trailing spaces included.
REAL_NAT = """\
Chain PREROUTING (policy ACCEPT)
target     prot opt source               destination         
KUBE-SERVICES  0    --  0.0.0.0/0            0.0.0.0/0            /* kubernetes service portals */

Chain INPUT (policy ACCEPT)
target     prot opt source               destination         

Chain OUTPUT (policy ACCEPT)
target     prot opt source               destination         
KUBE-SERVICES  0    --  0.0.0.0/0            0.0.0.0/0            /* kubernetes service portals */

Chain POSTROUTING (policy ACCEPT)
target     prot opt source               destination         
KUBE-POSTROUTING  0    --  0.0.0.0/0            0.0.0.0/0            /* kubernetes postrouting rules */
MASQUERADE  0    --  10.244.0.0/16       !10.244.0.0/16       
SNAT       6    --  10.0.0.0/8           0.0.0.0/0            to:192.168.1.1:1000-2000
MASQUERADE  6    --  0.0.0.0/0            0.0.0.0/0            masq ports: 1024-65535

Chain AAA-FIRST (1 references)
target     prot opt source               destination         
RETURN     1    --  0.0.0.0/0            0.0.0.0/0            icmptype 8
RETURN     0    --  0.0.0.0/0            0.0.0.0/0            source IP range 10.0.0.1-10.0.0.9
RETURN     0    --  0.0.0.0/0            0.0.0.0/0            match-set foo src
RETURN     6    --  0.0.0.0/0            0.0.0.0/0            tcp flags:0x06/0x02
RETURN     132  --  0.0.0.0/0            0.0.0.0/0            sctp dpt:9

Chain KUBE-MARK-MASQ (2 references)
target     prot opt source               destination         
MARK       0    --  0.0.0.0/0            0.0.0.0/0            MARK or 0x4000
MARK       0    --  0.0.0.0/0            0.0.0.0/0            MARK set 0x10
MARK       0    --  0.0.0.0/0            0.0.0.0/0            MARK xor 0x10
MARK       0    --  0.0.0.0/0            0.0.0.0/0            MARK and 0xffffbfff
MARK       0    --  0.0.0.0/0            0.0.0.0/0            MARK xset 0x1/0xf

Chain KUBE-POSTROUTING (1 references)
target     prot opt source               destination         
RETURN     0    --  0.0.0.0/0            0.0.0.0/0            mark match ! 0x4000/0x4000
MARK       0    --  0.0.0.0/0            0.0.0.0/0            MARK xor 0x4000
MASQUERADE  0    --  0.0.0.0/0            0.0.0.0/0            /* kubernetes service traffic requiring SNAT */ random-fully

Chain KUBE-SEP-A (4 references)
target     prot opt source               destination         
KUBE-MARK-MASQ  0    --  192.168.49.2         0.0.0.0/0            /* default/kubernetes:https */
DNAT       6    --  0.0.0.0/0            0.0.0.0/0            /* default/kubernetes:https */ tcp to:192.168.49.2:8443
DNAT       6    --  0.0.0.0/0            0.0.0.0/0            to:192.168.49.2:8443 random persistent

Chain KUBE-SERVICES (2 references)
target     prot opt source               destination         
KUBE-MARK-MASQ  6    -- !10.244.0.0/16        10.96.0.1            /* default/kubernetes:https cluster IP */ tcp dpt:443
KUBE-SVC-X  6    --  0.0.0.0/0            10.96.0.1            /* default/kubernetes:https cluster IP */ tcp dpt:443
AAA-FIRST  0    --  0.0.0.0/0            0.0.0.0/0            /* kubernetes service nodeports; NOTE: this must be the last rule in this chain */ ADDRTYPE match dst-type LOCAL
KUBE-SVC-X  17   --  0.0.0.0/0            0.0.0.0/0           [goto]  udp spt:53 ADDRTYPE match src-type !LOCAL dst-type LOCAL
RETURN     6    --  0.0.0.0/0            0.0.0.0/0            multiport dports 80,443:445
RETURN     6    --  0.0.0.0/0            0.0.0.0/0            multiport sports  !1000
RETURN     0    --  0.0.0.0/0            0.0.0.0/0            state RELATED,ESTABLISHED
RETURN     0    --  0.0.0.0/0            0.0.0.0/0            ! ctstate INVALID
RETURN     6    --  0.0.0.0/0            0.0.0.0/0            tcp dpt:!22
RETURN    !17   --  0.0.0.0/0            0.0.0.0/0           
RETURN     0    --  0.0.0.0/0            0.0.0.0/0           
RETURN     0    --  0.0.0.0/0            0.0.0.0/0            mark match ! 0x4000/0x4000
RETURN     0    --  0.0.0.0/0            0.0.0.0/0            mark match 0x8000
RETURN     0    --  0.0.0.0/0            0.0.0.0/0            PHYSDEV match --physdev-is-bridged
           6    --  0.0.0.0/0            0.0.0.0/0           

Chain KUBE-SVC-X (2 references)
target     prot opt source               destination         
KUBE-SEP-A  0    --  0.0.0.0/0            0.0.0.0/0            /* default/kubernetes:https */ statistic mode random probability 0.33333333349
KUBE-SEP-A  0    --  0.0.0.0/0            0.0.0.0/0            recent: CHECK seconds: 10800 reap name: KUBE-SEP-A side: source mask: 255.255.255.255
KUBE-SEP-A  0    --  0.0.0.0/0            0.0.0.0/0            recent: SET name: KUBE-SEP-A side: dest mask: 255.255.255.255
KUBE-SEP-A  0    --  0.0.0.0/0            0.0.0.0/0            statistic mode nth every 3 packet 1
"""
REAL_FILTER = """\
Chain INPUT (policy ACCEPT)
target     prot opt source               destination         
KUBE-FIREWALL  0    --  0.0.0.0/0            0.0.0.0/0           

Chain FORWARD (policy DROP)
target     prot opt source               destination         
ACCEPT     0    --  0.0.0.0/0            0.0.0.0/0            ctstate RELATED,ESTABLISHED
DROP       0    --  0.0.0.0/0            0.0.0.0/0            ctstate INVALID
REJECT     6    --  0.0.0.0/0            0.0.0.0/0            reject-with tcp-reset
REJECT     0    --  0.0.0.0/0            0.0.0.0/0            reject-with icmp-port-unreachable

Chain OUTPUT (policy ACCEPT)
target     prot opt source               destination         

Chain KUBE-FIREWALL (1 references)
target     prot opt source               destination         
DROP       0    -- !127.0.0.0/8          127.0.0.0/8          /* block incoming localnet connections */ ! ctstate RELATED,ESTABLISHED,DNAT
LOG        0    --  0.0.0.0/0            0.0.0.0/0            LOG flags 0 level 4 prefix "x: "
"""
# iptables 1.8.9 with -n prints the protocol's number; the article's (older) iptables, and kplab, its name.
_NAMES = {"0": "all", "1": "icmp", "6": "tcp", "17": "udp", "132": "sctp"}


def _named(listing: str) -> str:
    return re.sub(r"^(\S*\s+)(!?)(\d+)(\s*)--",
                  lambda m: m[1] + m[2] + _NAMES[m[3]].ljust(len(m[3]) + len(m[4])) + "--", listing, flags=re.M)


@pytest.mark.parametrize("table,real", [("nat", REAL_NAT), ("filter", REAL_FILTER)])
def test_listing_is_what_iptables_prints(table, real):
    assert _named(real) != real  # the protocol column really was rewritten
    assert list_rules(RULES, table) == _named(real)


def test_a_ruleset_or_its_text_list_the_same():
    ruleset = parse_ruleset(RULES)
    assert list_rules(ruleset, "nat", "KUBE-SVC-X") == list_rules(RULES, "nat", "KUBE-SVC-X")
    assert list_rules(ruleset, "nat", "KUBE-SVC-X").splitlines()[0] == "Chain KUBE-SVC-X (2 references)"


def test_a_rule_from_restore_input_lists_as_the_kernel_holds_it():
    # kube-proxy's restore input spells values its own way; the listing shows the canonical rule
    (rule,) = parse_ruleset("*nat\n:X - [0:0]\n-A X -d 10.96.0.10 -p tcp -m tcp --dport 53 -m statistic --mode random "
                            "--probability 0.3333333333 -j MARK --or-mark 0x4000\nCOMMIT\n").chain("nat", "X").rules
    assert list_rule(rule) == ("MARK       tcp  --  0.0.0.0/0            10.96.0.10           tcp dpt:53 statistic mode "
                               "random probability 0.33333333349 MARK or 0x4000")


def test_errors_name_the_table_or_chain():
    with pytest.raises(KplabError, match="table 'mangle' is not in the rule set"):
        list_rules(RULES, "mangle")
    with pytest.raises(KplabError, match="no chain 'NOPE' in table nat"):
        list_rules(RULES, "nat", "NOPE")
    with pytest.raises(KplabError, match="<rules>:3: "):
        list_rules("*nat\n:X - [0:0]\n-A X -j NOWHERE\nCOMMIT\n")
