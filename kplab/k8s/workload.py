"""Workloads (Deployment, ReplicaSet, StatefulSet, DaemonSet) and the Pods their controllers would create.

Names follow Kubernetes' shapes so what students see matches `kubectl get pods`:
- Deployment `webapp` -> ReplicaSet `webapp-<pod-template-hash>` -> Pods `webapp-<hash>-<5 chars>`. The hash is an
  FNV-32a of the pod template, written in decimal and mapped onto the "safe encode" alphabet, as the Deployment
  controller does (it hashes Go's dump of the template; kplab hashes canonical JSON, so the value differs from a real
  cluster's but the shape and the determinism do not).
- ReplicaSet `rs` -> Pods `rs-<5 chars>`; DaemonSet `ds` -> one Pod `ds-<5 chars>` per eligible node;
  StatefulSet `db` -> `db-0`, `db-1`, ... with hostname = pod name and subdomain = spec.serviceName.
Kubernetes draws the 5 characters at random; kplab derives them from a hash of the owner and the replica number.

Like the real controllers, a workload counts Pods it already has (any given Pod in its namespace matching its
selector, as a ReplicaSet adopts orphans) and only creates the missing replicas — so `kubectl get deploy,rs,pods -o
yaml` output loads without doubling the pods.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from kplab.errors import KplabError
from kplab.k8s.apistatus import field_invalid, field_required, invalid
from kplab.k8s.labelselector import Selector, map_matches, parse_selector
from kplab.k8s.node import Node
from kplab.k8s.pod import Pod, pod_from_manifest
from kplab.k8s.revision import Tracked

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand: no vowels, no 0/1/3
MAX_GENERATED_NAME_PREFIX = 58  # 63 - 5 random characters
MAX_PODS = 150_000  # the Kubernetes scalability thresholds: at most 150,000 pods in a cluster
KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")
API_KIND = {k: f"{k}.apps" for k in KINDS}


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """rand.SafeEncodeString: each byte picks alphabet[byte % 27], so hashes never spell words."""
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in text.encode())


def pod_template_hash(template: dict[str, Any]) -> str:
    """The `pod-template-hash` label value: safe-encoded decimal of FNV-32a over the template."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"), default=str)
    return safe_encode(str(fnv32a(canonical.encode())))


def random_suffix(seed: str) -> str:
    """5 characters from the safe alphabet, derived from `seed` instead of drawn at random."""
    h = fnv32a(seed.encode())
    out = []
    for _ in range(5):
        out.append(SAFE_ALPHABET[h % len(SAFE_ALPHABET)])
        h //= len(SAFE_ALPHABET)
    return "".join(out)


def generated_name(prefix: str, seed: str, taken: set[str]) -> str:
    """metadata.generateName `prefix`: the prefix cut to 58 characters plus 5 characters, unique among `taken`."""
    base = prefix[:MAX_GENERATED_NAME_PREFIX]
    attempt = 0
    while True:
        name = base + random_suffix(f"{seed}#{attempt}" if attempt else seed)
        if name not in taken:
            return name
        attempt += 1


@dataclass
class Workload(Tracked):
    kind: str  # Deployment, ReplicaSet, StatefulSet, DaemonSet
    namespace: str
    name: str
    selector: dict[str, Any] | None  # LabelSelector: {matchLabels, matchExpressions}
    template: dict[str, Any] = field(default_factory=dict)  # the pod template: {metadata, spec}
    replicas: int = 1
    service_name: str | None = None  # StatefulSet spec.serviceName
    owner: str | None = None  # "Deployment/webapp" for a ReplicaSet a Deployment owns
    source: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def label_selector(self, errors: list[str] | None = None) -> Selector:
        """`spec.selector` parsed; its field errors go to `errors` (validate_workload collects them)."""
        return parse_selector(self.selector, "spec.selector", [] if errors is None else errors)

    @property
    def template_labels(self) -> dict[str, str]:
        return {str(k): "" if v is None else str(v)
                for k, v in ((self.template.get("metadata") or {}).get("labels") or {}).items()}


