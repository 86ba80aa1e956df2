"""kplab: how a packet travels through Kubernetes — the front door.

    import kplab
    c = kplab.load("article")                        # a data/ scenario, paths (files, folders), or YAML text
    t = kplab.trace(c, "deploy/auth", "svc/frontend")  # a frozen Trace: print(t), or just `t` in a notebook
    t.outcomes()                                     # every ending, exact Fraction probabilities
    kplab.rules(c, "minikube")                       # that node's rules as iptables-save prints them
    kplab.reach(c)                                   # NetworkPolicy verdicts, one row per (from, to)
    kplab.explore(c)                                 # the ipywidgets explorer

Data flow: manifests -> ``kplab.k8s`` Cluster -> ``kplab.kubeproxy`` + ``kplab.cni`` rules -> ``kplab.walk`` walk
-> Trace (``kplab.walk.trace``) -> ``kplab.views``. Names of pods, Services, workloads and nodes are written as
kubectl writes them (``kplab.k8s.reference``). The walk lives in ``kplab.walk`` (not ``kplab.trace``) so that the
function ``kplab.trace`` is never replaced by a subpackage of the same name.

Importing kplab is cheap: each function imports the parts it needs when called.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kplab.errors import KplabError

if TYPE_CHECKING:  # pragma: no cover - for readers and type checkers only
    from kplab.k8s.cluster import Cluster
    from kplab.walk.trace import Trace

__version__ = "0.1.0"
__all__ = ["KplabError", "explore", "load", "reach", "rules", "trace", "Trace", "Hop", "Step", "Outcome", "Flow",
           "FlowDiff", "Cluster", "__version__"]

_PACKAGE_DATA = Path(__file__).resolve().parents[1] / "data"


def load(*sources: str | Path) -> "Cluster":
    """A Cluster from Kubernetes manifests, with the control plane run on them (scheduling, IPs, EndpointSlices).

    Each source is a scenario of the repository's data/ folder by name (`"article"`, `"nodeport"`, ...), a file
    or folder path, or YAML text (anything holding a newline). Several sources are read together.
    KplabError names the file and line (or `<yaml>` and line) of any fault, or the scenarios there are."""
    from kplab.k8s.manifest import find_data_dir, load_cluster, load_cluster_text

    if not sources:
        raise KplabError("load: give a scenario name, a path or YAML text")
    texts = [s for s in sources if isinstance(s, str) and "\n" in s]
    if texts:
        if len(texts) != len(sources):
            raise KplabError("load: give either YAML text or scenario names and paths, not both")
        return load_cluster_text("---\n".join(t if t.endswith("\n") else t + "\n" for t in texts))
    paths = []
    for s in sources:
        path = Path(s)
        if path.exists():
            paths.append(path)
            continue
        data = _data_dir(find_data_dir)
        if data is not None and "/" not in str(s) and (data / str(s)).is_dir():
            paths.append(data / str(s))
            continue
        known = sorted(p.name for p in data.iterdir() if p.is_dir()) if data is not None else []
        raise KplabError(f"load: {s!r} is neither a file, a folder nor a scenario"
                         + (f" (scenarios in {data}: {', '.join(known)})" if known else ""))
    return load_cluster(*paths)


def _data_dir(find_data_dir) -> Path | None:
    try:
        return find_data_dir()
    except KplabError:
        return _PACKAGE_DATA if (_PACKAGE_DATA / "article").is_dir() else None


def _endpoint(cluster, text: str, role: str, port: int | None) -> tuple[str, str]:
    """(what the walk understands, a note) for a source or destination written the kubectl way."""
    from kplab.k8s.reference import resolve

    ref = resolve(cluster, text, role)
    if ref is None:
        return text, ""  # an address, NODE:PORT, or a DNS name: the walk reads those
    if ref.kind == "service":
        if role == "source":
            raise KplabError(f"source {text} is a Service, and Services send nothing: name a pod, a workload "
                             "or a node")
        return (text if "/" not in text else ref.key), ref.note  # a bare name goes through cluster DNS
    if ref.kind == "node" and role == "destination":
        if port is None:
            raise KplabError(f"destination {text}: a node needs a port (a NodePort, or one a host process listens on)")
        return f"{ref.key}:{port}", ""
    return ref.key, ref.note


def _port_note(cluster, destination: str, port: int | None, protocol: str) -> str:
    """A sentence when `port` is not one of the destination Service's ports: kube-proxy writes rules per Service
    port (proxier.go), so the packet keeps its destination and no rule of the Service matches it."""
    from kplab.k8s.reference import resolve

    if port is None:
        return ""
    ref = resolve(cluster, destination, "destination")
    svc = cluster.services.get(ref.key) if ref is not None and ref.kind == "service" else None
    if svc is None or not svc.ports or any(p.port == port and p.protocol.lower() == protocol.lower()
                                           for p in svc.ports):
        return ""
    ports = ", ".join(f"{p.port}/{p.protocol}" for p in svc.ports)
    return (f"Service {ref.key} has no port {port}/{protocol.upper()} (its ports: {ports}): kube-proxy writes no "
            f"rule for it, so no rule DNATs the packet and it keeps its destination")


def trace(cluster: "Cluster", source: str, destination: str, port: int | None = None, protocol: str = "tcp",
          seed: int = 0, reply: bool = False, **options: Any) -> "Trace":
    """One packet from `source` to `destination` through the cluster's rules: a frozen Trace (kplab.walk.trace).

    source: `[NS/]pod/NAME`, `[NS/]deploy|sts|ds|rs/NAME` (one of its pods, said in the trace's notes),
    `node/NAME`, `NS/NAME`, a bare pod or node name, or an IP (a pod's, a node's, or an outside address).
    destination: as source, plus `[NS/]svc/NAME` (its ClusterIP), a bare Service name or DNS name (resolved by
    cluster DNS, shown as steps), `node/NAME` with `port`, `NODE:NODEPORT`, or an IP (with `port`).
    port: the destination port (default: the Service's or pod's first); protocol: tcp, udp or sctp, any case;
    seed: picks the walk shown among the rules' random choices (all of them are in `outcomes()`); reply: also walk
    the answer. options: cni ("bridge", "calico"), overlay (None, "vxlan", "ipip"), layout ("current", "v1.19"),
    policy, rules ({node: iptables-save text}), ip_forward.
    KplabError (naming the object, with close matches) when a name fits nothing or two things."""
    from kplab.walk import network, run_trace

    src, src_note = _endpoint(cluster, source, "source", None)
    dst, dst_note = _endpoint(cluster, destination, "destination", port)
    notes = tuple(n for n in (src_note, dst_note, _port_note(cluster, destination, port, str(protocol))) if n)
    try:
        return run_trace(network(cluster, **options), src, dst, port=port, protocol=str(protocol).lower(), seed=seed,
                         reply=reply, notes=notes)
    except KplabError as e:
        if "DNS has no" in str(e) and "/" not in destination:
            from kplab.k8s.reference import close_matches
            near = close_matches(cluster, destination)
            if near:
                raise KplabError(f"{e} (close matches: {', '.join(near)})") from None
        raise


def rules(cluster: "Cluster", node: str, layout: str = "current", form: str = "save") -> str:
    """A node's rules as text: `form="save"` as `iptables-save` prints them on the node, `form="restore"` as
    kube-proxy hands them to iptables-restore. node: its name or `node/NAME`; layout: "current" or "v1.19"."""
    from kplab.k8s.reference import not_found
    from kplab.kubeproxy.kubeproxy import node_rules

    name = node.split("/", 1)[1] if node.lower().startswith(("node/", "no/", "nodes/")) else node
    if name not in cluster.nodes:
        raise not_found(cluster, "node", node, f"node {name!r}")
    return node_rules(cluster, name, layout=layout, form=form)


def reach(cluster: "Cluster", src: str | None = None, dst: str | None = None, port: int | None = None,
          protocol: str | None = None) -> tuple[dict[str, Any], ...]:
    """NetworkPolicy verdicts as rows: {from, to, port, protocol, allowed, ingress, egress, policies, reason, cni,
    enforced} (`enforced`: whether the cluster's CNI `cni` enforces NetworkPolicy at all).

    Every pod to every other, or only from `src` / to `dst` (kubectl names; a workload means all its pods). Without
    `port`, each destination pod is probed on the ports it declares (80 when it declares none). protocol: TCP,
    UDP or SCTP, any case (default TCP). `kplab.views.reach.reach_frame(rows)` makes a DataFrame of them."""
    from kplab.cni.reach import reach_rows

    return reach_rows(cluster, src=_reach_names(cluster, src, "source"), dst=_reach_names(cluster, dst, "destination"),
                      port=port, protocol=protocol or "TCP")


def _reach_names(cluster, text: str | None, role: str) -> list[str] | str | None:
    """A name as the policy model reads it: `[NS/]KIND/NAME` is resolved here (a workload stands for all of its
    pods); `NS/NAME`, node names and addresses go to kplab.cni as written."""
    from kplab.k8s.reference import OWNER_KIND, _workload_pods, kind_of, resolve

    if text is None:
        return None
    parts = text.split("/")
    kind = kind_of(parts[-2]) if len(parts) >= 2 else None
    if kind is None:
        return text
    ref = resolve(cluster, text, role)  # errors (not found, close matches) as for trace
    if kind in OWNER_KIND:
        namespace = parts[0] if len(parts) == 3 else "default"
        return [p.key for p in _workload_pods(cluster, kind, namespace, parts[-1])]
    return ref.key


def explore(cluster: "Cluster", **kw: Any):
    """The live explorer (ipywidgets): pick source, destination, port, and watch the trace (kplab.views.explorer)."""
    import importlib
    import importlib.util

    if importlib.util.find_spec("kplab.views.explorer") is None:
        raise KplabError("kplab.explore: the explorer (kplab.views.explorer) is not part of this kplab yet")
    explorer = importlib.import_module("kplab.views.explorer")
    return explorer.explore(cluster, **kw)


_LAZY = {"Trace": "kplab.walk.trace", "Hop": "kplab.walk.trace", "Step": "kplab.walk.trace",
         "Outcome": "kplab.walk.trace", "Flow": "kplab.walk.trace", "FlowDiff": "kplab.walk.trace",
         "Cluster": "kplab.k8s.cluster"}


def __getattr__(name: str):
    # The model's classes, imported only when asked for (keeps `import kplab` small).
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kplab' has no attribute {name!r}")
