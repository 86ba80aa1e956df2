"""Tables and chains, and reading/printing them as iptables-save / iptables-restore text.

`parse_ruleset` reads both kube-proxy's restore input (`-m tcp -p tcp -d 172.30.0.41 --dport 80`, unquoted
multi-word comments as in kube-proxy's test fixtures) and a live node's `iptables-save` (`-d 10.96.0.10/32`,
`--set-xmark 0x4000/0x4000`, `0.33333333349`, counters). It gives the state the kernel would hold after restoring
the text into empty tables, and refuses what iptables-restore or the kernel would refuse: an unknown option,
match or target, a jump to a chain that does not exist or to a built-in chain, a jump loop, a missing COMMIT.

`Ruleset.save()` prints like iptables-save: tables in the order first seen, built-in chains in hook order then
user chains sorted by name, each rule's options in the kernel's order.

Speed (a 10,000-Service node has over 300k rules): a dump repeats a few rule shapes with different values, so
each shape (`shape_key`: the tokens with their values blanked) is read once into a RuleShape, and each distinct
match and target is checked and compiled once (ParseCache). A rule with a bad value takes the careful path,
which reads it in token order, so error messages do not depend on the caching.
"""
from __future__ import annotations

import bisect
import gc
import re
import sys
from dataclasses import dataclass, field
from operator import itemgetter

from kplab.errors import KplabError
from kplab.netfilter.match import IMPLICIT, MATCH_SPECS, Match, build_match
from kplab.netfilter.option import Option, OptionSpec, normalise
from kplab.netfilter.rule import BUILTIN_TARGETS, RULE_FIELDS, AddressTest, Rule, read_address, rule_from_values
from kplab.netfilter.target import TARGET_SPECS, canonical_target

BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}
POLICIES = ("ACCEPT", "DROP")
_PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "132": "sctp", "1": "icmp", "58": "ipv6-icmp"}
_MAX_CHAIN_NAME = 28
_MAX_IFACE = 15  # IFNAMSIZ less its NUL; iptables refuses longer names (a trailing + counts too)
_COUNTERS = re.compile(r"\[(\d+):(\d+)\]")


@dataclass(slots=True)
class Chain:
    name: str
    policy: str | None = None  # built-in chains only
    rules: list[Rule] = field(default_factory=list)
    counters: tuple[int, int] = field(default=(0, 0), compare=False)
    line: int = field(default=0, compare=False)
    _index: "ChainIndex | None" = field(default=None, compare=False, repr=False)

    @property
    def builtin(self) -> bool:
        return self.policy is not None

    def index(self) -> "ChainIndex":
        if self._index is None or self._index.size != len(self.rules):
            self._index = ChainIndex(self.rules)
        return self._index


class ChainIndex:
    """Fast path: which rules could match a packet with this destination.

    A rule with a plain `-d a.b.c.d/32` can only match packets to that address, and the kernel checks addresses
    before running any match module (no statistic draw, no recent update), so skipping it for other
    destinations changes nothing. Candidates are kept in rule order; property tests check the fast path
    against plain linear evaluation.
    """

    def __init__(self, rules: list[Rule]):
        self.size = len(rules)
        self.generic: list[int] = []
        self.by_dst: dict[str, list[int]] = {}
        for i, rule in enumerate(rules):
            dst = rule.dst
            if dst is not None and not rule.dst_negated and (dst.endswith("/32") or dst.endswith("/128")):
                self.by_dst.setdefault(dst.rsplit("/", 1)[0], []).append(i)
            else:
                self.generic.append(i)
        self._merged: dict[str, list[int]] = {}
        self.linear = len(self.by_dst) == 0

    def candidates(self, dst: str) -> list[int]:
        merged = self._merged.get(dst)
        if merged is None:
            specific = self.by_dst.get(dst)
            merged = sorted(self.generic + specific) if specific else self.generic
            if len(self._merged) < 4096:
                self._merged[dst] = merged
        return merged

    def next_after(self, dst: str, position: int) -> list[int]:
        """Candidate rule indexes after rule `position` (where a RETURN comes back to)."""
        cands = self.candidates(dst)
        return cands[bisect.bisect_right(cands, position):]


@dataclass
class Table:
    name: str
    chains: dict[str, Chain] = field(default_factory=dict)

    @classmethod
    def empty(cls, name: str) -> "Table":
        return cls(name, {c: Chain(c, "ACCEPT") for c in BUILTIN_CHAINS[name]})

    def ordered_chains(self) -> list[Chain]:
        builtin = [self.chains[c] for c in BUILTIN_CHAINS[self.name] if c in self.chains]
        user = sorted((c for c in self.chains.values() if not c.builtin), key=lambda c: c.name.encode())
        return builtin + user


