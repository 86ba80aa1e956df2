"""kplab.netfilter — Linux packet filtering as data. Knows nothing of Kubernetes: it runs whatever rules it is given.

Rules
    parse_ruleset(text, source="<rules>", partial=False) -> Ruleset
        iptables-save / iptables-restore text (kube-proxy's restore input or a live node's iptables-save);
        KplabError "source:line: what is wrong" for unknown options/matches/targets, jumps to missing chains,
        loops, missing COMMIT. partial=True reads a partial restore payload (jumps to undeclared chains allowed).
    Ruleset.save() -> str            stable iptables-save text; parse(save(r)) == r
    Ruleset.combine(other) -> Ruleset other's chains added, other's rules in built-in chains first (as -I)
    parse_ipsets(text, source) -> IPSets   `ipset save` / `ipset list` text, for -m set

Packets and routes
    Packet(src, dst, protocol="tcp", sport=None, dport=None, tcp_flags="SYN", mark=0, icmp_type="echo-request")
    Route(local, out_iface=None, gateway=None, src=None, failure=None, physdev_out=None)

A host
    Stack(ruleset, local_ips, interfaces={"eth0": ["10.0.0.1/24"]}, route=callable, ipsets=None,
          ip_forward=True, tcp_loose=True, fast_path=True)
        .receive(packet, in_iface, chooser=None, physdev_in=None) -> Walk   PREROUTING, then INPUT or
            FORWARD+POSTROUTING; physdev_in = the bridge port it came in by (br_netfilter, for -m physdev)
        .send(packet, chooser=None) -> Walk                OUTPUT, POSTROUTING (and INPUT via lo if local)
        .conntrack (Conntrack, str() like `conntrack -L`), .recent, .clock (.advance(seconds)), .copy()
    Walk: steps [Decision], verdict ACCEPT/DROP/REJECT, path input/forward/output, original, packet, route,
          connection, ctstate, reject_with, .dnat ("ip:port" or None), .masqueraded
    Decision: kind (rule, policy, fall-off, conntrack, route, nat), table, chain, rule_number, rule_text,
          action (also .verdict), before, after, hook, note

Random choices
    SeededChooser(seed); enumerate_outcomes(run, exact_kernel=False) -> [(Fraction, result)]
    (kube-proxy's 1/3, 1/2, 1 chain gives 1/3 each; see probability.py for the kernel's 31-bit fixed point)

One node alone (node.py)
    node_stack(ruleset, local_ips), trace_first_packet(stack, packet), endpoints(walks), masquerade(walks)
"""
from kplab.netfilter.chooser import Chooser, SeededChooser, enumerate_outcomes
from kplab.netfilter.conntrack import ConntrackEntry, Conntrack
from kplab.netfilter.ipset import IPSets, parse_ipsets
from kplab.netfilter.packet import Packet, Route
from kplab.netfilter.probability import Probability
from kplab.netfilter.ruleset import Chain, Ruleset, Table, parse_ruleset
from kplab.netfilter.stack import Clock, Stack, Decision, Walk

__all__ = ["Chain", "Chooser", "Clock", "ConntrackEntry", "Conntrack", "IPSets", "Packet", "Probability", "Route",
           "Ruleset", "SeededChooser", "Stack", "Decision", "Table", "Walk", "enumerate_outcomes",
           "parse_ipsets", "parse_ruleset"]
