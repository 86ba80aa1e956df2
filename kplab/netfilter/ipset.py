"""IP sets as data, read from `ipset save` or `ipset list` text, for `-m set --match-set NAME src|dst`.

Types: hash:ip, hash:net, hash:ip,port, hash:net,port, list:set (the ones Calico and kube-router use).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from kplab.errors import KplabError
from kplab.netfilter.packet import Packet

TYPES = ("hash:ip", "hash:net", "hash:ip,port", "hash:net,port", "list:set")


@dataclass
class IPSet:
    name: str
    type: str
    family: str = "inet"
    members: list[str] = field(default_factory=list)

    def contains(self, packet: Packet, directions: list[str], sets: "IPSets") -> bool:
        def addr(d: str) -> str:
            return packet.src if d == "src" else packet.dst

        def port(d: str) -> int | None:
            return packet.sport if d == "src" else packet.dport
        if self.type == "list:set":
            return any(sets.contains(m, packet, directions) for m in self.members)
        address = ipaddress.ip_address(addr(directions[0]))
        for member in self.members:
            parts = member.split(",")
            try:
                if self.type.startswith("hash:ip") and "/" not in parts[0]:
                    ok = address == ipaddress.ip_address(parts[0])
                else:
                    net = ipaddress.ip_network(parts[0], strict=False)
                    ok = address.version == net.version and address in net
            except ValueError:
                continue
            if ok and self.type.endswith(",port"):
                d = directions[1] if len(directions) > 1 else directions[0]
                proto, _, number = parts[1].rpartition(":")
                ok = (proto or "tcp") == packet.protocol and str(port(d)) == number
            if ok:
                return True
        return False


class IPSets:
    def __init__(self, sets: dict[str, IPSet] | None = None):
        self.sets = sets or {}

    def contains(self, name: str, packet: Packet, directions: list[str]) -> bool:
        ipset = self.sets.get(name)
        if ipset is None:
            raise KplabError(f"-m set: ipset {name} is not defined (pass its `ipset save` text)")
        return ipset.contains(packet, directions, self)

    def merge(self, other: "IPSets") -> "IPSets":
        return IPSets({**self.sets, **other.sets})

    def __contains__(self, name: str) -> bool:
        return name in self.sets


def parse_ipsets(text: str, source: str = "<ipsets>") -> IPSets:
    """Read `ipset save` (create/add lines) or `ipset list` (Name:/Type:/Members:) text."""
    sets: dict[str, IPSet] = {}
    current: IPSet | None = None
    in_members = False
    set_members: list[tuple[str, str, str]] = []  # (list:set, member, where): checked once every set is known
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{source}:{lineno}"
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] == "create":
            if len(words) < 3:
                raise KplabError(f"{where}: create needs a name and a type")
            _check_type(words[2], where)
            family = words[words.index("family") + 1] if "family" in words else "inet"
            sets[words[1]] = IPSet(words[1], words[2], family)
        elif words[0] == "add":
            if len(words) < 3 or words[1] not in sets:
                raise KplabError(f"{where}: add to an unknown set {words[1] if len(words) > 1 else ''!r}")
            sets[words[1]].members.append(_member(words[2], sets[words[1]].type, where))
            if sets[words[1]].type == "list:set":
                set_members.append((words[1], words[2], where))
        elif line.startswith("Name:"):
            current = IPSet(line.split(":", 1)[1].strip(), "")
            sets[current.name] = current
            in_members = False
        elif line.startswith("Type:") and current is not None:
            current.type = line.split(":", 1)[1].strip()
            _check_type(current.type, where)
        elif line.startswith("Members:"):
            in_members = True
        elif in_members and current is not None:
            current.members.append(_member(words[0], current.type, where))
            if current.type == "list:set":
                set_members.append((current.name, words[0], where))
        elif ":" in line and current is not None:
            continue  # Revision:, Header:, Size in memory:, References:, Number of entries:
        else:
            raise KplabError(f"{where}: cannot read {line!r} as ipset save or ipset list text")
    for name, member, where in set_members:  # the kernel's list:set rules (ip_set_list_set.c)
        if member not in sets:
            raise KplabError(f"{where}: add {member} to {name}: Set to be added/deleted/tested as element does not "
                             "exist.")
        if sets[member].type == "list:set":
            raise KplabError(f"{where}: add {member} to {name}: Sets with list:set type cannot be added to the set.")
    return IPSets(sets)


def _check_type(kind: str, where: str) -> None:
    if kind not in TYPES:
        raise KplabError(f"{where}: ipset type {kind!r} is not modelled (known: {', '.join(TYPES)})")


def _member(text: str, kind: str, where: str) -> str:
    if kind == "list:set":
        return text
    address = text.split(",")[0]
    try:
        ipaddress.ip_network(address, strict=False)
    except ValueError:
        raise KplabError(f"{where}: bad ipset member {text!r}") from None
    return text
