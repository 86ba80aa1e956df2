"""NetworkPolicy: the object as given, and its spec parsed and validated as the API server does
(pkg/apis/networking/validation). What a policy allows is kplab.cni's business; this module only decides whether
the API server would accept it, and hands the parsed spec on so kplab.cni never reads the raw dict again."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kplab.errors import KplabError
from kplab.k8s.apistatus import field_invalid, field_unsupported, joined_causes
from kplab.k8s.labelselector import Selector, parse_selector
from kplab.k8s.networkpolicypeer import Peer, parse_peer
from kplab.k8s.networkpolicyport import PolicyPort, parse_port
from kplab.k8s.revision import Tracked

INGRESS, EGRESS = "Ingress", "Egress"


@dataclass
class NetworkPolicy(Tracked):
    namespace: str
    name: str
    spec: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # "file:line" of the manifest it came from, for error messages

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class PolicyRule:
    """One ingress/egress item: it allows traffic matching ANY peer AND ANY port. `None` lists mean "all"."""

    peers: tuple[Peer, ...] | None
    ports: tuple[PolicyPort, ...] | None


@dataclass(frozen=True)
class NetworkPolicySpec:
    pod_selector: Selector
    types: tuple[str, ...]  # effective policyTypes, after the API server's defaulting
    ingress: tuple[PolicyRule, ...] = ()
    egress: tuple[PolicyRule, ...] = ()


def effective_types(spec: dict[str, Any]) -> tuple[str, ...]:
    """SetDefaults_NetworkPolicy: without policyTypes, Ingress always, Egress only if there are egress rules."""
    given = spec.get("policyTypes")
    if given:
        return tuple(t for t in (INGRESS, EGRESS) if t in given)
    return (INGRESS, EGRESS) if spec.get("egress") else (INGRESS,)


def _policy_types_problems(types: Any) -> list[str]:
    if types is None:
        return []
    if not isinstance(types, list):
        return [field_invalid("spec.policyTypes", types, "must be a list")]
    if len(types) > 2:
        return [field_invalid("spec.policyTypes", types, "may not specify more than two policyTypes")]
    return [field_unsupported(f"spec.policyTypes[{i}]", t, [INGRESS, EGRESS])
            for i, t in enumerate(types) if t not in (INGRESS, EGRESS)]


def _rules(spec: dict[str, Any], list_key: str, peer_key: str, errors: list[str]) -> tuple[PolicyRule, ...]:
    items = spec.get(list_key) or []
    if not isinstance(items, list):
        errors.append(field_invalid(f"spec.{list_key}", items, "must be a list of rules"))
        return ()
    rules = []
    for i, raw in enumerate(items):
        path = f"spec.{list_key}[{i}]"
        raw = raw or {}
        if not isinstance(raw, dict):
            errors.append(field_invalid(path, raw, "must be a rule object"))
            continue
        ports = [parse_port(p, f"{path}.ports[{j}]", errors) for j, p in enumerate(raw.get("ports") or [])]
        peers = [parse_peer(p, f"{path}.{peer_key}[{j}]", errors) for j, p in enumerate(raw.get(peer_key) or [])]
        for name in sorted(set(raw) - {"ports", peer_key}):
            errors.append(f'{path}: unknown field "{name}"')
        rules.append(PolicyRule(tuple(peers) or None, tuple(ports) or None))
    return tuple(rules)


def spec_problems(policy: NetworkPolicy) -> tuple[NetworkPolicySpec, list[str]]:
    """The parsed spec and every field error (API-server wording) found in it; [] when the API server accepts it."""
    spec = policy.spec or {}
    if not isinstance(spec, dict):
        return NetworkPolicySpec(Selector(), (INGRESS,)), [field_invalid("spec", spec, "must be an object")]
    errors: list[str] = []
    selector = parse_selector(spec.get("podSelector"), "spec.podSelector", errors)
    errors += _policy_types_problems(spec.get("policyTypes"))
    ingress = _rules(spec, "ingress", "from", errors)
    egress = _rules(spec, "egress", "to", errors)
    for name in sorted(set(spec) - {"podSelector", "policyTypes", "ingress", "egress"}):
        errors.append(f'spec: unknown field "{name}"')
    return NetworkPolicySpec(selector, effective_types(spec), ingress, egress), errors


def networkpolicy_invalid(policy: NetworkPolicy, errors: list[str]) -> KplabError:
    """`m.yaml:12: NetworkPolicy default/p: The NetworkPolicy "p" is invalid: field: why` (file:line when known)."""
    where = f"{policy.source}: " if policy.source else ""
    return KplabError(f'{where}NetworkPolicy {policy.key}: The NetworkPolicy "{policy.name}" is invalid: '
                      f"{joined_causes(errors)}")


def validate_networkpolicy(policy: NetworkPolicy) -> NetworkPolicySpec:
    """The parsed spec, or KplabError if the API server would refuse the policy."""
    parsed, errors = spec_problems(policy)
    if errors:
        raise networkpolicy_invalid(policy, errors)
    return parsed