def validate_workload(w: Workload) -> None:
    """The apps API's checks that catch common manifest mistakes: a selector, and a template it selects."""
    errs: list[str] = []
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", w.name):
        errs.append(field_invalid("metadata.name", w.name, "a lowercase RFC 1123 subdomain must consist of lower "
                                  "case alphanumeric characters, '-' or '.', and must start and end with an "
                                  "alphanumeric character"))
    selector_errs: list[str] = []
    selector = w.label_selector(selector_errs)
    if selector_errs:
        errs += selector_errs
    elif selector.empty:
        errs.append(field_required("spec.selector"))
    elif not selector.matches(w.template_labels):
        errs.append(field_invalid("spec.template.metadata.labels", w.template_labels,
                                  "`selector` does not match template `labels`"))
    if w.replicas < 0:
        errs.append(field_invalid("spec.replicas", w.replicas, "must be greater than or equal to 0"))
    if not (w.template.get("spec") or {}).get("containers"):
        errs.append(field_required("spec.template.spec.containers"))
    if errs:
        raise invalid(API_KIND.get(w.kind, w.kind), w.name, errs, w.source)


def _new_pod(w: Workload, name: str, extra_labels: dict[str, str], owner: str) -> Pod:
    metadata = copy.deepcopy(w.template.get("metadata") or {})
    metadata["name"] = name
    metadata.pop("ownerReferences", None)
    spec = w.template.get("spec") or {}
    pod = pod_from_manifest(w.namespace, metadata, spec, None, w.source)
    pod.labels.update(extra_labels)
    pod.owner = owner
    return pod


def _existing(w: Workload, pods: list[Pod]) -> list[Pod]:
    selector = w.label_selector()
    return [p for p in pods if p.namespace == w.namespace and selector.matches(p.labels)]


def expand_workloads(workloads: list[Workload], pods: list[Pod], nodes: list[Node]) -> list[Pod]:
    """The Pods each workload's controller creates on top of `pods` (given ones); returns only the new ones."""
    deployments = {w.key for w in workloads if w.kind == "Deployment"}
    taken = {p.key for p in pods}
    names: dict[str, set[str]] = {}  # namespace -> pod names taken there (kept, not rebuilt per pod)
    for p in pods:
        names.setdefault(p.namespace, set()).add(p.name)
    all_pods = list(pods)
    created: list[Pod] = []

    def too_many(w: Workload) -> KplabError:
        return invalid(API_KIND.get(w.kind, w.kind), w.name, [field_invalid(
            "spec.replicas", w.replicas, f"kplab models at most {MAX_PODS:,} pods in a cluster (the pod count "
            "Kubernetes is tested to; 110 a node): this workload would make more")], w.source)

    def add(pod: Pod) -> None:
        if len(all_pods) >= MAX_PODS:
            raise too_many(w)
        taken.add(pod.key)
        names.setdefault(pod.namespace, set()).add(pod.name)
        all_pods.append(pod)
        created.append(pod)

    for w in workloads:
        if w.kind == "ReplicaSet" and w.owner and w.owner.startswith("Deployment/") \
                and f"{w.namespace}/{w.owner.split('/', 1)[1]}" in deployments:
            continue  # its Deployment accounts for the pods
        have = _existing(w, all_pods)
        if w.kind != "DaemonSet" and w.replicas - len(have) > MAX_PODS - len(all_pods):
            raise too_many(w)
        if w.kind in ("Deployment", "ReplicaSet"):
            if w.kind == "Deployment":
                h = pod_template_hash(w.template)
                prefix, extra, owner = f"{w.name}-{h}-", {"pod-template-hash": h}, f"Deployment/{w.name}"
            else:
                prefix, extra, owner = f"{w.name}-", {}, f"ReplicaSet/{w.name}"
            for i in range(len(have), w.replicas):
                name = generated_name(prefix, f"{w.namespace}/{prefix}{i}", names.get(w.namespace, set()))
                add(_new_pod(w, name, extra, owner))
        elif w.kind == "StatefulSet":
            for i in range(w.replicas):
                name = f"{w.name}-{i}"
                if f"{w.namespace}/{name}" in taken:
                    continue
                pod = _new_pod(w, name, {"statefulset.kubernetes.io/pod-name": name,
                                         "apps.kubernetes.io/pod-index": str(i)}, f"StatefulSet/{w.name}")
                pod.hostname = name
                pod.subdomain = w.service_name or None
                add(pod)
        elif w.kind == "DaemonSet":
            node_selector = {str(k): "" if v is None else str(v) for k, v in ((w.template.get("spec") or {}).get("nodeSelector")
                                                         or {}).items()}
            for node in nodes:
                if not map_matches(node_selector, node.labels):
                    continue
                if any(p.node_name == node.name for p in have):
                    continue
                prefix = f"{w.name}-"
                name = generated_name(prefix, f"{w.namespace}/{prefix}{node.name}", names.get(w.namespace, set()))
                pod = _new_pod(w, name, {}, f"DaemonSet/{w.name}")
                pod.node_name = node.name
                add(pod)
    return created