@dataclass
class Ruleset:
    tables: dict[str, Table] = field(default_factory=dict)
    source: str = field(default="<rules>", compare=False)

    def table(self, name: str) -> Table | None:
        return self.tables.get(name)

    def chain(self, table: str, chain: str) -> Chain:
        try:
            return self.tables[table].chains[chain]
        except KeyError:
            raise KplabError(f"{self.source}: no chain {chain} in table {table}") from None

    def rules(self):
        for table in self.tables.values():
            for chain in table.ordered_chains():
                for rule in chain.rules:
                    yield table.name, rule

    def save(self, counters: bool = False) -> str:
        out: list[str] = []
        for table in self.tables.values():
            out.append(f"*{table.name}")
            chains = table.ordered_chains()
            for chain in chains:
                packets, bytes_ = chain.counters if counters else (0, 0)
                out.append(f":{chain.name} {chain.policy or '-'} [{packets}:{bytes_}]")
            for chain in chains:
                out.extend(rule.text() for rule in chain.rules)
            out.append("COMMIT")
        return "\n".join(out) + "\n"

    def combine(self, other: "Ruleset") -> "Ruleset":
        """This rule set with `other` laid over it: other's user chains added, other's rules in built-in chains
        placed FIRST (where `iptables -I` puts them; Calico inserts its hooks above kube-proxy's)."""
        result = Ruleset({}, source=f"{self.source}+{other.source}")
        for name, table in self.tables.items():
            result.tables[name] = Table(name, {c.name: Chain(c.name, c.policy, list(c.rules), c.counters, c.line)
                                               for c in table.chains.values()})
        for name, table in other.tables.items():
            mine = result.tables.setdefault(name, Table.empty(name))
            for chain in table.chains.values():
                if chain.builtin:
                    base = mine.chains[chain.name]
                    base.rules = list(chain.rules) + base.rules
                elif chain.name in mine.chains:
                    raise KplabError(f"{other.source}:{chain.line}: chain {chain.name} in table {name} "
                                     f"already exists in {self.source}")
                else:
                    mine.chains[chain.name] = Chain(chain.name, None, list(chain.rules), chain.counters, chain.line)
        for table in result.tables.values():
            _check_table(table, result.source, partial=False)
        return result


# ---------------------------------------------------------------------------------------------- parsing

_QUOTE_CHARS = re.compile(r"[\"'\\]")


_TOKEN = re.compile(r"""(?:[^\s"'\\]+|"(?:[^"\\]|\\.)*"|'[^']*'|\\.)+""")
_PART = re.compile(r"""([^"'\\]+)|"((?:[^"\\]|\\.)*)"|'([^']*)'|\\(.)""")
_ESCAPE = re.compile(r"\\(.)")


def _tokens(line: str, where: str) -> list[str]:
    """Split like a POSIX shell (what iptables-restore does with quotes), fast for the common cases."""
    if not _QUOTE_CHARS.search(line):
        return line.split()
    if "'" not in line and "\\" not in line:
        tokens = _double_quoted_tokens(line)
        if tokens is not None:
            return tokens
    tokens = []
    end = 0
    for m in _TOKEN.finditer(line):
        if line[end:m.start()].strip():
            raise KplabError(f"{where}: unbalanced quotes")
        end = m.end()
        token = m.group(0)
        if _QUOTE_CHARS.search(token):
            token = "".join(a or (_ESCAPE.sub(r"\1", b) if b is not None else None) or c or d or ""
                            for a, b, c, d in _PART.findall(token))
        tokens.append(token)
    if line[end:].strip():
        raise KplabError(f"{where}: unbalanced quotes")
    return tokens


def _double_quoted_tokens(line: str) -> list[str] | None:
    """The common quoted line (`--comment "ns/svc:http cluster IP"`): each "..." a whole word of its own.
    None when a quote is unbalanced or glued to other text; the general splitter handles (or refuses) those."""
    pieces = line.split('"')
    last = len(pieces) - 1
    if last % 2:
        return None
    tokens: list[str] = []
    for k, piece in enumerate(pieces):
        if k % 2 == 0:  # outside quotes: must be separated from the quoted words around it
            glued_after = k > 0 and not (piece[:1].isspace() or (k == last and not piece))
            glued_before = k < last and not (piece[-1:].isspace() or (k == 0 and not piece))
            if glued_after or glued_before:
                return None
            tokens.extend(piece.split())
        else:
            tokens.append(piece)
    return tokens


def parse_ruleset(text: str, source: str = "<rules>", partial: bool = False) -> Ruleset:
    """Read iptables-save / iptables-restore text.

    `partial=True` reads a partial restore payload (kube-proxy's MinimizeIPTablesRestore syncs): jumps to chains
    the payload does not declare are allowed, because they already exist in the kernel.
    """
    # A big dump makes hundreds of thousands of long-lived objects and no garbage cycles; the cyclic collector
    # would rescan them all again and again (a third of the parse time), so it waits until the end.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _read_ruleset(text, source, partial)
    finally:
        if collecting:
            gc.enable()


