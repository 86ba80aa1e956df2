"""NodeTables: a node's iptables state as kube-proxy sees it — what `iptables-restore --noflush` does to it,
what `iptables-save` shows back.

This is a model of the iptables *userspace contract*, not of packet processing (that is kplab.netfilter): a chain
line creates or flushes a chain, `-A` appends, `-X` deletes an empty, unreferenced chain, and each table commits
atomically — so a partial restore that would leave a dangling jump fails, as it does on a node.
"""
from __future__ import annotations

import copy
from collections import Counter

from kplab.errors import KplabError

BUILTIN_CHAINS = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
}
TABLE_ORDER = ("filter", "nat", "mangle")
# Targets provided by extensions (not chains); a jump to anything else must name an existing chain.
EXTENSION_TARGETS = frozenset({
    "ACCEPT", "DROP", "RETURN", "REJECT", "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "MARK", "CONNMARK", "LOG",
    "NFLOG", "TRACE", "NOTRACK", "CT", "TPROXY", "CHECKSUM", "TCPMSS", "SET",
})


class RestoreError(KplabError):
    """iptables-restore refused the payload (nothing of the failing table was applied)."""


def jump_target(spec: str) -> str | None:
    """The chain or target after the last -j / -g of a rule spec."""
    s = " " + spec
    i = max(s.rfind(" -j "), s.rfind(" -g "))
    return s[i + 4:].split(" ", 1)[0] if i >= 0 else None


class NodeTables:
    def __init__(self) -> None:
        self.tables: dict[str, dict[str, list[str]]] = {
            t: {c: [] for c in BUILTIN_CHAINS[t]} for t in TABLE_ORDER}
        self.policies: dict[tuple[str, str], str] = {
            (t, c): "ACCEPT" for t in TABLE_ORDER for c in BUILTIN_CHAINS[t]}

    def copy(self) -> "NodeTables":
        return copy.deepcopy(self)

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
                work = copy.deepcopy(self.tables[table])
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
                        refs.subtract(jump_target(r) for r in work.get(name, ()))
                    work[name] = []  # create, or flush an existing chain
            elif line.startswith("-A "):
                chain, _, spec = line[3:].partition(" ")
                if chain not in work:
                    raise RestoreError(f"{where}: chain {chain} does not exist")
                self._check_target(work, table, spec, where)
                work[chain].append(spec)
                if refs is not None:
                    refs[jump_target(spec)] += 1
            elif line.startswith("-X "):
                chain = line[3:].strip()
                if chain not in work:
                    raise RestoreError(f"{where}: cannot delete chain {chain}: no such chain")
                if work[chain]:
                    raise RestoreError(f"{where}: cannot delete chain {chain}: it is not empty")
                if refs is None:
                    refs = Counter(jump_target(r) for rules in work.values() for r in rules)
                if refs[chain] > 0:
                    user = next(c for c, rules in work.items() for r in rules if jump_target(r) == chain)
                    raise RestoreError(f"{where}: cannot delete chain {chain}: still referenced from {user} "
                                       "(Too many links)")
                del work[chain]
            else:
                raise RestoreError(f"{where}: unsupported restore line {line!r}")
        if work is not None:
            raise RestoreError(f"{source}: table {table} has no COMMIT")

    @staticmethod
    def _check_target(work: dict[str, list[str]], table: str, spec: str, where: str) -> None:
        target = jump_target(spec)
        if target and target not in work and target not in EXTENSION_TARGETS:
            raise RestoreError(f"{where}: jump to {target}, which is not a chain of table {table} "
                               "(Couldn't load target)")

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
