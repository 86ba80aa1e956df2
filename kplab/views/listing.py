"""`iptables -t TABLE -L [CHAIN] -n` listings of a rule set — the form the article's listings are in.

Read by kplab.netfilter (parse_ruleset: the rule set the kernel would hold, values in canonical form); each match
and target is printed the way its iptables extension's print function does (`/* comment */`, `tcp dpt:80`,
`statistic mode random probability 0.50000000000`, `ADDRTYPE match dst-type LOCAL`, `MARK or 0x4000`,
`to:10.244.120.102:80`, `[goto]` ...). Chains come as the kernel lists them: built-in chains in hook order, then
user chains by name. Without -v a listing shows no interfaces and no counters.

One simplification, said here: the `prot` column names the protocol (`tcp`, `all`) as iptables before 1.8.9 (the
article's) prints it; iptables 1.8.9 with -n prints its number (`6`, `0`).
"""
from __future__ import annotations

from collections import Counter

from kplab.errors import KplabError
from kplab.netfilter.match import Match
from kplab.netfilter.option import Option, parse_mark
from kplab.netfilter.rule import Rule
from kplab.netfilter.ruleset import Ruleset, parse_ruleset

HEADER = "target     prot opt source               destination         "
_TCP_FLAGS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20, "ECE": 0x40, "CWR": 0x80}
_LOG_LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "error": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}
_LOG_FLAGS = (("--log-tcp-sequence", 0x01), ("--log-tcp-options", 0x02), ("--log-ip-options", 0x04),
              ("--log-uid", 0x08))


def _address(value: str | None) -> str:
    if value is None:
        return "0.0.0.0/0"
    if value.endswith("/32") or value.endswith("/128"):
        return value.rsplit("/", 1)[0]
    return value


def _mark_target(options: dict[str, Option]) -> str:
    """libxt_MARK's print of a --set-xmark value/mask (every MARK form is read into that by the parser)."""
    m, k = parse_mark(options["--set-xmark"].values[0])
    if m == 0:
        return f"MARK and {~k & 0xFFFFFFFF:#x}"
    if m == k:
        return f"MARK or {m:#x}"
    if k == 0:
        return f"MARK xor {m:#x}"
    if k == 0xFFFFFFFF:
        return f"MARK set {m:#x}"
    return f"MARK xset {m:#x}/{k:#x}"


def _flag_bits(names: str) -> int:
    return 0 if names == "NONE" else sum(_TCP_FLAGS[n] for n in names.split(","))


def _match_text(match: Match) -> str:
    """What the match's extension prints in a listing (its print function, numeric form)."""
    d = {o.name: o for o in match.options}
    name = match.name

    def value(flag: str) -> str:
        return d[flag].values[0]

    def bang(flag: str) -> str:
        return "!" if d[flag].negated else ""
    if name == "comment":
        return f"/* {value('--comment')} */"
    if name in ("tcp", "udp", "sctp"):
        parts = [name]
        if "--sport" in d:
            parts.append(f"spt:{bang('--sport')}{value('--sport')}")
        if "--dport" in d:
            parts.append(f"dpt:{bang('--dport')}{value('--dport')}")
        if "--tcp-flags" in d:
            mask, comp = d["--tcp-flags"].values
            parts.append(f"flags:{bang('--tcp-flags')}0x{_flag_bits(mask):02X}/0x{_flag_bits(comp):02X}")
        if "--syn" in d:
            parts.append(f"flags:{bang('--syn')}0x17/0x02")
        return " ".join(parts)
    if name == "multiport":
        flag = next(f for f in ("--sports", "--dports", "--ports") if f in d)
        return f"multiport {flag[2:]} {' !' if d[flag].negated else ''}{value(flag)}"
    if name == "addrtype":
        parts = ["ADDRTYPE match"]
        for flag, word in (("--src-type", "src-type"), ("--dst-type", "dst-type")):
            if flag in d:
                parts.append(f"{word} {bang(flag)}{value(flag)}")
        return " ".join(parts)
    if name == "statistic":
        if value("--mode") == "nth":
            return f"statistic mode nth every {value('--every')} packet {d['--packet'].values[0] if '--packet' in d else 0}"
        return f"statistic mode random probability {value('--probability')}"  # the parser keeps iptables' %.11f
    if name == "mark":
        return f"mark match {'! ' if d['--mark'].negated else ''}{value('--mark')}"
    if name in ("conntrack", "state") and set(d) <= {"--ctstate", "--state"}:
        flag = "--ctstate" if name == "conntrack" else "--state"
        word = "ctstate" if name == "conntrack" else "state"
        return f"{'! ' if d[flag].negated else ''}{word} {value(flag)}"
    if name == "recent":
        mode = next(word for flag, word in (("--rcheck", "CHECK"), ("--set", "SET"), ("--update", "UPDATE"),
                                            ("--remove", "REMOVE")) if flag in d)
        parts = [f"recent: {'!' if any(o.negated for o in match.options) else ''}{mode}"]
        if "--seconds" in d:
            parts.append(f"seconds: {value('--seconds')}")
        if "--reap" in d:
            parts.append("reap")
        if "--hitcount" in d:
            parts.append(f"hit_count: {value('--hitcount')}")
        if "--rttl" in d:
            parts.append("TTL-Match")
        parts.append(f"name: {value('--name')} side: {'dest' if '--rdest' in d else 'source'} "
                     f"mask: {value('--mask')}")
        return " ".join(parts)
    if name == "icmp":
        return f"icmptype {bang('--icmp-type')}{value('--icmp-type')}"
    if name == "iprange":
        return " ".join(f"{'source' if flag == '--src-range' else 'destination'} IP range {bang(flag)}{value(flag)}"
                        for flag in ("--src-range", "--dst-range") if flag in d)
    if name == "set":
        set_name, directions = d["--match-set"].values
        return f"{'! ' if d['--match-set'].negated else ''}match-set {set_name} {directions}"
    if name == "nfacct":
        return f"nfacct-name  {value('--nfacct-name')}"
    if name == "physdev":
        return "PHYSDEV match " + " ".join(f"{'! ' if o.negated else ''}{o.name}" for o in match.options)
    # An extension whose listing form kplab does not model: its options as iptables-save writes them.
    return name + " " + " ".join(o.text() for o in match.options)