def _lines(text: str, chunk: int = 1 << 20):
    """text.splitlines(), a megabyte at a time (cut at a newline): a big dump's full list of lines would be a
    good part of the parse's peak memory."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + chunk)
        if end < 0:
            end = len(text)
        yield from text[start:end + 1].splitlines()  # with its newline: "\x85\n" ends two lines
        start = end + 1


def _read_ruleset(text: str, source: str, partial: bool) -> Ruleset:
    ruleset = Ruleset({}, source=source)
    cache = ParseCache()
    table: Table | None = None
    table_line = 0
    lineno = 0
    for lineno, raw in enumerate(_lines(text), start=1):
        line = stripped = raw.strip()
        if not line or line[0] == "#":
            continue
        where = f"{source}:{lineno}"
        if line[0] == "*":
            if table is not None:
                raise KplabError(f"{where}: table {line[1:]} starts before COMMIT of table {table.name}")
            name = line[1:].strip()
            if name not in BUILTIN_CHAINS:
                raise KplabError(f"{where}: unknown table {name!r}")
            # iptables-restore (without --noflush) flushes a table when its section starts: a table given twice
            # holds only its last copy
            table = ruleset.tables[name] = Table.empty(name)
            table_line = lineno
            continue
        if table is None:
            raise KplabError(f"{where}: {line.split()[0]!r} outside a table (expected *filter, *nat, ...)"
                             + _pasted_form(line))
        if line == "COMMIT":
            _check_table(table, source, partial)
            table = None
            continue
        if line[0] == ":":
            _declare_chain(table, line, where, lineno)
            continue
        if line[0] == "[":  # [packets:bytes] counters before the rule: not modelled
            line = line.partition("]")[2].strip()
        tokens = _tokens(line, where)
        if not tokens:
            raise KplabError(f"{where}: counters without a rule")
        chain = table.chains.get(tokens[1]) if len(tokens) > 1 and tokens[0] == "-A" else None
        if chain is not None:  # the common case, `-A CHAIN rule...`, without the general command dispatch
            chain.rules.append(parse_rule_spec(chain.name, tokens[2:], where, lineno, stripped, cache))
        else:
            _command(table, tokens, where, lineno, stripped, cache)
    if table is not None:
        raise KplabError(f"{source}:{lineno}: table {table.name} (line {table_line}) has no COMMIT")
    return ruleset


_LISTING = re.compile(r"^Chain \S+ \((policy \w+|\d+ references)")


def _pasted_form(line: str) -> str:
    """What a paste that is not iptables-save text looks like, and the command that gives what kplab reads."""
    if _LISTING.match(line):
        return ("; this is `iptables -L` output, which drops detail kplab needs (marks, [goto], exact matches) "
                "and cannot be read back: run `iptables-save` (or `iptables-save -c`) on the node and pass that")
    if line.startswith(("-A ", "-I ", "-N ")):
        return ("; this looks like a fragment of iptables-save output (e.g. `iptables-save | grep ...`): it has no "
                "*table header, chain lines or COMMIT, and the rules that lead to these are missing: pass the "
                "whole `iptables-save` output")
    return ""


def dump_warnings(text: str) -> list[str]:
    """Signs in a dump's comment lines that it is not the node's whole rule set: iptables-nft-save says when
    legacy tables also exist (the kernel runs both; the other half is not in this text) or when a table was
    made by another nft tool."""
    found = []
    for lineno, line in enumerate(text.splitlines()[:2000], start=1):
        if not line.startswith("#"):
            continue
        if "legacy tables present" in line:
            found.append(f"line {lineno}: {line[1:].strip()!r}: the node also has iptables-legacy rules, which "
                         f"the kernel runs too and this dump lacks; add `iptables-legacy-save` output")
        elif "is incompatible, use 'nft' tool" in line:
            found.append(f"line {lineno}: {line[1:].strip()!r}: that table holds nft rules iptables-nft-save "
                         f"cannot print, so they are missing here (see `nft list ruleset`)")
    return found


def unreached_chains(ruleset: "Ruleset") -> list[str]:
    """`table/chain` of user chains with rules that no built-in chain leads to: a payload like kube-proxy's
    restore input, whose jumps from PREROUTING/OUTPUT... are installed separately, walks none of them."""
    out = []
    for table in ruleset.tables.values():
        reached: set[str] = set()
        todo = [c.name for c in table.chains.values() if c.builtin]
        while todo:
            name = todo.pop()
            for rule in table.chains[name].rules:
                if rule.target in table.chains and rule.target not in reached and not table.chains[rule.target].builtin:
                    reached.add(rule.target)
                    todo.append(rule.target)
        out += [f"{table.name}/{c.name}" for c in table.chains.values()
                if not c.builtin and c.rules and c.name not in reached]
    return out


def _declare_chain(table: Table, line: str, where: str, lineno: int) -> None:
    parts = line[1:].split()
    if len(parts) < 2:
        raise KplabError(f"{where}: chain declaration needs ':NAME POLICY [packets:bytes]'")
    name, policy = parts[0], parts[1]
    counters = (0, 0)
    if len(parts) > 2 and parts[2] != "[0:0]":
        m = _COUNTERS.fullmatch(parts[2])
        if not m:
            raise KplabError(f"{where}: bad counters {parts[2]!r}")
        counters = (int(m.group(1)), int(m.group(2)))
    if name in BUILTIN_CHAINS[table.name]:
        if policy == "-":
            policy = table.chains[name].policy or "ACCEPT"
        if policy not in POLICIES:
            raise KplabError(f"{where}: bad policy {policy!r} for built-in chain {name} (ACCEPT or DROP)")
        chain = table.chains[name]
        chain.policy, chain.counters, chain.line = policy, counters, lineno
        chain.rules = []  # restore flushes a declared chain
        return
    if policy != "-":
        raise KplabError(f"{where}: user chain {name} cannot have a policy ({policy!r}); write '-'")
    _check_chain_name(name, where)
    table.chains[name] = Chain(name, None, [], counters, lineno)


def _check_chain_name(name: str, where: str) -> None:
    if len(name) > _MAX_CHAIN_NAME:
        raise KplabError(f"{where}: chain name {name!r} is longer than {_MAX_CHAIN_NAME} characters")
    if name in BUILTIN_TARGETS or name.startswith("-") or name == "!":
        raise KplabError(f"{where}: invalid chain name {name!r}")


def _command(table: Table, tokens: list[str], where: str, lineno: int, text: str,
             cache: ParseCache | None = None) -> None:
    cmd = tokens[0]
    if cmd in ("-A", "--append", "-I", "--insert"):
        if len(tokens) < 2:
            raise KplabError(f"{where}: {cmd} needs a chain name")
        chain_name = tokens[1]
        chain = table.chains.get(chain_name)
        if chain is None:
            raise KplabError(f"{where}: chain {chain_name} does not exist in table {table.name}")
        rest = tokens[2:]
        position = len(chain.rules)
        if cmd in ("-I", "--insert"):
            position = 0
            if rest and rest[0].isdigit():
                position = int(rest[0]) - 1
                rest = rest[1:]
                if not 0 <= position <= len(chain.rules):
                    raise KplabError(f"{where}: cannot insert at position {position + 1} of chain {chain_name}")
        rule = parse_rule_spec(chain.name, rest, where, lineno, text, cache)
        chain.rules.insert(position, rule)
    elif cmd in ("-N", "--new-chain"):
        if len(tokens) != 2:
            raise KplabError(f"{where}: -N needs exactly one chain name")
        if tokens[1] in table.chains:
            raise KplabError(f"{where}: chain {tokens[1]} already exists")
        _check_chain_name(tokens[1], where)
        table.chains[tokens[1]] = Chain(tokens[1], None, [], (0, 0), lineno)
    elif cmd in ("-X", "--delete-chain"):
        names = tokens[1:] or [c.name for c in table.chains.values() if not c.builtin]
        for name in names:
            chain = table.chains.get(name)
            if chain is None:
                raise KplabError(f"{where}: cannot delete chain {name}: it does not exist")
            if chain.builtin:
                raise KplabError(f"{where}: cannot delete built-in chain {name}")
            del table.chains[name]
    elif cmd in ("-F", "--flush"):
        names = tokens[1:] or list(table.chains)
        for name in names:
            if name not in table.chains:
                raise KplabError(f"{where}: cannot flush chain {name}: it does not exist")
            table.chains[name].rules = []
    elif cmd in ("-P", "--policy"):
        if len(tokens) != 3 or tokens[1] not in BUILTIN_CHAINS[table.name] or tokens[2] not in POLICIES:
            raise KplabError(f"{where}: -P needs a built-in chain and ACCEPT or DROP")
        table.chains[tokens[1]].policy = tokens[2]
    else:
        raise KplabError(f"{where}: unknown command {cmd!r}")


_SHORT_FLAG = {"src": "-s", "dst": "-d", "in_iface": "-i", "out_iface": "-o", "protocol": "-p"}
# Names iptables takes for -p (its built-in table and /etc/protocols' usual entries), besides numbers 0-255.
_PROTOCOL_NAMES = frozenset({"all", "tcp", "udp", "udplite", "icmp", "icmpv6", "ipv6-icmp", "esp", "ah", "sctp",
                             "mh", "gre", "ipip", "ipencap", "dccp", "igmp", "ipv6", "ospf", "vrrp", "pim", "l2tp",
                             "ipv6-route", "ipv6-frag", "ipv6-nonxt", "ipv6-opts", "ip", "hopopt", "egp", "pup",
                             "rdp", "idp", "xtp", "ddp", "idpr-cmtp", "rsvp", "skip", "etherip", "encap", "isis",
                             "ipcomp", "fc", "mpls-in-ip", "manet", "hip", "shim6", "wesp", "rohc", "ethernet"})


def _known_protocol(value: str) -> bool:
    return value.lower() in _PROTOCOL_NAMES or (value.isdigit() and int(value) <= 255)


def _norm_protocol(value: str) -> str | None:
    value = value.lower()
    value = _PROTOCOL_NUMBERS.get(value, value)
    if value in ("all", "0"):
        return None
    if value == "icmpv6":
        return "ipv6-icmp"
    return value


_HEADER_FLAGS = {"-s": "src", "--source": "src", "--src": "src", "-d": "dst", "--destination": "dst", "--dst": "dst",
                 "-i": "in_iface", "--in-interface": "in_iface", "-o": "out_iface", "--out-interface": "out_iface",
                 "-p": "protocol", "--protocol": "protocol"}
_JUMP_FLAGS = {"-j": False, "--jump": False, "-g": True, "--goto": True}  # flag -> goto
_NAMING_FLAGS = {"-m", "--match", "-p", "--protocol"}  # their value shapes the rule (as does a built-in target)
_SHAPE_WORDS = {"!", *TARGET_SPECS}  # kept in a shape key, like every token that starts with "-"
_PROTOCOL_MATCHES = {"tcp": "tcp", "udp": "udp", "sctp": "sctp", "icmp": "icmp", "icmp6": "ipv6-icmp"}
_TARGET = -1  # module index of the target's options in a shape's steps
_FIELD = {name: i for i, name in enumerate(RULE_FIELDS)}
_RULE_DEFAULTS = tuple(getattr(Rule(chain=""), name) for name in RULE_FIELDS)  # a row before reading
(_CHAIN, _SRC, _DST, _MATCHES, _TARGET_FIELD, _TARGET_OPTIONS_FIELD, _GOTO, _LINE, _SOURCE_TEXT) = (
    _FIELD[name] for name in ("chain", "src", "dst", "matches", "target", "target_options", "goto", "line",
                              "source_text"))


def _by_flag(specs: tuple[OptionSpec, ...]) -> dict[str, OptionSpec]:
    """Flag (name or alias) -> spec; the first spec that knows a flag wins, as in a linear search."""
    table: dict[str, OptionSpec] = {}
    for spec in specs:
        for flag in (spec.name, *spec.aliases):
            table.setdefault(flag, spec)
    return table


_MATCH_OPTIONS = {name: _by_flag(specs) for name, specs in MATCH_SPECS.items()}
_TARGET_OPTIONS = {name: _by_flag(specs) for name, specs in TARGET_SPECS.items()}


class ParseCache:
    """What one parse has already worked out, so that each distinct rule shape, option, match and target is
    read, checked and compiled once. A kube-proxy dump repeats a handful of rule shapes with different values;
    Option and Match are immutable values, so rules share them. (Rules themselves are never shared:
    `-m statistic --mode nth` counts per rule object.)"""
    __slots__ = ("shapes", "options", "matches", "targets", "addresses")

    def __init__(self) -> None:
        self.shapes: dict[tuple, RuleShape] = {}
        self.options: dict[tuple, Option] = {}
        self.matches: dict[tuple, Match] = {}
        self.targets: dict[tuple, tuple[Option, ...]] = {}
        self.addresses: dict[str, tuple[str, AddressTest]] = {}


def shape_key(tokens: list[str]) -> tuple:
    """The tokens with the free values blanked out: flags, '!', the names after -m and -p and built-in targets
    are kept, so two rules with the same key are read the same way (only their values differ; a jump to a
    user chain is a value)."""
    key: list[str | None] = []
    keep_next = False
    for tok in tokens:
        if keep_next or tok in _SHAPE_WORDS or tok[:1] == "-":
            key.append(tok)
            keep_next = tok in _NAMING_FLAGS
        else:
            key.append(None)
            keep_next = False
    return tuple(key)


class RuleShape:
    """How to read every rule of one shape: the steps that read its values, in token order (so the first
    fault in the rule is the one reported), the match modules, the target.

    Steps (fields are Rule field indexes, positions token indexes):
    ("set", field, value) | ("address", field, test field, negated field, position, negated, flag) |
    ("iface", field, negated field, position, negated) | ("option", module index, spec, key prefix, start, end,
    flag) | ("error", message) — a fault that needs no values (unknown option...), raised when reached.
    """
    __slots__ = ("steps", "modules", "_names", "target", "target_position", "goto", "protocol", "protocol_negated",
                 "faulty", "row", "addresses", "ifaces", "match_parts", "target_part")

    def __init__(self, tokens: list[str]):
        self.steps: list[tuple] = []
        self._names: list[str] = []  # match module names, in the order their Match objects are built
        self.modules: list[tuple[str, str | None]] = []  # (name, fault: a protocol match without its -p)
        self.target: str | None = None  # as read from the first rule of this shape; a user chain's name varies
        self.target_position: int | None = None
        self.goto = False
        self.protocol: str | None = None
        self.protocol_negated = False
        try:
            self._read(tokens)
        except _ShapeError as e:
            self.steps.append(("error", str(e)))
        self.modules = [(name, self._protocol_fault(name)) for name in self._names]
        self._plan_fast_path()

    def _plan_fast_path(self) -> None:
        """What `_build_rule` needs: the constant fields in a row template, where the addresses and interfaces
        are, and for each match (and the target) a key made of its option layout and a getter of its value
        tokens — so a rule whose matches were seen before costs a few dictionary lookups."""
        self.faulty = any(step[0] == "error" for step in self.steps) or any(fault for _, fault in self.modules)
        self.row = list(_RULE_DEFAULTS)
        self.addresses: list[tuple[int, int, int]] = []  # (field, test field, token position)
        self.ifaces: list[tuple[int, int]] = []  # (field, token position)
        options: dict[int, list[tuple]] = {}  # module index -> its option steps
        for step in self.steps:
            if step[0] == "set":
                self.row[step[1]] = step[2]
            elif step[0] == "address":
                _, field, test_field, negated_field, position, negate, _flag = step
                self.row[negated_field] = negate
                self.addresses.append((field, test_field, position))
            elif step[0] == "iface":
                _, field, negated_field, position, negate = step
                self.row[negated_field] = negate
                self.ifaces.append((field, position))
            elif step[0] == "option":
                options.setdefault(step[1], []).append(step)
        # parts: (module name or None for the target, layout key, value getter, option steps)
        self.match_parts = [_part(name, options.get(index, [])) for index, (name, _) in enumerate(self.modules)]
        self.target_part = _part(None, options.get(_TARGET, []))

    def _protocol_fault(self, name: str) -> str | None:
        wanted = _PROTOCOL_MATCHES.get(name)
        if wanted is not None and (self.protocol != wanted or self.protocol_negated):
            return f"match {name} needs '-p {wanted}' (the kernel refuses it otherwise)"
        return None

    def _read(self, tokens: list[str]) -> None:
        steps = self.steps
        seen: dict[int, list[str]] = {}  # module index -> option names given so far
        header_seen: set[str] = set()  # -s -d -i -o -p: each at most once ("multiple -s flags not allowed")
        negate = False
        i, n = 0, len(tokens)

        def value_at(k: int, flag: str) -> str:
            if k >= n:
                raise _ShapeError(f"option {flag} needs a value")
            return tokens[k]

        while i < n:
            tok = tokens[i]
            if tok == "!":
                if negate:
                    raise _ShapeError("double '!'")
                negate = True
                i += 1
                continue
            key = _HEADER_FLAGS.get(tok)
            if key is not None:
                value = value_at(i + 1, tok)
                if key in header_seen:
                    raise _ShapeError(f"multiple {_SHORT_FLAG[key]} flags not allowed")
                header_seen.add(key)
                if key == "protocol":
                    if not _known_protocol(value):
                        raise _ShapeError(f'unknown protocol "{value}" specified')
                    self.protocol = _norm_protocol(value)
                    self.protocol_negated = negate and self.protocol is not None
                    steps.append(("set", _FIELD["protocol"], self.protocol))
                    steps.append(("set", _FIELD["protocol_negated"], self.protocol_negated))
                elif key == "src" or key == "dst":
                    steps.append(("address", _FIELD[key], _FIELD["_" + key + "_test"], _FIELD[key + "_negated"],
                                  i + 1, negate, tok))
                else:
                    negated_field = "in_negated" if key == "in_iface" else "out_negated"
                    steps.append(("iface", _FIELD[key], _FIELD[negated_field], i + 1, negate))
                i += 2
            elif tok == "-m" or tok == "--match":
                if negate:
                    raise _ShapeError("'!' cannot negate -m")
                name = value_at(i + 1, tok)
                if name not in MATCH_SPECS:
                    raise _ShapeError(f"unknown match {name!r}")
                self._names.append(name)
                i += 2
            elif tok in _JUMP_FLAGS:
                if negate:
                    raise _ShapeError(f"'!' cannot negate {tok}")
                if self.target is not None:
                    raise _ShapeError("more than one target")
                self.target = value_at(i + 1, tok)
                self.target_position = i + 1
                self.goto = _JUMP_FLAGS[tok]
                if self.goto and self.target in BUILTIN_TARGETS:
                    raise _ShapeError(f"-g needs a user chain, not {self.target}")
                i += 2
            elif tok == "-c" or tok == "--set-counters":
                i += 3
            elif tok.startswith("-") and len(tok) > 1:
                spec, module = self._find_option(tok)
                if spec.nargs == 1 and spec.kind == "text":
                    j = i + 1
                    while j < n and not (tokens[j].startswith("-") and j > i + 1) and tokens[j] != "!":
                        j += 1
                    if j == i + 1:
                        raise _ShapeError(f"option {tok} needs a value")
                elif spec.kind == "flag":
                    j = i + 1
                elif spec.kind == "words":  # an option kplab reads but does not evaluate: values up to the next
                    j = i + 1               # option, as iptables-save prints them (one quoted word each)
                    while j < n and tokens[j] != "!" and not (tokens[j][:1] == "-" and len(tokens[j]) > 1):
                        j += 1
                else:
                    j = i + 1 + spec.nargs
                    if j > n:
                        raise _ShapeError(f"option {tok} needs {spec.nargs} value(s)")
                steps.append(("option", module, spec, (spec.name, spec.kind, negate), i + 1, j, tok))
                given = seen.setdefault(module, [])
                if spec.name in given:
                    raise _ShapeError(f"option {tok} given twice")
                given.append(spec.name)
                i = j
            else:
                raise _ShapeError(f"unexpected argument {tok!r}")
            negate = False
        if negate:
            raise _ShapeError("'!' at the end of the rule")

    def _find_option(self, flag: str) -> tuple[OptionSpec, int]:
        """Which module an option belongs to: the target's, else the latest `-m` that knows it, else the
        protocol's implicit match (`-p tcp --dport 80`), as iptables resolves it."""
        target = self.target
        if target is not None and target in _TARGET_OPTIONS:
            spec = _TARGET_OPTIONS[target].get(flag)
            if spec is not None:
                return spec, _TARGET
        for index in range(len(self._names) - 1, -1, -1):
            spec = _MATCH_OPTIONS[self._names[index]].get(flag)
            if spec is not None:
                return spec, index
        implicit = IMPLICIT.get(str(self.protocol)) if self.protocol else None
        if implicit:
            spec = _MATCH_OPTIONS[implicit].get(flag)
            if spec is not None:
                if implicit not in self._names:
                    self._names.append(implicit)
                return spec, self._names.index(implicit)
        if target is not None and target not in TARGET_SPECS:
            raise _ShapeError(f"unknown option {flag!r} (target {target} is a chain and takes no options)")
        raise _ShapeError(f"unknown option {flag!r}")


