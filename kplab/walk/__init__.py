"""kplab.walk: the packet walk across the whole cluster, and the Trace it produces (kplab.walk.trace).

    trace(cluster, "default/client", "default/webapp")   # notebooks use the front door: kplab.trace(...)

(Named `walk`, not `trace`, so that the front door's function `kplab.trace` is never shadowed by a subpackage.)

Hosts, links and routing tables come from the cluster (`Topology`); each node runs the rules
kube-proxy (and the CNI) would write, through the netfilter engine (`Network`, `Session`).
"""
from __future__ import annotations

from kplab.walk.connection import Connection
from kplab.walk.host import Host
from kplab.walk.interface import Interface
from kplab.walk.route import Nexthop, RouteEntry, RoutingTable
from kplab.walk.topology import Topology
from kplab.walk.trace import Flow, FlowDiff, Hop, Outcome, Step, Trace
from kplab.walk.walker import Network, Session, run_branches, run_trace

__all__ = ["Connection", "Flow", "FlowDiff", "Hop", "Host", "Interface", "Network", "Nexthop", "Outcome", "RouteEntry",
           "RoutingTable", "Session", "Step", "Topology", "Trace", "branches", "network", "run_branches", "run_trace",
           "trace"]

_CACHE_ATTR = "_kplab_trace_network"


def network(cluster, refresh: bool = False, **options) -> Network:
    """The cluster's Network (topology, parsed rules), built once and kept on the cluster object until any
    Kubernetes object changes (kplab.k8s.revision: attribute, list and dict edits in place count) or `refresh`
    is asked for. Checking costs one integer comparison, whatever the cluster's size."""
    from kplab.k8s import revision

    cached = cluster.__dict__.get(_CACHE_ATTR)
    key = (revision.current(), tuple(sorted(options.items())))
    if not refresh and cached is not None and cached[0] == key:
        return cached[1]
    topo_opts = {k: options[k] for k in ("cni", "overlay", "ip_forward") if k in options}
    net_opts = {k: options[k] for k in ("layout", "policy", "rules") if k in options}
    built = Network(cluster, Topology.from_cluster(cluster, **topo_opts) if topo_opts else None, **net_opts)
    try:
        cluster.__dict__[_CACHE_ATTR] = (key, built)
    except (AttributeError, TypeError):  # pragma: no cover - slotted objects
        pass
    return built


def trace(cluster, src: str, dst: str, port: int | None = None, protocol: str = "tcp", seed: int = 0,
          reply: bool = False, **options) -> Trace:
    """Walk one packet from SRC to DST (see kplab.walk.address for the accepted forms)."""
    return run_trace(network(cluster, **options), src, dst, port=port, protocol=protocol, seed=seed, reply=reply)


def branches(cluster, src: str, dst: str, port: int | None = None, protocol: str = "tcp", reply: bool = False,
             **options) -> tuple:
    """Every branch of the walk from SRC to DST as (probability, Trace) (see run_branches)."""
    return run_branches(network(cluster, **options), src, dst, port=port, protocol=protocol, reply=reply)
