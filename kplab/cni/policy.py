"""A NetworkPolicy compiled for evaluation: its validated spec (kplab.k8s.networkpolicy) with the identity verdicts
name. Validation lives with the API machinery, so a bad policy is refused when the manifests load."""
from __future__ import annotations

from dataclasses import dataclass, field

from kplab.k8s.labelselector import Selector
from kplab.k8s.networkpolicy import (EGRESS, INGRESS, NetworkPolicy, NetworkPolicySpec, PolicyRule, effective_types,
                                     spec_problems, validate_networkpolicy)

__all__ = ["EGRESS", "INGRESS", "Policy", "PolicyRule", "compile_policy", "effective_types", "policy_problems"]


@dataclass
class Policy:
    namespace: str
    name: str
    pod_selector: Selector
    types: tuple[str, ...]  # effective policyTypes, after the API server's defaulting
    ingress: tuple[PolicyRule, ...] = ()
    egress: tuple[PolicyRule, ...] = ()
    source: NetworkPolicy | None = field(default=None, repr=False)

    @classmethod
    def of(cls, policy: NetworkPolicy, spec: NetworkPolicySpec) -> "Policy":
        return cls(policy.namespace, policy.name, spec.pod_selector, spec.types, spec.ingress, spec.egress, policy)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def rules(self, direction: str) -> tuple[PolicyRule, ...]:
        return self.ingress if direction == INGRESS else self.egress


def policy_problems(policy: NetworkPolicy) -> tuple[Policy, list[str]]:
    """Compile and validate; returns the policy and every field error (API-server wording) found."""
    spec, errors = spec_problems(policy)
    return Policy.of(policy, spec), errors


def compile_policy(policy: NetworkPolicy) -> Policy:
    """The compiled policy, or KplabError with the API server's `... is invalid: field: why` message."""
    return Policy.of(policy, validate_networkpolicy(policy))