def _part(name: str | None, steps: list[tuple]) -> tuple:
    layout = (name, tuple((step[3], step[5] - step[4]) for step in steps))  # (key prefix, number of values)
    positions = [k for step in steps for k in range(step[4], step[5])]
    values = itemgetter(*positions) if positions else _no_values
    return name, layout, values, steps


def _no_values(tokens: list[str]) -> tuple:
    return ()


class _ShapeError(Exception):
    """A fault found while reading a rule's shape (message without the `source:line: ` prefix)."""


def parse_rule_spec(chain: str, tokens: list[str], where: str, lineno: int = 0, text: str = "",
                    cache: ParseCache | None = None) -> Rule:
    """Read the part of a rule after `-A CHAIN` into a Rule (KplabError naming the line and the fault)."""
    if cache is None:
        cache = ParseCache()
    key = shape_key(tokens)
    shape = cache.shapes.get(key)
    if shape is None:
        shape = cache.shapes[key] = RuleShape(tokens)
    if not shape.faulty:
        try:
            return _build_rule(shape, chain, tokens, lineno, text, cache)
        except (KplabError, ValueError):
            pass  # a bad value somewhere: read again step by step, so the first fault is the one reported
    return _build_rule_in_order(shape, chain, tokens, where, lineno, text, cache)


