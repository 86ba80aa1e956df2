"""A NetworkPolicy compiled for evaluation: subject selector, effective policyTypes, and its rules per direction."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kplab.cni import fielderror
from kplab.cni.peer import Peer, parse_peer
from kplab.cni.port import PolicyPort, parse_port
from kplab.cni.selector import Selector, parse_selector
from kplab.errors import KplabError
from kplab.k8s.networkpolicy import NetworkPolicy

INGRESS, EGRESS = "Ingress", "Egress"


@dataclass(frozen=True)
class Rule:
    """One ingress/egress item: it allows traffic matching ANY peer AND ANY port. `None` lists mean "all"."""

    peers: tuple[Peer, ...] | None
    ports: tuple[PolicyPort, ...] | None


@dataclass
class Policy:
    namespace: str
    name: str
    pod_selector: Selector
    types: tuple[str, ...]  # effective policyTypes, after the API server's defaulting
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    source: NetworkPolicy | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def rules(self, direction: str) -> tuple[Rule, ...]:
        return self.ingress if direction == INGRESS else self.egress


def effective_types(spec: dict[str, Any]) -> tuple[str, ...]:
    """SetDefaults_NetworkPolicy: without policyTypes, Ingress always, Egress only if there are egress rules."""
    given = spec.get("policyTypes")
    if given:
        return tuple(t for t in (INGRESS, EGRESS) if t in given)
    return (INGRESS, EGRESS) if spec.get("egress") else (INGRESS,)


def policy_problems(policy: NetworkPolicy) -> tuple[Policy, list[str]]:
    """Compile and validate; returns the policy and every field error (API-server wording) found."""
    errors: list[str] = []
    spec = policy.spec or {}
    if not isinstance(spec, dict):
        return Policy(policy.namespace, policy.name, Selector(), (INGRESS,)), [fielderror.invalid("spec", spec, "must be an object")]
    selector = parse_selector(spec.get("podSelector"), "spec.podSelector", errors)
    types = spec.get("policyTypes")
    if types is not None:
        if not isinstance(types, list):
            errors.append(fielderror.invalid("spec.policyTypes", types, "must be a list"))
        elif len(types) > 2:
            errors.append(fielderror.invalid("spec.policyTypes", types, "may not specify more than two policyTypes"))
        else:
            for i, t in enumerate(types):
                if t not in (INGRESS, EGRESS):
                    errors.append(fielderror.not_supported(f"spec.policyTypes[{i}]", t, [INGRESS, EGRESS]))
    rules: dict[str, list[Rule]] = {INGRESS: [], EGRESS: []}
    for direction, list_key, peer_key in ((INGRESS, "ingress", "from"), (EGRESS, "egress", "to")):
        items = spec.get(list_key) or []
        if not isinstance(items, list):
            errors.append(fielderror.invalid(f"spec.{list_key}", items, "must be a list of rules"))
            continue
        for i, raw in enumerate(items):
            path = f"spec.{list_key}[{i}]"
            raw = raw or {}
            if not isinstance(raw, dict):
                errors.append(fielderror.invalid(path, raw, "must be a rule object"))
                continue
            ports = [parse_port(p, f"{path}.ports[{j}]", errors) for j, p in enumerate(raw.get("ports") or [])]
            peers = [parse_peer(p, f"{path}.{peer_key}[{j}]", errors) for j, p in enumerate(raw.get(peer_key) or [])]
            for name in sorted(set(raw) - {"ports", peer_key}):
                errors.append(f'{path}: unknown field "{name}"')
            rules[direction].append(Rule(tuple(peers) or None, tuple(ports) or None))
    for name in sorted(set(spec) - {"podSelector", "policyTypes", "ingress", "egress"}):
        errors.append(f'spec: unknown field "{name}"')
    compiled = Policy(policy.namespace, policy.name, selector, effective_types(spec),
                      tuple(rules[INGRESS]), tuple(rules[EGRESS]), policy)
    return compiled, errors


def compile_policy(policy: NetworkPolicy) -> Policy:
    """The compiled policy, or KplabError with the API server's `... is invalid: field: why` message."""
    compiled, errors = policy_problems(policy)
    if errors:
        detail = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
        raise KplabError(f'NetworkPolicy {policy.key}: The NetworkPolicy "{policy.name}" is invalid: {detail}')
    return compiled
