"""NodeTables: a node's iptables state as kube-proxy sees it — what `iptables-restore --noflush` does to it,
what `iptables-save` shows back.

This is a model of the iptables *userspace contract*, not of packet processing (that is kplab.netfilter): a chain
line creates or flushes a chain, `-A` appends, `-X` deletes an empty, unreferenced chain, and each table commits
atomically — so a partial restore that would leave a dangling jump fails, as it does on a node.

NodeTables reads the restore *commands* (`*table`, `:CHAIN`, `-A CHAIN`, `-X CHAIN`, COMMIT); each rule after
`-A CHAIN` is read by kplab.netfilter (its words and its target, as parse_ruleset reads them), and the built-in
chains and targets are netfilter's.
"""
from __future__ import annotations

from collections import Counter

from kplab.errors import KplabError
from kplab.netfilter.rule import BUILTIN_TARGETS
from kplab.netfilter.ruleset import BUILTIN_CHAINS, ParseCache, rule_target, rule_words

TABLE_ORDER = ("filter", "nat", "mangle")  # the tables kube-proxy writes, in the order iptables-save prints them


class RestoreError(KplabError):
    """iptables-restore refused the payload (nothing of the failing table was applied)."""


class NodeTables:
    """Each table's chains, each chain's rules as written (the text after `-A CHAIN`), and the built-in chains'
    policies."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, list[str]]] = {
            t: {c: [] for c in BUILTIN_CHAINS[t]} for t in TABLE_ORDER}
        self.policies: dict[tuple[str, str], str] = {
            (t, c): "ACCEPT" for t in TABLE_ORDER for c in BUILTIN_CHAINS[t]}
        self._targets: dict[str, str | None] = {}  # rule text -> its target, as netfilter reads it
        self._cache = ParseCache()

    def copy(self) -> "NodeTables":
        other = NodeTables()
        other.tables = {t: {c: list(rules) for c, rules in chains.items()} for t, chains in self.tables.items()}
        other.policies = dict(self.policies)
        other._targets, other._cache = self._targets, self._cache  # text -> target never changes: shared
        return other

    def jump_target(self, spec: str, where: str = "<rule>") -> str | None:
        """The chain or target a rule (the text after `-A CHAIN`) jumps to, or None (kplab.netfilter reads it)."""
        target = self._targets.get(spec, False)
        if target is False:
            target = self._targets[spec] = rule_target(rule_words(spec, where), self._cache)
        return target

    # --- single commands (iptables -N / -I / -A) -------------------------------------------------------------
    def chains(self, table: str) -> list[str]:
        return list(self.tables[table])

    def has_chain(self, table: str, chain: str) -> bool:
        return chain in self.tables[table]

    def ensure_chain(self, table: str, chain: str) -> None:
        self.tables[table].setdefault(chain, [])

    def delete_chain(self, table: str, chain: str) -> None:
        self.tables[table].pop(chain, None)

    def ensure_rule(self, table: str, chain: str, spec: str, prepend: bool = True) -> None:
        """EnsureRule: add the rule unless an identical one exists (kube-proxy prepends its jump rules)."""
        rules = self.tables[table][chain]
        if spec not in rules:
            rules.insert(0, spec) if prepend else rules.append(spec)

    def append_rule(self, table: str, chain: str, spec: str) -> None:
        self._check_target(self.tables[table], table, spec, "iptables -A")
        self.tables[table][chain].append(spec)

    def rules(self, table: str, chain: str) -> list[str]:
        return list(self.tables[table].get(chain, []))

    # --- iptables-restore --noflush ----------------------------------------------------------------------------
    def restore(self, payload: str, source: str = "<restore>") -> None:
        """Apply a restore payload; raise RestoreError (naming the line) when iptables-restore would fail.
        Tables committed before the failing one stay applied, as with the real tool."""
        work: dict[str, list[str]] | None = None
        refs: Counter[str] | None = None  # jump targets of `work`, counted on the first -X
        table = ""
        for n, line in enumerate(payload.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{source}:{n}"
            if line.startswith("*"):
                table = line[1:]
                if table not in self.tables:
                    raise RestoreError(f"{where}: unknown table {table!r}")
                work = {c: list(rules) for c, rules in self.tables[table].items()}
                refs = None
            elif work is None:
                raise RestoreError(f"{where}: rule outside a table: {line!r}")
            elif line == "COMMIT":
                self.tables[table] = work
                work = None
            elif line.startswith(":"):
                name = line[1:].split()[0]
                if name in BUILTIN_CHAINS[table]:
                    policy = line.split()[1]
                    if policy != "-":
                        self.policies[(table, name)] = policy
                else:
                    if refs is not None:
                        refs.subtract(self.jump_target(r) for r in work.get(name, ()))
                    work[name] = []  # create, or flush an existing chain
            elif line.startswith("-A "):
                chain, _, spec = line[3:].partition(" ")
                if chain not in work:
                    raise RestoreError(f"{where}: chain {chain} does not exist")
                target = self._check_target(work, table, spec, where)
                work[chain].append(spec)
                if refs is not None:
                    refs[target] += 1
            elif line.startswith("-X "):
                chain = line[3:].strip()
                if chain not in work:
                    raise RestoreError(f"{where}: cannot delete chain {chain}: no such chain")
                if work[chain]:
                    raise RestoreError(f"{where}: cannot delete chain {chain}: it is not empty")
                if refs is None:
                    refs = Counter(self.jump_target(r) for rules in work.values() for r in rules)
                if refs[chain] > 0:
                    user = next(c for c, rules in work.items() for r in rules if self.jump_target(r) == chain)
                    raise RestoreError(f"{where}: cannot delete chain {chain}: still referenced from {user} "
                                       "(Too many links)")
                del work[chain]
            else:
                raise RestoreError(f"{where}: unsupported restore line {line!r}")
        if work is not None:
            raise RestoreError(f"{source}: table {table} has no COMMIT")

    def _check_target(self, work: dict[str, list[str]], table: str, spec: str, where: str) -> str | None:
        """The rule's target; RestoreError when it names neither a target iptables ships nor a chain of the table."""
        try:
            target = self.jump_target(spec, where)
        except KplabError as e:
            raise RestoreError(str(e)) from None
        if target and target not in work and target not in BUILTIN_TARGETS:
            raise RestoreError(f"{where}: jump to {target}, which is not a chain of table {table} "
                               "(Couldn't load target)")
        return target

    # --- iptables-save -------------------------------------------------------------------------------------------
    def save_text(self, tables: tuple[str, ...] = TABLE_ORDER) -> str:
        """The whole rule set in iptables-save syntax (rules as written, not as the kernel reprints them):
        built-in chains first with their policies, then the other chains in name order, as iptables-save lists them."""
        out: list[str] = []
        for t in tables:
            chains = self.tables[t]
            builtin = [c for c in BUILTIN_CHAINS[t]]
            user = sorted(c for c in chains if c not in BUILTIN_CHAINS[t])
            out.append(f"*{t}")
            out += [f":{c} {self.policies[(t, c)]} [0:0]" for c in builtin]
            out += [f":{c} - [0:0]" for c in user]
            for c in builtin + user:
                out += [f"-A {c} {r}" if r else f"-A {c}" for r in chains[c]]
            out.append("COMMIT")
        return "\n".join(out) + "\n"