def _build_rule(shape: RuleShape, chain: str, tokens: list[str], lineno: int, text: str, cache: ParseCache) -> Rule:
    """The fast path: the rule's matches and target looked up by their values (built on first sight)."""
    row = shape.row.copy()
    for field, test_field, position in shape.addresses:
        value = tokens[position]
        address = cache.addresses.get(value)
        if address is None:
            address = cache.addresses[value] = read_address(value)
        row[field], row[test_field] = address
    for field, position in shape.ifaces:
        if len(tokens[position]) > _MAX_IFACE:
            raise ValueError("interface name")  # read again in order for the message
        row[field] = tokens[position]
    built: list[Match] = []
    for name, layout, values, steps in shape.match_parts:
        match_key = (layout, values(tokens))
        match = cache.matches.get(match_key)
        if match is None:
            match = cache.matches[match_key] = build_match(name, [_option(step, tokens, cache) for step in steps])
        built.append(match)
    target = None if shape.target_position is None else sys.intern(tokens[shape.target_position])
    target_options: tuple[Option, ...] = ()
    if target in BUILTIN_TARGETS:
        _, layout, values, steps = shape.target_part
        ipv6 = ":" in (row[_DST] or row[_SRC] or "")
        target_key = (target, ipv6, layout, values(tokens))
        target_options = cache.targets.get(target_key)
        if target_options is None:
            target_options = cache.targets[target_key] = canonical_target(
                target, [_option(step, tokens, cache) for step in steps], ipv6=ipv6)
    row[_CHAIN], row[_MATCHES], row[_TARGET_FIELD], row[_TARGET_OPTIONS_FIELD] = \
        chain, tuple(built), target, target_options
    row[_GOTO], row[_LINE], row[_SOURCE_TEXT] = shape.goto, lineno, text
    return rule_from_values(row)


