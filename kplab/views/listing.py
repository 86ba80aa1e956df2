"""`iptables -t TABLE -L [CHAIN] -n` listings of a rule set — the form the article's listings are in.

Built from rule text (iptables-save syntax); each match and target is printed the way its iptables extension
prints it in a listing (`/* comment */`, `tcp dpt:80`, `statistic mode random probability 0.50000000000`,
`ADDRTYPE match dst-type LOCAL`, `MARK or 0x4000`, `to:10.244.120.102:80`, ...).
"""
from __future__ import annotations

import shlex

from kplab.errors import KplabError

HEADER = "target     prot opt source               destination         "
_NO_VALUE = {"--rcheck", "--set", "--update", "--remove", "--reap", "--random-fully", "--physdev-is-in",
             "--physdev-is-out", "--physdev-is-bridged", "--random", "--persistent"}


def _chains(text: str) -> dict[str, dict]:
    tables: dict[str, dict] = {}
    current = None
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            current = tables.setdefault(line[1:], {"order": [], "policy": {}, "rules": {}})
        elif current is None:
            raise KplabError(f"<rules>:{n}: rule outside a table")
        elif line.startswith(":"):
            name, policy = (line[1:].split() + ["-"])[:2]
            current["order"].append(name)
            current["policy"][name] = policy
            current["rules"].setdefault(name, [])
        elif line.startswith("-A "):
            tokens = shlex.split(line)
            current["rules"].setdefault(tokens[1], []).append(tokens[2:])
    return tables


def _address(value: str | None) -> str:
    if value is None:
        return "0.0.0.0/0"
    if value.endswith("/32") or value.endswith("/128"):
        return value.rsplit("/", 1)[0]
    return value


def _probability(text: str) -> str:
    threshold = int(float(text) * (1 << 31) + 0.5)  # what iptables stores: lround(p * 2^31)
    return f"{threshold / (1 << 31):.11f}"


def _mark_target(opts: dict[str, str]) -> str:
    if "--or-mark" in opts:
        return f"MARK or {opts['--or-mark']}"
    if "--xor-mark" in opts:
        return f"MARK xor {opts['--xor-mark']}"
    if "--and-mark" in opts:
        return f"MARK and {opts['--and-mark']}"
    value = opts.get("--set-xmark") or opts.get("--set-mark") or "0"
    mark, _, mask = value.partition("/")
    m, k = int(mark, 0), int(mask, 0) if mask else 0xFFFFFFFF
    if m == 0:
        return f"MARK and {~k & 0xFFFFFFFF:#x}"
    if m == k:
        return f"MARK or {m:#x}"
    if k == 0:
        return f"MARK xor {m:#x}"
    if k == 0xFFFFFFFF:
        return f"MARK set {m:#x}"
    return f"MARK xset {m:#x}/{k:#x}"


def _match_text(name: str, opts: list[tuple[bool, str, str | None]]) -> str:
    d = {flag: (neg, value) for neg, flag, value in opts}

    def bang(flag):
        return "!" if d[flag][0] else ""
    if name == "comment":
        return f"/* {d['--comment'][1]} */"
    if name in ("tcp", "udp", "sctp"):
        parts = [name]
        if "--sport" in d:
            parts.append(f"spt:{bang('--sport')}{d['--sport'][1]}")
        if "--dport" in d:
            parts.append(f"dpt:{bang('--dport')}{d['--dport'][1]}")
        return " ".join(parts)
    if name == "addrtype":
        parts = ["ADDRTYPE match"]
        for flag, word in (("--src-type", "src-type"), ("--dst-type", "dst-type")):
            if flag in d:
                parts.append(f"{word} {bang(flag)}{d[flag][1]}")
        return " ".join(parts)
    if name == "statistic":
        return f"statistic mode {d['--mode'][1]} probability {_probability(d['--probability'][1])}"
    if name == "mark":
        return f"mark match {'! ' if d['--mark'][0] else ''}{d['--mark'][1]}"
    if name == "conntrack":
        return f"{'! ' if d['--ctstate'][0] else ''}ctstate {d['--ctstate'][1]}"
    if name == "recent":
        mode = "CHECK" if "--rcheck" in d else "SET" if "--set" in d else "UPDATE" if "--update" in d else "REMOVE"
        parts = [f"recent: {mode}"]
        if "--seconds" in d:
            parts.append(f"seconds: {d['--seconds'][1]}")
        if "--reap" in d:
            parts.append("reap")
        parts.append(f"name: {d['--name'][1]} side: source mask: 255.255.255.255")
        return " ".join(parts)
    if name == "nfacct":
        return f"nfacct-name  {d['--nfacct-name'][1]}"
    if name == "physdev":
        return "PHYSDEV match " + " ".join(f"{'! ' if neg else ''}{flag}" for neg, flag, _ in opts)
    return name + " " + " ".join(f"{'! ' if n else ''}{f} {v or ''}".strip() for n, f, v in opts)


