"""State of `-m recent` (xt_recent): named lists of addresses with the times they were seen.

kube-proxy's ClientIP session affinity is built on it: the endpoint's DNAT rule does `--set --name KUBE-SEP-X`,
and the service chain first tries `--rcheck --seconds 10800 --reap --name KUBE-SEP-X` for each endpoint.
Times come from the Stack's clock, which the caller advances. Like the kernel, each address keeps its last 20
timestamps (ip_pkt_list_tot) and each list its 100 most recently seen addresses (ip_list_tot).
"""
from __future__ import annotations

import ipaddress

from kplab.netfilter.packet import Packet

PKT_LIST_TOT = 20
LIST_TOT = 100


class RecentLists:
    def __init__(self) -> None:
        self.lists: dict[str, dict[str, list[float]]] = {}

    def copy(self) -> "RecentLists":
        """Independent lists (each address's timestamps copied; copy.deepcopy is slow for what a walk copies)."""
        other = RecentLists()
        other.lists = {name: {key: list(stamps) for key, stamps in table.items()} for name, table in self.lists.items()}
        return other

    def entries(self, name: str) -> dict[str, list[float]]:
        return dict(self.lists.get(name, {}))

    def check(self, packet: Packet, now: float, action: str, name: str, seconds: int, hitcount: int, reap: bool,
              mask: str, use_dst: bool) -> tuple[bool, str]:
        """Run one recent match like xt_recent's recent_mt; returns (matched, note for the trace)."""
        address = packet.dst if use_dst else packet.src
        key = _masked(address, mask)
        table = self.lists.setdefault(name, {})
        stamps = table.get(key)
        if stamps is None:
            if action != "set":
                return False, f"recent {name}: {key} not in list"
            self._touch(table, key, now)
            return True, f"recent {name}: added {key}"
        if action == "set":
            matched = True
        elif action == "remove":
            del table[key]
            return True, f"recent {name}: removed {key}"
        elif seconds or hitcount:
            since = now - seconds
            hits = 0
            matched = False
            for stamp in stamps:
                if seconds and stamp < since:
                    continue
                hits += 1
                if not hitcount or hits >= hitcount:
                    matched = True
                    break
            if reap and seconds:
                if stamps and max(stamps) < since:
                    del table[key]
        else:
            matched = True
        if action == "set" or (action == "update" and matched):
            self._touch(table, key, now)
        last = f", last seen {now - max(stamps):g}s ago" if stamps else ""
        return matched, f"recent {name} {action}: {key} {'hit' if matched else 'miss'}{last}"

    @staticmethod
    def _touch(table: dict[str, list[float]], key: str, now: float) -> None:
        stamps = table.pop(key, [])
        stamps = (stamps + [now])[-PKT_LIST_TOT:]
        table[key] = stamps  # re-insert: most recently used last
        while len(table) > LIST_TOT:
            del table[next(iter(table))]


def _masked(address: str, mask: str) -> str:
    ip = ipaddress.ip_address(address)
    m = ipaddress.ip_address(mask) if ip.version == ipaddress.ip_address(mask).version else None
    if m is None:
        return str(ip)
    return str(ipaddress.ip_address(int(ip) & int(m)))