def _option(step: tuple, tokens: list[str], cache: ParseCache) -> Option:
    _, _module, spec, prefix, start, end, _flag = step
    values = tokens[start:end]
    option_key = (prefix, *values)
    option = cache.options.get(option_key)
    if option is None:
        option = cache.options[option_key] = Option(spec.name, normalise(spec, values), prefix[2])
    return option


def _build_rule_in_order(shape: RuleShape, chain: str, tokens: list[str], where: str, lineno: int, text: str,
                         cache: ParseCache) -> Rule:
    """The careful path: every value read in token order, then the matches and the target, as iptables does,
    raising KplabError at the first fault."""
    row = list(_RULE_DEFAULTS)  # the new Rule's fields, in order
    keys: list[list[tuple]] = [[] for _ in range(len(shape.modules) + 1)]  # option keys by module; [-1]: target
    for step in shape.steps:
        kind = step[0]
        if kind == "option":
            _, module, spec, prefix, start, end, flag = step
            values = tokens[start:end]
            option_key = (prefix, *values)
            if option_key not in cache.options:
                try:
                    cache.options[option_key] = Option(spec.name, normalise(spec, values), prefix[2])
                except ValueError as e:
                    raise KplabError(f"{where}: {flag}: {e}") from None
            keys[module].append(option_key)
        elif kind == "address":
            _, field, test_field, negated_field, position, negate, flag = step
            value = tokens[position]
            address = cache.addresses.get(value)
            if address is None:
                if "," in value:
                    raise KplabError(f"{where}: {flag} with several addresses expands to several rules; "
                                     f"write one rule each")
                try:
                    address = cache.addresses[value] = read_address(value)
                except ValueError as e:
                    raise KplabError(f"{where}: {e}") from None
            row[field], row[test_field] = address
            row[negated_field] = negate
        elif kind == "iface":
            _, field, negated_field, position, negate = step
            if len(tokens[position]) > _MAX_IFACE:
                raise KplabError(f"{where}: interface name `{tokens[position]}' must be shorter than IFNAMSIZ "
                                 f"({_MAX_IFACE})")
            row[field] = tokens[position]
            row[negated_field] = negate
        elif kind == "set":
            row[step[1]] = step[2]
        else:
            raise KplabError(f"{where}: {step[1]}")

    built: list[Match] = []
    for index, (name, fault) in enumerate(shape.modules):
        if fault:
            raise KplabError(f"{where}: {fault}")
        match_key = (name, *keys[index])
        match = cache.matches.get(match_key)
        if match is None:
            try:
                match = cache.matches[match_key] = build_match(name, [cache.options[k] for k in keys[index]])
            except ValueError as e:
                raise KplabError(f"{where}: {name}: {e}") from None
        built.append(match)
    target = None if shape.target_position is None else sys.intern(tokens[shape.target_position])
    target_options: tuple[Option, ...] = ()
    if target in BUILTIN_TARGETS:
        ipv6 = ":" in (row[_DST] or row[_SRC] or "")
        target_key = (target, ipv6, *keys[_TARGET])
        target_options = cache.targets.get(target_key)
        if target_options is None:
            try:
                target_options = canonical_target(target, [cache.options[k] for k in keys[_TARGET]], ipv6=ipv6)
            except ValueError as e:
                raise KplabError(f"{where}: {target}: {e}") from None
            cache.targets[target_key] = target_options
    row[_CHAIN], row[_MATCHES], row[_TARGET_FIELD], row[_TARGET_OPTIONS_FIELD] = \
        chain, tuple(built), target, target_options
    row[_GOTO], row[_LINE], row[_SOURCE_TEXT] = shape.goto, lineno, text
    return rule_from_values(row)


