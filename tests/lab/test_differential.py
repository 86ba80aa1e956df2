"""The differential suite: the simulator against the real kernel on the article's scenarios and on generated
clusters. For every connection, each kernel outcome must be one the simulator enumerates, each outcome the
simulator gives >= 30 % must be seen by the kernel (32 tries miss one with p <= 1.1e-5), and every try's kernel
walk must equal a simulator branch with its outcome hop by hop (kplab.lab.compare.path): hosts, interfaces in and
out, routing decisions (out interface, next hop), conntrack (state, confirmed entry with both tuples), netfilter
rules — for the first packet and for the answer walking back.

Replay one cluster: KPLAB_LAB_SEEDS=17 pytest tests/lab/test_differential.py -k generated (or a range: 0-99;
CI=true runs 0-99, a local run 0-11).
"""
from __future__ import annotations

import os
from collections import Counter

import pytest

from kplab.k8s import load_cluster
from kplab.lab import Lab

from .clusters import LAN, OUTSIDE, connections, generate
from .conftest import DATA

TRIES = 32


def _seeds() -> list[int]:
    # CI runs all 100 generated clusters; a local run (several people share this machine) a dozen
    spec = os.environ.get("KPLAB_LAB_SEEDS", "0-99" if os.environ.get("CI") == "true" else "0-11")
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def _run(lab, conns, header: str) -> None:
    verdicts = [lab.compare(*c, tries=TRIES) for c in conns]
    bad = [v for v in verdicts if not v.agrees]
    report = "\n".join(str(v) for v in verdicts)
    skipped = sum(1 for v in verdicts if v.skipped)
    checked = sum((v.checked for v in verdicts), Counter())
    print(f"{header}\n{report}\n{len(verdicts) - skipped} connections compared, {skipped} skipped; kernel walks "
          "compared hop by hop: " + ", ".join(f"{n} {what}" for what, n in sorted(checked.items())))
    assert not bad, f"{header}\n" + "\n".join(str(v) for v in bad)
    if len(verdicts) > skipped:  # the walks held what is compared: routes on every hop, conntrack on the nodes
        assert checked["routes"] >= checked["hops"] and checked["conntrack"] > 0 and checked["rules"] > 0, checked


@pytest.mark.kernel
@pytest.mark.parametrize("seed", _seeds())
def test_generated_cluster(seed, tmp_path):
    g = generate(seed)
    path = tmp_path / "cluster.yaml"
    path.write_text(g.text)
    cluster = load_cluster(path)
    conns = connections(cluster, seed)
    with Lab(cluster, cni=g.cni, overlay=g.overlay) as lab:
        assert lab.clients == (OUTSIDE, LAN)
        _run(lab, conns, f"seed {seed} (replay: KPLAB_LAB_SEEDS={seed}): " + "; ".join(g.notes + lab.notes))


ARTICLE = [  # (scenario folders, connections as (source, destination spec resolved below))
    ("nodeport", [(OUTSIDE, "node:minikube"), (OUTSIDE, "node:minikube-m02"), ("pod", "svc"), (LAN, "node:minikube"),
                  (LAN, "svc"), ("node:minikube", "loopback")]),
    ("nodeport-local", [(OUTSIDE, "node:minikube"), (OUTSIDE, "node:minikube-m02"), ("node:minikube", "svc"),
                        (LAN, "node:minikube"), (LAN, "node:minikube-m02"), ("node:minikube-m02", "loopback")]),
    ("article", [("pod", "svc"), ("node:minikube", "svc"), ("pod:default/webapp-d6989d74-7bqwt", "svc")]),
]


@pytest.mark.kernel
@pytest.mark.parametrize("scenario", [a[0] for a in ARTICLE])
def test_article_scenario(scenario):
    cluster = load_cluster(DATA / scenario)
    wanted = dict(ARTICLE)[scenario]
    services = [s for s in cluster.services.values() if s.namespace == "default" and s.name != "kubernetes"]
    pods = sorted(p.key for p in cluster.pods.values() if p.ip and p.namespace == "default")
    conns = []
    for src, dst in wanted:
        kind, _, name = src.partition(":")
        source = pods[0] if src == "pod" else name if kind in ("node", "pod") else src
        for svc in services:
            for port in svc.ports:
                if dst == "svc":
                    conns.append((source, svc.cluster_ip, port.port, port.protocol.lower()))
                elif port.node_port and dst == "loopback":
                    conns.append((source, "127.0.0.1", port.node_port, port.protocol.lower()))
                elif port.node_port:
                    node = cluster.nodes[dst.split(":", 1)[1]]
                    conns.append((source, node.internal_ip, port.node_port, port.protocol.lower()))
    assert conns
    with Lab(cluster) as lab:
        _run(lab, conns, f"scenario {scenario}")
