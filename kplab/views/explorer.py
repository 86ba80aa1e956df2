"""The live explorer: pick a source, a destination, a protocol and a port, flip what-if switches, and watch the
packet's walk redraw — for live demos (ipywidgets; it needs a running kernel, unlike the player it shows).

    kplab.explore(cluster)                       # or kplab.views.explorer.explore(cluster, size="presentation")

Switches, each a change a real cluster can make: externalTrafficPolicy and internalTrafficPolicy of every
Service that has one (Cluster / Local), kube-proxy's masqueradeAll, ip_forward on the nodes, kube-proxy's rule
layout (current / v1.19), the CNI (bridge / Calico) and each NetworkPolicy (applied or not; the policies are
enforced by the Calico-style rules, so policy switches matter with CNI calico). A switch makes a changed copy of
the cluster (the one passed in is never touched); the walk then runs on that copy's freshly generated rules.
Views: the animated player (with the cluster picture), the step table, the Service chain view when the
destination is a Service, and the policy matrix at the chosen port.
"""
from __future__ import annotations

import dataclasses
import html
import time

import ipywidgets as w

from kplab.errors import KplabError

OUTSIDE_CLIENT = "203.0.113.10"  # TEST-NET-3 (RFC 5737): an outside address that is nobody's
SIZES = {"normal": "15px", "presentation": "20px"}


