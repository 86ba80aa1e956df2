"""The truth table: every (source, destination) pair's verdict at one port/protocol, as columns (`truth_table`; a
view, kplab.views.reach.truth_frame, makes the DataFrame), and `reach_rows`, the same verdicts as plain rows.

Pairs are not evaluated one by one. Each pod gets a signature per direction — which policies isolate it and
which rules' peers and named ports it matches — and the decision is made once per distinct pair of signatures,
then spread over all pairs with numpy. The decision itself is `verdict.decide`, the same code `evaluate` runs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kplab.cni.enforcement import enforces_policy
from kplab.cni.policy import EGRESS, INGRESS
from kplab.cni.selection import PolicySelection
from kplab.cni.verdict import Party, evaluate, normalise_protocol, resolve_endpoint, resolve_endpoints
from kplab.k8s.cluster import Cluster

COLUMNS = ["from", "to", "port", "protocol", "allowed", "ingress", "egress", "policies"]


@dataclass
class _Side:
    """Per-direction signatures: `subject[i]` for endpoints on the policed end, `peer[i]` for the other end."""

    subject: np.ndarray
    peer: np.ndarray
    subject_sigs: list
    peer_sigs: list


def _ids(sigs: list) -> tuple[np.ndarray, list]:
    table: dict = {}
    ids = np.fromiter((table.setdefault(s, len(table)) for s in sigs), dtype=np.int64, count=len(sigs))
    return ids, list(table)


def _side(sel: PolicySelection, direction: str, ends: list[Party], port: int, protocol: str) -> _Side:
    pod_hits = sel.pod_peer_hits(direction)
    subject_sigs, peer_sigs = [], []
    for e in ends:
        pod = e.pod if e.kind == "pod" else None
        hits = frozenset(pod_hits[pod.key]) if pod is not None else frozenset(sel.peer_hits(direction, None, e.ip))
        # Named ports resolve on the destination: the subject for ingress, the peer for egress.
        named = frozenset(sel.named_port_hits(direction, pod, port, protocol))
        if pod is None:
            subject_sigs.append(None)  # not a pod: no policy applies on this side
        else:
            iso = tuple(sel.isolating[direction].get(pod.key, ()))
            subject_sigs.append((iso, named if direction == INGRESS else frozenset()))
        peer_sigs.append((hits, named if direction == EGRESS else frozenset()))
    s_ids, s_table = _ids(subject_sigs)
    p_ids, p_table = _ids(peer_sigs)
    return _Side(s_ids, p_ids, s_table, p_table)


def _unique(codes: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(codes, return_inverse=True) without sorting when codes are small integers (< bound)."""
    if bound > 4 * len(codes) + 1_000_000:
        return np.unique(codes, return_inverse=True)
    present = np.zeros(bound, dtype=bool)
    present[codes] = True
    uniq = np.flatnonzero(present)
    remap = np.zeros(bound, dtype=np.int64)
    remap[uniq] = np.arange(len(uniq))
    return uniq, remap[codes]


