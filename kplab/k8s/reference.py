"""Object references as kubectl spells them: `[NAMESPACE/]KIND/NAME`, `NAMESPACE/NAME` and bare `NAME`.

KIND is `pod`/`po`, `svc`/`service`, `deploy`/`deployment`, `sts`/`statefulset`, `ds`/`daemonset`,
`rs`/`replicaset` or `node`/`no` (any case; plurals too). The namespace defaults to `default`, as kubectl's does.
A workload means one of its pods: the first by name among those with an IP (so the choice is the same every time),
and the Reference says so in `note`. A name that fits two objects (a Pod and a Service of the same name, which
`kubectl run --expose` creates) is an error listing both spellings; a name that fits nothing is an error listing
the close matches.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from kplab.errors import KplabError

# kind -> the words kubectl accepts for it
KIND_WORDS = {
    "pod": ("pod", "pods", "po"),
    "service": ("svc", "service", "services"),
    "deployment": ("deploy", "deployment", "deployments"),
    "statefulset": ("sts", "statefulset", "statefulsets"),
    "daemonset": ("ds", "daemonset", "daemonsets"),
    "replicaset": ("rs", "replicaset", "replicasets"),
    "node": ("node", "nodes", "no"),
}
SHORT = {"pod": "pod", "service": "svc", "deployment": "deploy", "statefulset": "sts", "daemonset": "ds",
         "replicaset": "rs", "node": "node"}
OWNER_KIND = {"deployment": "Deployment", "statefulset": "StatefulSet", "daemonset": "DaemonSet",
              "replicaset": "ReplicaSet"}
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class Reference:
    """An object a reference named: kind `pod`, `service` or `node`, its key (`namespace/name`, or the node's
    name), and a sentence saying how a workload was turned into one of its pods ("" otherwise)."""

    kind: str
    key: str
    note: str = ""

    @property
    def spelling(self) -> str:
        """How kubectl spells it: `default/pod/web`, `default/svc/web`, `node/minikube`."""
        if self.kind == "node":
            return f"node/{self.key}"
        namespace, name = self.key.split("/", 1)
        return f"{namespace}/{SHORT[self.kind]}/{name}"


def kind_of(word: str) -> str | None:
    """The kind a kubectl word names (`svc` -> `service`), or None."""
    word = word.lower()
    return next((kind for kind, words in KIND_WORDS.items() if word in words), None)


def _workload_pods(cluster, kind: str, namespace: str, name: str) -> list:
    """The pods a workload owns: directly (`Deployment/NAME`, `StatefulSet/NAME` ...) or, for a Deployment,
    through its ReplicaSet `NAME-<pod-template-hash>`."""
    owner = f"{OWNER_KIND[kind]}/{name}"
    pods = []
    for pod in cluster.pods.values():
        if pod.namespace != namespace:
            continue
        through_rs = kind == "deployment" and pod.owner == \
            f"ReplicaSet/{name}-{pod.labels.get('pod-template-hash', '')}"
        if pod.owner == owner or through_rs:
            pods.append(pod)
    return sorted(pods, key=lambda p: p.name)


def _candidates(cluster) -> list[str]:
    """Every spelling the cluster offers, for close-match suggestions."""
    out = [f"{p.namespace}/pod/{p.name}" for p in cluster.pods.values()]
    out += [f"{s.namespace}/svc/{s.name}" for s in cluster.services.values()]
    out += [f"node/{n}" for n in cluster.nodes]
    owners = {(p.namespace, p.owner) for p in cluster.pods.values() if p.owner}
    for namespace, owner in owners:
        kind, _, name = owner.partition("/")
        if kind == "ReplicaSet" and "-" in name:
            out.append(f"{namespace}/deploy/{name.rsplit('-', 1)[0]}")
        short = {"Deployment": "deploy", "StatefulSet": "sts", "DaemonSet": "ds", "ReplicaSet": "rs"}.get(kind)
        if short:
            out.append(f"{namespace}/{short}/{name}")
    return sorted(set(out))


def close_matches(cluster, name: str, n: int = 5) -> list[str]:
    """The spellings whose name (or whole spelling) is closest to `name`."""
    candidates = _candidates(cluster)
    by_name: dict[str, list[str]] = {}
    for c in candidates:
        by_name.setdefault(c.rsplit("/", 1)[1], []).append(c)
    hits = [c for m in difflib.get_close_matches(name, list(by_name), n=n, cutoff=0.7) for c in by_name[m]]
    hits += difflib.get_close_matches(name, candidates, n=n, cutoff=0.7)
    return list(dict.fromkeys(hits))[:n]


def not_found(cluster, role: str, text: str, what: str) -> KplabError:
    """A not-found error for `text` that lists the close matches."""
    near = close_matches(cluster, text.rsplit("/", 1)[-1])
    hint = f" (close matches: {', '.join(near)})" if near else ""
    return KplabError(f"{role} {text}: {what} not found{hint}")


def resolve(cluster, text: str, role: str = "object") -> Reference | None:
    """The object `text` names, or None for a bare name that fits nothing (it may be a DNS name or an address).

    `role` ("source", "destination") starts error messages. KplabError for an unknown kind, a missing object (with
    close matches), a workload without pods, or a name that fits two objects (with both spellings)."""
    parts = text.split("/")
    if len(parts) == 3 or (len(parts) == 2 and kind_of(parts[0])):
        namespace, word, name = parts if len(parts) == 3 else (None, *parts)
        kind = kind_of(word)
        if kind is None:
            raise KplabError(f"{role} {text}: {word!r} is not a kind kplab knows "
                             f"({', '.join(w[0] for w in KIND_WORDS.values())})")
        return _by_kind(cluster, role, text, kind, namespace, name)
    if len(parts) == 2:
        namespace, name = parts
        found = [Reference(kind, f"{namespace}/{name}") for kind, table in (("pod", cluster.pods),
                 ("service", cluster.services)) if f"{namespace}/{name}" in table]
        if not found:
            if namespace not in cluster.namespaces:
                raise KplabError(f"{role} {text}: no namespace {namespace!r}, and {namespace!r} is not a kind kplab "
                                 f"knows ({', '.join(w[0] for w in KIND_WORDS.values())})")
            raise not_found(cluster, role, text, f"pod or Service {name!r} in namespace {namespace!r}")
        return _one(role, text, found)
    if len(parts) != 1 or not text:
        raise KplabError(f"{role} {text!r}: expected [NAMESPACE/]KIND/NAME, NAMESPACE/NAME, NAME or an address")
    key = f"{DEFAULT_NAMESPACE}/{text}"
    found = [Reference(kind, k) for kind, k, table in (("pod", key, cluster.pods), ("service", key, cluster.services),
                                                      ("node", text, cluster.nodes)) if k in table]
    return _one(role, text, found) if found else None


def _one(role: str, text: str, found: list[Reference]) -> Reference:
    if len(found) > 1:
        raise KplabError(f"{role} {text} is ambiguous: it names {' and '.join(r.spelling for r in found)}; "
                         f"write one of those")
    return found[0]


def _by_kind(cluster, role: str, text: str, kind: str, namespace: str | None, name: str) -> Reference:
    if kind == "node":
        if namespace is not None:
            raise KplabError(f"{role} {text}: nodes have no namespace; write node/{name}")
        if name not in cluster.nodes:
            raise not_found(cluster, role, text, f"node {name!r}")
        return Reference("node", name)
    namespace = namespace or DEFAULT_NAMESPACE
    key = f"{namespace}/{name}"
    if kind in ("pod", "service"):
        table = cluster.pods if kind == "pod" else cluster.services
        if key not in table:
            raise not_found(cluster, role, text, f"{'pod' if kind == 'pod' else 'Service'} {name!r} "
                                                  f"in namespace {namespace!r}")
        return Reference(kind, key)
    pods = _workload_pods(cluster, kind, namespace, name)
    if not pods:
        raise not_found(cluster, role, text, f"{OWNER_KIND[kind]} {name!r} with pods in namespace {namespace!r}")
    running = [p for p in pods if p.ip] or pods
    chosen = running[0]
    return Reference("pod", chosen.key, f"{text} is {OWNER_KIND[kind]} {key}: its pod {chosen.name} "
                                        f"(the first of its {len(pods)} pod{'s' if len(pods) != 1 else ''} by name)")
