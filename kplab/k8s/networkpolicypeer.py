"""NetworkPolicyPeer: who is on the other end of a rule — pods by selector (scoped by namespace) or an ipBlock."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from kplab.k8s.apistatus import field_forbidden, field_invalid, field_required
from kplab.k8s.labelselector import Selector, parse_selector

CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


@dataclass(frozen=True)
class IPBlock:
    """`cidr` minus every `except`. Host bits are masked (`10.244.1.11/4` is `0.0.0.0/4`), as Calico's ParseCIDR does."""

    cidr: ipaddress.IPv4Network | ipaddress.IPv6Network
    excepts: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def contains(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if ip.version != self.cidr.version or ip not in self.cidr:
            return False
        return not any(ip in e for e in self.excepts)

    def __str__(self) -> str:
        if not self.excepts:
            return str(self.cidr)
        return f"{self.cidr} except {', '.join(str(e) for e in self.excepts)}"


@dataclass(frozen=True)
class Peer:
    """One `from`/`to` item. `namespace_selector is None` means "the policy's own namespace" (absent ≠ empty)."""

    pod_selector: Selector | None = None
    namespace_selector: Selector | None = None
    ip_block: IPBlock | None = None

    def describe(self, policy_namespace: str) -> str:
        if self.ip_block is not None:
            return f"ipBlock {self.ip_block}"
        pods = self.pod_selector if self.pod_selector is not None else Selector()
        if self.namespace_selector is None:
            return f"pods {pods} in namespace {policy_namespace}"
        return f"pods {pods} in namespaces {self.namespace_selector}"


def _parse_cidr(text: Any, path: str, errors: list[str]):
    if not isinstance(text, str) or not text:
        errors.append(field_required(path, ""))
        return None
    if "/" not in text:  # Go's ParseCIDR needs the prefix length
        errors.append(field_invalid(path, text, CIDR_MSG))
        return None
    try:
        # strict=False: legacy fields accept host bits (the e2e suite uses <podIP>/4); the network is what counts.
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        errors.append(field_invalid(path, text, CIDR_MSG))
        return None


def parse_ip_block(raw: Any, path: str, errors: list[str]) -> IPBlock | None:
    if not isinstance(raw, dict):
        errors.append(field_invalid(path, raw, "must be an object with cidr and except"))
        return None
    cidr = _parse_cidr(raw.get("cidr"), f"{path}.cidr", errors)
    if cidr is None:
        return None
    excepts = []
    for i, text in enumerate(raw.get("except") or []):
        epath = f"{path}.except[{i}]"
        net = _parse_cidr(text, epath, errors)
        if net is None:
            continue
        # ValidateIPBlock: the except's first address must be inside cidr AND its prefix must be longer.
        if net.version != cidr.version or net.network_address not in cidr or cidr.prefixlen >= net.prefixlen:
            errors.append(field_invalid(epath, text, "must be a strict subset of `cidr`"))
            continue
        excepts.append(net)
    return IPBlock(cidr, tuple(excepts))


def parse_peer(raw: Any, path: str, errors: list[str]) -> Peer:
    if not isinstance(raw, dict):
        errors.append(field_invalid(path, raw, "must be a NetworkPolicyPeer object"))
        return Peer(ip_block=None, pod_selector=Selector(), namespace_selector=Selector())
    count = 0
    pods = nss = block = None
    if raw.get("podSelector") is not None:
        count += 1
        pods = parse_selector(raw["podSelector"], f"{path}.podSelector", errors)
    if raw.get("namespaceSelector") is not None:
        count += 1
        nss = parse_selector(raw["namespaceSelector"], f"{path}.namespaceSelector", errors)
    if raw.get("ipBlock") is not None:
        count += 1
        block = parse_ip_block(raw["ipBlock"], f"{path}.ipBlock", errors)
    if count == 0:
        errors.append(field_required(path, "must specify a peer"))
    elif count > 1 and raw.get("ipBlock") is not None:
        errors.append(field_forbidden(path, "may not specify both ipBlock and another peer"))
    for name in sorted(set(raw) - {"podSelector", "namespaceSelector", "ipBlock"}):
        errors.append(f'{path}: unknown field "{name}"')
    return Peer(pods, nss, block)