def _decide_pairs(sel: PolicySelection, direction: str, side: _Side, subj_idx: np.ndarray, peer_idx: np.ndarray,
                  numeric: set) -> tuple[np.ndarray, np.ndarray, list[tuple[str, ...]]]:
    """allowed and a deciding-policies id for each pair, decided once per distinct signature pair.

    Same rule as `verdict.decide`, in set form: a rule allows when it belongs to a policy isolating the subject,
    one of its peers is the other end, and one of its ports (numeric, or named on the destination) matches.
    """
    n_peer = max(len(side.peer_sigs), 1)
    codes = side.subject[subj_idx] * n_peer + side.peer[peer_idx]
    uniq, inverse = _unique(codes, max(len(side.subject_sigs), 1) * n_peer)
    numeric_ok = frozenset((pi, ri) for pi, ri, _ in numeric)
    subjects = []
    for sig in side.subject_sigs:
        if sig is None or not sig[0]:
            subjects.append(None)
            continue
        isolating, named = sig
        rules = frozenset((pi, ri) for pi in isolating for ri in range(len(sel.policies[pi].rules(direction))))
        subjects.append((isolating, rules, frozenset((pi, ri) for pi, ri, _ in named)))
    peers = [(frozenset((pi, ri) for pi, ri, _ in hits), frozenset((pi, ri) for pi, ri, _ in named))
             for hits, named in side.peer_sigs]
    allowed = np.empty(len(uniq), dtype=bool)
    deciding: list[tuple[str, ...]] = []
    for u, code in enumerate(uniq):
        subject = subjects[int(code) // n_peer]
        if subject is None:
            allowed[u] = True
            deciding.append(())
            continue
        isolating, rules, subject_named = subject
        peer_rules, peer_named = peers[int(code) % n_peer]
        ok = {r for r in rules & peer_rules if r in numeric_ok or r in subject_named or r in peer_named}
        allowed[u] = bool(ok)
        if ok:
            winners = {pi for pi, _ in ok}
            deciding.append(tuple(sel.policies[pi].key for pi in isolating if pi in winners))
        else:
            deciding.append(tuple(sel.policies[pi].key for pi in isolating))
    return allowed[inverse], inverse, deciding


@dataclass(frozen=True, eq=False)
class TruthTable:
    """Verdicts of many (source, destination) pairs at one port/protocol, column by column (numpy arrays, one
    entry a pair): what `truth_table` returns and `kplab.views.reach.truth_frame` turns into a DataFrame.

    ends: the endpoints' texts (pod `ns/name`, node or outside address); src, dst: indexes into `ends`;
    port: the destination port; protocol: TCP, UDP or SCTP; allowed/ingress/egress: bool verdicts (allowed is
    both directions); policy_codes: indexes into `policy_labels` (the deciding policies, ", "-joined, `""` when no
    policy decided); reasons: one sentence a pair, or None when not asked for.
    """
    ends: tuple[str, ...]
    src: np.ndarray
    dst: np.ndarray
    port: int
    protocol: str
    allowed: np.ndarray
    ingress: np.ndarray
    egress: np.ndarray
    policy_codes: np.ndarray
    policy_labels: tuple[str, ...]
    reasons: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.src)

    def rows(self) -> list[dict]:
        """The CLI's JSON shape: {from, to, port, protocol, allowed, ingress, egress, policies: [...]} (+ reason)."""
        labels = [[p for p in label.split(", ") if p] for label in self.policy_labels]
        out = []
        for i, (s, d, a, ing, eg, code) in enumerate(zip(self.src.tolist(), self.dst.tolist(), self.allowed.tolist(),
                                                         self.ingress.tolist(), self.egress.tolist(),
                                                         self.policy_codes.tolist())):
            row = {"from": self.ends[s], "to": self.ends[d], "port": self.port, "protocol": self.protocol,
                   "allowed": a, "ingress": ing, "egress": eg, "policies": list(labels[code])}
            if self.reasons is not None:
                row["reason"] = self.reasons[i]
            out.append(row)
        return out