_RESTORE_CHECKED = frozenset({"DNAT", "SNAT", "MASQUERADE", "REDIRECT", "REJECT"})
_PORT_PROTOCOLS = frozenset({"tcp", "udp", "sctp", "dccp", "icmp"})  # icmp: its id is the "port" (iptables 1.8.9 takes it)


def _check_restore(rule: Rule, table: str, source: str, families: dict[int, Rule]) -> None:
    """What iptables-restore or the kernel refuses in a rule that parses: one address family per dump (iptables
    and ip6tables are separate), NAT ports only with a port protocol (libxt_DNAT "Need TCP, UDP, SCTP or DCCP with
    port specification"), REJECT only in the filter table (xt_REJECT's .table) and its tcp-reset only for -p tcp
    (reject_tg_check: EINVAL)."""
    where = f"{source}:{rule.line}"
    versions = [6 if ":" in a else 4 for a in (rule.src, rule.dst) if a is not None]
    if rule.target in ("DNAT", "SNAT"):
        for o in rule.target_options:
            if o.name in ("--to-destination", "--to-source"):
                versions.append(6 if o.values[0].startswith("[") or o.values[0].count(":") > 1 else 4)
    for family in versions:
        first = families.setdefault(family, rule)
        other = families.get(10 - family)
        if other is not None and first is rule:
            raise KplabError(f"{where}: an IPv{family} address in a rule set of IPv{10 - family} rules (line "
                             f"{other.line}): iptables-save and ip6tables-save print separate dumps")
    if rule.target in ("DNAT", "SNAT", "MASQUERADE", "REDIRECT"):
        ports = any(o.name == "--to-ports" or (o.name in ("--to-destination", "--to-source")
                                               and (o.values[0].count(":") == 1 or "]:" in o.values[0]))
                    for o in rule.target_options)
        if ports and (rule.protocol not in _PORT_PROTOCOLS or rule.protocol_negated):
            raise KplabError(f"{where}: {rule.target}: Need TCP, UDP, SCTP or DCCP with port specification")
    elif rule.target == "REJECT":
        if table != "filter":
            raise KplabError(f"{where}: REJECT: only valid in the filter table, not {table} (RULE_APPEND failed "
                             "(Invalid argument))")
        if any(o.values[0] == "tcp-reset" for o in rule.target_options) and (
                rule.protocol != "tcp" or rule.protocol_negated):
            raise KplabError(f"{where}: REJECT --reject-with tcp-reset needs -p tcp (RULE_APPEND failed (Invalid "
                             "argument))")