def _choices(cluster) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(sources, destinations) as (label, value) pairs in the spellings kplab.trace reads."""
    pods = sorted(cluster.pods.values(), key=lambda p: (p.namespace != "default", p.key))
    workloads = sorted({p.owner.split("/", 1)[-1] if p.owner else None for p in pods} - {None})
    sources = [(f"pod {p.key}", p.key) for p in pods if p.ip and not p.host_network]
    sources += [(f"deploy {w_}", f"deploy/{w_}") for w_ in workloads
                if any(p.owner and p.owner.startswith("Deployment/") and p.owner.endswith("/" + w_) for p in pods)]
    sources += [(f"node {n}", f"node/{n}") for n in sorted(cluster.nodes)]
    sources += [(f"outside client {OUTSIDE_CLIENT}", OUTSIDE_CLIENT)]
    dests = []
    domain = cluster.settings.dns_domain
    for svc in sorted(cluster.services.values(), key=lambda s: (s.namespace != "default", s.key)):
        dests.append((f"svc {svc.key}", f"{svc.namespace}/svc/{svc.name}"))
        dests.append((f"DNS {svc.name}.{svc.namespace}.svc.{domain}", f"{svc.name}.{svc.namespace}.svc.{domain}"))
        for node in sorted(cluster.nodes):
            for sp in svc.ports:
                if sp.node_port:
                    dests.append((f"NodePort {node}:{sp.node_port} ({svc.name})", f"{node}:{sp.node_port}"))
        for ingress in svc.load_balancer_ingress:
            if ingress.ip:
                dests.append((f"LoadBalancer {ingress.ip} ({svc.name})", ingress.ip))
    dests += [(f"pod {p.key}", p.key) for p in pods if p.ip]
    dests += [(f"outside server {OUTSIDE_CLIENT}", OUTSIDE_CLIENT)]
    return sources, dests


class Explorer(w.VBox):
    """The explorer widget. Controls are attributes (source, destination, protocol, port, etp, itp, masquerade,
    ip_forward, layout, cni, policies); `player`, `steps`, `chains`, `matrix` are the output panes; `status` says
    what was drawn (and how long it took) or what went wrong; `redraw()` recomputes everything."""

    def __init__(self, cluster, size: str = "normal", source: str | None = None, destination: str | None = None):
        if size not in SIZES:
            raise KplabError(f"explorer size {size!r}: normal or presentation")
        self.cluster = cluster
        self.size = size
        self._variants: dict[tuple, object] = {}
        self._drawings: dict[tuple, tuple] = {}  # (cluster copy, ends, port, protocol) -> (trace, player, steps)
        sources, dests = _choices(cluster)
        wide = w.Layout(width="auto", min_width="320px")
        self.source = w.Dropdown(options=sources, description="from", layout=wide)
        self.destination = w.Dropdown(options=dests, description="to", layout=wide)
        if source is not None:
            self.source.value = source
        elif sources:
            self.source.value = next((v for label, v in sources if v.startswith("default/")), sources[0][1])
        if destination is not None:
            self.destination.value = destination
        self.protocol = w.ToggleButtons(options=["tcp", "udp", "sctp"], value="tcp", description="protocol")
        self.port = w.Text(value="", placeholder="default", description="port", layout=w.Layout(width="170px"))
        # the switches start where the manifests put them (the first Service that has the field)
        etp = next((s.external_traffic_policy for s in cluster.services.values()
                    if s.type in ("NodePort", "LoadBalancer") and s.external_traffic_policy), "Cluster")
        itp = next((s.internal_traffic_policy for s in cluster.services.values() if s.internal_traffic_policy),
                   "Cluster")
        self.etp = w.ToggleButtons(options=["Cluster", "Local"], value=etp, description="extTrafficPolicy",
                                   tooltips=["externalTrafficPolicy: Cluster", "externalTrafficPolicy: Local"])
        self.itp = w.ToggleButtons(options=["Cluster", "Local"], value=itp, description="intTrafficPolicy")
        self.masquerade = w.Checkbox(value=bool(cluster.proxy.masquerade_all), description="masqueradeAll",
                                     indent=False)
        self.ip_forward = w.Checkbox(value=True, description="ip_forward on nodes", indent=False)
        self.layout_ = w.ToggleButtons(options=["current", "v1.19"], value="current", description="kube-proxy")
        self.cni = w.ToggleButtons(options=["bridge", "calico"], value=cluster.settings.cni, description="CNI")
        self.policies = {key: w.Checkbox(value=True, description=f"policy {key}", indent=False)
                         for key in sorted(cluster.networkpolicies)}
        self.status = w.HTML()
        self.player = w.HTML()
        self.steps = w.HTML()
        self.chains = w.HTML()
        self.matrix = w.HTML()
        tabs = w.Tab(children=[self.player, self.steps, self.chains, self.matrix])
        for i, title in enumerate(("packet", "steps", "Service chains", "policy matrix")):
            tabs.set_title(i, title)
        self.tabs = tabs
        tabs.observe(self._fill_tab, names="selected_index")
        controls = [self.source, self.destination, self.protocol, self.port, self.etp, self.itp, self.masquerade,
                    self.ip_forward, self.layout_, self.cni, *self.policies.values()]
        for c in controls:
            c.observe(lambda _change: self.redraw(), names="value")
            c.add_class("kplab-control")
            if c.description and not isinstance(c, w.Checkbox):
                c.style.description_width = "initial"  # the label beside the control, not cut or wrapped
        font = SIZES[size]
        style = w.HTML(f"<style>.kplab-explorer, .kplab-explorer .widget-label, .kplab-explorer button, "
                       f".kplab-explorer select, .kplab-explorer input {{font-size:{font} !important}}"
                       f".kplab-explorer .widget-toggle-buttons .widget-toggle-button{{width:auto;min-width:90px}}"
                       f"</style>")
        switches = w.HBox([self.etp, self.itp], layout=w.Layout(flex_flow="row wrap"))
        more = w.HBox([self.masquerade, self.ip_forward, self.layout_, self.cni],
                      layout=w.Layout(flex_flow="row wrap", align_items="center"))
        pols = w.HBox(list(self.policies.values()), layout=w.Layout(flex_flow="row wrap"))
        super().__init__([style, w.HBox([self.source, self.destination], layout=w.Layout(flex_flow="row wrap")),
                          w.HBox([self.protocol, self.port], layout=w.Layout(flex_flow="row wrap")),
                          switches, more, pols, self.status, tabs])
        self.add_class("kplab-explorer")
        self.player.add_class("kplab-explorer-player")
        self.redraw()

    # ---- the what-if cluster ----------------------------------------------------------------------
    def variant(self):
        """The cluster with the switches applied (cached per switch setting; the original is never changed)."""
        # One copy per whole setting, options included: each copy keeps its own built network (rules parsed
        # once), so flipping a switch back and forth redraws from cache.
        key = (self.etp.value, self.itp.value, self.masquerade.value,
               tuple(k for k, c in self.policies.items() if c.value), self.layout_.value, self.cni.value,
               self.ip_forward.value)
        if key in self._variants:
            return self._variants[key]
        c = self.cluster
        services = {}
        for k, svc in c.services.items():
            changes = {}
            if svc.type in ("NodePort", "LoadBalancer"):
                changes["external_traffic_policy"] = self.etp.value
            if svc.type != "ExternalName" and svc.cluster_ip not in (None, "", "None"):
                changes["internal_traffic_policy"] = self.itp.value
            services[k] = dataclasses.replace(svc, **changes) if changes else svc
        kept = {k: v for k, v in c.networkpolicies.items() if self.policies[k].value}
        proxy = dataclasses.replace(c.proxy, masquerade_all=self.masquerade.value)
        variant = dataclasses.replace(c, services=services, networkpolicies=kept, proxy=proxy,
                                      warnings=list(c.warnings))
        self._variants[key] = variant
        return variant

    def options(self) -> dict:
        opts = {"layout": self.layout_.value, "cni": self.cni.value}
        if not self.ip_forward.value:
            opts["ip_forward"] = {n: False for n in self.cluster.nodes}
        return opts

    # ---- drawing --------------------------------------------------------------------------------
    def redraw(self) -> float:
        """Walk and redraw every pane; returns the seconds it took. Errors are shown, never raised."""
        import kplab
        from kplab.views.player import play

        t0 = time.perf_counter()
        cluster = self.variant()
        opts = self.options()
        port = self.port.value.strip()
        try:
            port_n = int(port) if port else None
            if port_n is not None and not 0 < port_n < 65536:
                raise ValueError
        except ValueError:
            self.status.value = f'<span style="color:#b71c1c">port {html.escape(port)}: a number 1-65535</span>'
            return time.perf_counter() - t0
        state = (id(cluster), self.source.value, self.destination.value, port_n, self.protocol.value)
        try:
            if state not in self._drawings:  # a setting seen before is drawn from memory (walks are deterministic)
                t = kplab.trace(cluster, self.source.value, self.destination.value, port=port_n,
                                protocol=self.protocol.value, reply=True, **opts)
                self._drawings[state] = (t, play(t, cluster=cluster, size=self.size, **opts)._repr_html_(),
                                         t._repr_html_())
            t, player_html, steps_html = self._drawings[state]
        except KplabError as e:
            self.status.value = f'<span style="color:#b71c1c" data-testid="explorer-error">{html.escape(str(e))}</span>'
            self.player.value = self.steps.value = ""
            return time.perf_counter() - t0
        self.trace, self._drawn = t, (cluster, opts)
        self.player.value = player_html
        self.steps.value = steps_html
        self.chains.value = self.matrix.value = ""  # drawn when their tab is shown
        self._fill_tab()
        took = time.perf_counter() - t0
        ends = "; ".join(f"{o.probability} {o.verdict}" + (f" → {o.delivered_to}" if o.delivered_to else "")
                         for o in t.outcomes())
        self.status.value = (f'<span data-testid="explorer-status"><b>{html.escape(t.verdict)}</b> '
                             f"{html.escape(t.reason)} · outcomes: {html.escape(ends)} "
                             f'<span style="color:#777">({took * 1000:.0f} ms)</span></span>')
        return took

    def _fill_tab(self, _change=None) -> None:
        """The Service chain view and the policy matrix are drawn only when their tab is open (each builds rules
        or verdicts of its own, so a redraw stays quick)."""
        if not hasattr(self, "_drawn"):
            return
        cluster, opts = self._drawn
        if self.tabs.selected_index == 2 and not self.chains.value:
            self.chains.value = self._chains(cluster, self.trace, opts)
        elif self.tabs.selected_index == 3 and not self.matrix.value:
            self.matrix.value = self._matrix(cluster, self.trace)

    def _chains(self, cluster, t, opts) -> str:
        from kplab.views.chains import service_chains
        dst = t.packet.dst
        svc = next((s for s in cluster.services.values() if s.cluster_ip == dst or dst in s.external_ips
                    or any(i.ip == dst for i in s.load_balancer_ingress)), None)
        if svc is None:
            return "<p>The destination is not a Service address: no kube-proxy chain to show.</p>"
        node = next((h.host for h in t.hops if h.host_kind == "node"), None)
        try:
            port = t.packet.dport if any(p.port == t.packet.dport for p in svc.ports) else None
            view = service_chains(cluster, svc.key, port=port, node=node)
        except KplabError as e:
            return f"<p>{html.escape(str(e))}</p>"
        return view._repr_html_()

    def _matrix(self, cluster, t) -> str:
        import kplab
        from kplab.views.matrix import policy_matrix
        if not cluster.networkpolicies:
            return "<p>No NetworkPolicy is applied: every pod may reach every other.</p>"
        port = (t.packet_delivered.dport if t.packet_delivered is not None else None) or t.packet.dport or 80
        try:
            rows = kplab.reach(cluster, port=port, protocol=self.protocol.value)
            return policy_matrix(rows)._repr_html_()
        except KplabError as e:
            return f"<p>{html.escape(str(e))}</p>"


def explore(cluster, size: str = "normal", source: str | None = None, destination: str | None = None) -> Explorer:
    """The explorer for `cluster` (a kplab Cluster); `size="presentation"` for a projector. KplabError for an
    unknown size or a source/destination that is not among the choices."""
    return Explorer(cluster, size=size, source=source, destination=destination)