def list_rule(tokens: list[str]) -> str:
    proto, proto_neg, src, src_neg, dst, dst_neg = "all", False, None, False, None, False
    matches: list[tuple[str, list]] = []
    target, target_opts = "", {}
    neg = False
    i = 0
    current: list | None = None
    while i < len(tokens):
        t = tokens[i]
        if t == "!":
            neg = True
            i += 1
            continue
        if t == "-m":
            current = []
            matches.append((tokens[i + 1], current))
            i += 2
        elif t == "-p":
            proto, proto_neg = tokens[i + 1], neg
            i += 2
        elif t in ("-s", "--source"):
            src, src_neg = tokens[i + 1], neg
            i += 2
        elif t in ("-d", "--destination"):
            dst, dst_neg = tokens[i + 1], neg
            i += 2
        elif t in ("-j", "-g"):
            target = tokens[i + 1]
            i += 2
            while i < len(tokens):
                flag = tokens[i]
                if i + 1 < len(tokens) and not tokens[i + 1].startswith("--") and flag not in _NO_VALUE:
                    target_opts[flag] = tokens[i + 1]
                    i += 2
                else:
                    target_opts[flag] = ""
                    i += 1
            break
        elif t.startswith("--"):
            if current is None:  # an option of the protocol's implicit match
                current = []
                matches.append((proto, current))
            if t in _NO_VALUE or i + 1 >= len(tokens) or (tokens[i + 1].startswith("-") and tokens[i + 1] != "-"):
                current.append((neg, t, None))
                i += 1
            else:
                current.append((neg, t, tokens[i + 1]))
                i += 2
        else:
            raise KplabError(f"cannot list rule option {t!r} in: {' '.join(tokens)}")
        neg = False
    extras = [_match_text(name, opts) for name, opts in matches]
    if target == "DNAT":
        extras.append(f"to:{target_opts.get('--to-destination', '')}")
    elif target == "SNAT":
        extras.append(f"to:{target_opts.get('--to-source', '')}")
    elif target == "MARK":
        extras.append(_mark_target(target_opts))
    elif target == "MASQUERADE" and "--random-fully" in target_opts:
        extras.append("random-fully")
    elif target == "REJECT":
        extras.append(f"reject-with {target_opts.get('--reject-with', 'icmp-port-unreachable')}")
    shown_target = "MARK" if target == "MARK" else target
    line = (f"{shown_target:<9} {'!' if proto_neg else ' '}{proto:<5}-- "
            f"{'!' if src_neg else ' '}{_address(src):<19} {'!' if dst_neg else ' '}{_address(dst):<19} ")
    return (line + "".join(" " + e for e in extras)).rstrip()  # each extension prints a leading space


def list_rules(text: str, table: str = "nat", chain: str | None = None) -> str:
    """`iptables -t TABLE -L [CHAIN] -n` for a rule set in iptables-save syntax."""
    tables = _chains(text)
    if table not in tables:
        raise KplabError(f"table {table!r} is not in the rule set (tables: {', '.join(tables)})")
    t = tables[table]
    names = t["order"] or list(t["rules"])
    if chain is not None:
        if chain not in t["rules"]:
            raise KplabError(f"no chain {chain!r} in table {table}")
        names = [chain]
    blocks = []
    for name in names:
        policy = t["policy"].get(name, "-")
        if policy != "-":
            head = f"Chain {name} (policy {policy})"
        else:
            refs = sum(1 for rules in t["rules"].values() for r in rules
                       if any(r[k] in ("-j", "-g") and r[k + 1] == name for k in range(len(r) - 1)))
            head = f"Chain {name} ({refs} references)"
        blocks.append("\n".join([head, HEADER] + [list_rule(r) for r in t["rules"][name]]))
    return "\n\n".join(blocks) + "\n"