def _target_text(rule: Rule) -> str | None:
    """What the target's extension prints after the matches, if anything."""
    d = {o.name: o for o in rule.target_options}
    flags = [word for word in ("--random", "--random-fully", "--persistent") if word in d]
    if rule.target in ("DNAT", "SNAT"):
        to = d["--to-destination" if rule.target == "DNAT" else "--to-source"].values[0]
        return " ".join([f"to:{to}"] + [f[2:] for f in flags])
    if rule.target == "MARK":
        return _mark_target(d)
    if rule.target in ("MASQUERADE", "REDIRECT"):
        ports = [f"{'masq' if rule.target == 'MASQUERADE' else 'redir'} ports: {d['--to-ports'].values[0]}"] \
            if "--to-ports" in d else []
        return " ".join(ports + [f[2:] for f in flags]) or None
    if rule.target == "REJECT":
        return f"reject-with {d['--reject-with'].values[0]}"
    if rule.target == "LOG":
        level = d["--log-level"].values[0] if "--log-level" in d else "4"
        level = str(_LOG_LEVELS.get(level, level))
        bits = sum(bit for flag, bit in _LOG_FLAGS if flag in d)
        prefix = f' prefix "{d["--log-prefix"].values[0]}"' if "--log-prefix" in d else ""
        return f"LOG flags {bits} level {level}{prefix}"
    return None


def list_rule(rule: Rule) -> str:
    """One rule as a row of the listing: target, prot, opt, source, destination, then each extension's words."""
    protocol = rule.protocol or "all"
    line = (f"{rule.target or '':<9} {'!' if rule.protocol_negated else ' '}{protocol:<5}-- "
            f"{'!' if rule.src_negated else ' '}{_address(rule.src):<19} "
            f"{'!' if rule.dst_negated else ' '}{_address(rule.dst):<19} ")
    if rule.goto:
        line += "[goto] "
    extras = [_match_text(m) for m in rule.matches] + [t for t in (_target_text(rule),) if t]
    return line + "".join(" " + e for e in extras)  # each extension prints a leading space


def list_rules(rules: Ruleset | str, table: str = "nat", chain: str | None = None) -> str:
    """`iptables -t TABLE -L [CHAIN] -n` for a rule set (a Ruleset, or text in iptables-save syntax, read by
    kplab.netfilter.parse_ruleset). KplabError when the table or chain is not there, or the text does not parse."""
    ruleset = parse_ruleset(rules) if isinstance(rules, str) else rules
    t = ruleset.table(table)
    if t is None:
        raise KplabError(f"table {table!r} is not in the rule set (tables: {', '.join(ruleset.tables)})")
    chains = t.ordered_chains()
    if chain is not None:
        if chain not in t.chains:
            raise KplabError(f"no chain {chain!r} in table {table}")
        chains = [t.chains[chain]]
    references = Counter(r.target for other in t.chains.values() for r in other.rules)  # -j and -g alike
    blocks = []
    for c in chains:
        if c.builtin:
            head = f"Chain {c.name} (policy {c.policy})"
        else:
            head = f"Chain {c.name} ({references[c.name]} references)"
        blocks.append("\n".join([head, HEADER] + [list_rule(r) for r in c.rules]))
    return "\n\n".join(blocks) + "\n"