def _check_table(table: Table, source: str, partial: bool) -> None:
    """At COMMIT: every jump must reach an existing user chain, and no chain may reach itself (the kernel
    refuses loops with ELOOP)."""
    families: dict[int, Rule] = {}  # address family -> first rule that used it
    for chain in table.chains.values():
        for rule in chain.rules:
            if rule.src is not None or rule.dst is not None or rule.target in _RESTORE_CHECKED:
                _check_restore(rule, table.name, source, families)
            if rule.target is None or rule.target in BUILTIN_TARGETS:  # rule.jumps_to_chain, inlined: 300k rules
                continue
            target = table.chains.get(rule.target)
            if target is None:
                if partial:
                    continue
                raise KplabError(f"{source}:{rule.line}: jump to chain {rule.target} which does not exist in "
                                 f"table {table.name} (unknown target or missing ':{rule.target} - [0:0]')")
            if target.builtin:
                raise KplabError(f"{source}:{rule.line}: cannot jump to built-in chain {rule.target}")
    # Depth-first search without recursion (a dump may nest chains thousands deep): the stack holds each open
    # chain with the jump that entered it and how many of its rules were looked at.
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in table.chains:
        if root in state:
            continue
        state[root] = 1
        stack: list[tuple[str, Rule | None, int]] = [(root, None, 0)]
        while stack:
            name, via, k = stack[-1]
            rules = table.chains[name].rules
            while k < len(rules):
                rule = rules[k]
                k += 1
                nxt = rule.target
                if nxt not in table.chains or nxt in BUILTIN_TARGETS:  # None is in neither
                    continue
                if state.get(nxt) == 1:
                    path = [c for c, _, _ in stack]
                    names = " -> ".join(path[path.index(nxt):] + [nxt])
                    raise KplabError(f"{source}:{rule.line}: jump loop in table {table.name}: {names}")
                if nxt not in state:
                    stack[-1] = (name, via, k)
                    state[nxt] = 1
                    stack.append((nxt, rule, 0))
                    break
            else:
                state[name] = 2
                stack.pop()


def rule_words(spec: str, where: str = "<rule>") -> list[str]:
    """A rule's text split into words as iptables-restore splits it (shell quoting: `--comment "a b"` is one
    word). KplabError naming `where` when a quote is unbalanced."""
    return _tokens(spec, where)


def rule_target(words: list[str], cache: ParseCache | None = None) -> str | None:
    """The target or chain a rule jumps to (`-j`/`-g`), from its words after `-A CHAIN`, read the way
    parse_rule_spec reads it; None for a rule without one. `cache` keeps each rule shape's reading across calls
    (a kube-proxy payload repeats a few shapes)."""
    key = shape_key(words)
    shape = cache.shapes.get(key) if cache is not None else None
    if shape is None:
        shape = RuleShape(words)
        if cache is not None:
            cache.shapes[key] = shape
    return None if shape.target_position is None else words[shape.target_position]