def truth_table(cluster: Cluster, port: int = 80, protocol: str = "TCP", src: str | list[str] | None = None,
                dst: str | list[str] | None = None, outside: list[str] | tuple[str, ...] = (), reasons: bool = False,
                selection: PolicySelection | None = None) -> TruthTable:
    """Every pod (and each `outside` address) to every other, or only from `src` / to `dst` (one or a list).

    With `reasons=True` each pair also gets its reason (evaluated pair by pair, so slower). A pod to itself and
    outside to outside are left out: NetworkPolicy says nothing about either. Names that resolve to nothing
    raise KplabError (kplab.cni.verdict.resolve_endpoint).
    """
    protocol = normalise_protocol(protocol)
    sel = selection or PolicySelection.build(cluster)
    pods = [resolve_endpoint(cluster, p.key) for p in sel.pods]
    extra = [resolve_endpoint(cluster, a) for a in outside]
    everyone = pods + [e for e in extra if e.text not in {p.text for p in pods}]
    sources = [e for x in ([src] if isinstance(src, str) else src) for e in resolve_endpoints(cluster, x)] if src else everyone
    targets = [e for x in ([dst] if isinstance(dst, str) else dst) for e in resolve_endpoints(cluster, x)] if dst else everyone
    ends = list({e.text: e for e in sources + targets}.values())
    position = {e.text: i for i, e in enumerate(ends)}
    s_idx = np.array([position[e.text] for e in sources], dtype=np.int64)
    d_idx = np.array([position[e.text] for e in targets], dtype=np.int64)
    S = np.repeat(s_idx, len(d_idx))
    D = np.tile(d_idx, len(s_idx))
    is_pod = np.array([e.kind == "pod" for e in ends], dtype=bool)
    keep = (S != D) & (is_pod[S] | is_pod[D])
    S, D = S[keep], D[keep]

    ingress_side = _side(sel, INGRESS, ends, port, protocol)
    egress_side = _side(sel, EGRESS, ends, port, protocol)
    ing_ok, ing_id, ing_names = _decide_pairs(sel, INGRESS, ingress_side, D, S, sel.numeric_port_hits(INGRESS, port, protocol))
    eg_ok, eg_id, eg_names = _decide_pairs(sel, EGRESS, egress_side, S, D, sel.numeric_port_hits(EGRESS, port, protocol))

    n_ing = max(len(ing_names), 1)
    combo = eg_id.astype(np.int64) * n_ing + ing_id
    uniq, inverse = _unique(combo, max(len(eg_names), 1) * n_ing)
    labels = [", ".join(dict.fromkeys(eg_names[int(c) // n_ing] + ing_names[int(c) % n_ing])) for c in uniq]
    categories = list(dict.fromkeys(labels))
    position_of = {label: i for i, label in enumerate(categories)}
    label_code = np.array([position_of[label] for label in labels], dtype=np.int64)
    codes = label_code[inverse] if len(inverse) else np.zeros(0, dtype=np.int64)
    allowed, ingress, egress = ing_ok & eg_ok, ing_ok.copy(), eg_ok.copy()
    # A node's own pods always accept it (kubelet probes); rare, so those rows are simply re-evaluated.
    is_node = np.array([e.kind == "node" for e in ends], dtype=bool)
    node_rows = np.flatnonzero(is_node[S]).tolist()
    texts: list[str] | None = [""] * len(S) if reasons else None
    for i in (range(len(S)) if reasons else node_rows):
        v = evaluate(cluster, ends[S[i]].text, ends[D[i]].text, port, protocol, selection=sel)
        allowed[i], ingress[i], egress[i] = v.allowed, v.ingress.allowed, v.egress.allowed
        label = ", ".join(v.policies)
        if label not in position_of:
            position_of[label] = len(categories)
            categories.append(label)
        codes[i] = position_of[label]
        if texts is not None:
            texts[i] = v.reason
    return TruthTable(tuple(e.text for e in ends), S, D, port, protocol, allowed, ingress, egress, codes,
                      tuple(categories), None if texts is None else tuple(texts))


def reach_rows(cluster: Cluster, src: str | list[str] | None = None, dst: str | list[str] | None = None,
               port: int | None = None, protocol: str = "TCP") -> tuple[dict, ...]:
    """Verdict rows with reasons ({from, to, port, protocol, allowed, ingress, egress, policies: [...], reason,
    cni, enforced}): `enforced` says whether the cluster's CNI (`cni`) enforces NetworkPolicy at all.

    With `port`, every pair at that port. Without, each destination pod is probed on the ports it declares
    (80/`protocol` when it declares none), grouped by port. Addresses outside the pods (a node, an outside IP)
    named as `src`/`dst` take part as well."""
    protocol = normalise_protocol(protocol)
    selection = PolicySelection.build(cluster)
    named = [x for side in (src, dst) if side for x in ([side] if isinstance(side, str) else side)]
    outside = [x for x in named if resolve_endpoint(cluster, x).kind != "pod"]
    if port is not None:
        tables = [truth_table(cluster, port, protocol, src=src, dst=dst, outside=outside, reasons=True,
                              selection=selection)]
    else:
        targets = [e.text for x in ([dst] if isinstance(dst, str) else dst) for e in resolve_endpoints(cluster, x)] \
            if dst else [p.key for p in selection.pods] + outside
        groups: dict[tuple[int, str], list[str]] = {}
        for t in targets:
            end = resolve_endpoint(cluster, t)
            declared = {(cp.port, cp.protocol.upper()) for cp in end.pod.ports} if end.pod else set()
            for key in sorted(declared) or [(80, protocol)]:
                groups.setdefault(key, []).append(t)
        tables = [truth_table(cluster, p, proto, src=src, dst=dsts, outside=outside, reasons=True,
                              selection=selection) for (p, proto), dsts in sorted(groups.items())]
    # The verdicts are Kubernetes semantics; whether packets obey them is the CNI's doing: each row says which.
    cni = cluster.settings.cni
    enforced = enforces_policy(cni)
    return tuple({**r, "cni": cni, "enforced": enforced} for t in tables for r in t.rows())
