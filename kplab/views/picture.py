"""The cluster picture: what a packet passes, drawn as SVG with a fixed, hand-tuned layout (never a spring layout).

    pic = picture(cluster)                 # kplab Cluster -> Picture
    pic                                    # renders in a notebook (inline SVG)
    pic.svg                                # the SVG text; pic.route(...) gives the packet's path between hops

Top band: outside hosts on the outside link, the router (and the load balancer when a LoadBalancer Service has an
address), the node network as a bus, and the overlay as a second bus when there is one. Below: one box per node
with its interface chips on the top edge (eth0, the tunnel device), the kernel chip (routing + netfilter) where the
packet sits while a node handles it, the pod-side plumbing (the `cni0` bridge, or Calico's `cali*` veths with one
/32 route each) and the pods (name, IP, the veth pair). Bottom band: Services as virtual IPs in no box, because no
interface owns a ClusterIP — only the nodes' rules translate it.

Names come from the same Topology the trace walks (kplab.walk.topology), so an interface in a hop is an interface
in the picture. Units are SVG user units; the drawing is scaled to its container's width, and `FONT` is chosen so
that text stays >= 12 px when the picture is shown at 1280x720 (a projector).
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

FONT = 15  # labels, user units (>= 12 px on screen down to a scale of 0.8)
SMALL = 14  # second lines
CHAR = 0.61  # monospace advance per font unit (DejaVu Sans Mono 0.602, rounded up)
LINE = 19  # line pitch for FONT
MARGIN = 20
NODE_GAP = 28
POD_GAP = 10
POD_PAD = 8
STUB = 18  # veth stub from the pod-side bus to a pod box
OUTSIDE_ROW = 56  # height of the outside hosts' row, when there are any
CHIP_H = 24
MIN_WIDTH = 760
MAX_SCALE = 1.15  # never blown up more than this (the SVG's max-width)
MAX_PODS_PER_COLUMN = 4
KERNEL = "netfilter"  # the chip where a node's routing, netfilter hooks and conntrack act on the packet


def text_width(text: str, size: float = FONT) -> float:
    """Estimated rendered width of monospace text (the layout only ever uses monospace)."""
    return len(text) * size * CHAR


@dataclass(frozen=True)
class Box:
    """A drawn rectangle: `key` names what it is ("pod:ns/name", "node:minikube", "svc:ns/name", "chip:...")."""

    key: str
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def contains(self, other: "Box") -> bool:
        return (self.x <= other.x and self.y <= other.y and other.x + other.w <= self.x + self.w
                and other.y + other.h <= self.y + self.h)

    def overlaps(self, other: "Box") -> bool:
        return not (other.x >= self.x + self.w or other.x + other.w <= self.x
                    or other.y >= self.y + self.h or other.y + other.h <= self.y)


@dataclass(frozen=True)
class Label:
    """A drawn text: baseline at y; its box (estimated from monospace metrics) for overlap checks."""

    text: str
    x: float
    y: float
    size: float = FONT
    anchor: str = "start"  # SVG text-anchor
    cls: str = ""

    @property
    def box(self) -> Box:
        w = text_width(self.text, self.size)
        x = self.x - (w / 2 if self.anchor == "middle" else w if self.anchor == "end" else 0)
        return Box(f"text:{self.text}", x, self.y - self.size * 0.8, w, self.size)


@dataclass(frozen=True)
class Edge:
    """A drawn line (polyline points); `ends` are the keys of the boxes it is allowed to touch."""

    key: str
    points: tuple[tuple[float, float], ...]
    cls: str = "link"
    ends: tuple[str, ...] = ()


@dataclass
class Anchor:
    """Where a host sits (`center`) and, per interface, the points from the centre out to the shared medium."""

    center: tuple[float, float]
    ports: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


@dataclass
class Picture:
    """The drawn cluster: boxes, labels and edges in SVG user units, plus anchors for animating a packet.

    `hosts` maps the trace's host names (pod "ns/name", node name, "router", "load-balancer", an outside IP) to
    anchors; `services` maps each Service's addresses (ClusterIP, external/LB IPs) to its "svc:ns/name" key.
    """

    width: float
    height: float
    boxes: list[tuple[Box, str, str]] = field(default_factory=list)  # (box, css class, tooltip)
    labels: list[Label] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    hosts: dict[str, Anchor] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)
    pod_links: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # pod -> points to its node's kernel
    cni: str = "bridge"
    overlay: str | None = None

    # ---- the packet's path ------------------------------------------------------------------
    def route(self, host_a: str, iface_a: str | None, host_b: str, iface_b: str | None) -> list[tuple[float, float]]:
        """Points a packet follows from host A (leaving by iface_a) to host B (arriving on iface_b)."""
        a, b = self.hosts.get(host_a), self.hosts.get(host_b)
        if a is None or b is None:
            return [p for p in ((a.center if a else None), (b.center if b else None)) if p]
        if host_a in self.pod_links and self.pod_links[host_a][-1] == b.center:
            return list(self.pod_links[host_a])
        if host_b in self.pod_links and self.pod_links[host_b][-1] == a.center:
            return list(reversed(self.pod_links[host_b]))
        pa = a.ports.get(iface_a or "") or [a.center]
        pb = b.ports.get(iface_b or "") or [b.center]
        if pa[-1][1] != pb[-1][1]:  # not on one medium: go by the node network
            pa = a.ports.get("eth0", pa)
            pb = b.ports.get("eth0", pb)
        return _clean(pa + list(reversed(pb)))

    # ---- rendering --------------------------------------------------------------------------
    @property
    def svg(self) -> str:
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="kplab-picture" viewBox="0 0 {self.width:.0f} '
               f'{self.height:.0f}" width="100%" preserveAspectRatio="xMidYMin meet" role="img" '
               f'aria-label="cluster picture" data-testid="cluster-picture" '
               f'style="max-width:{self.width * MAX_SCALE:.0f}px;font-family:{FONT_FAMILY}">',
               f"<style>{SVG_STYLE}</style>"]
        # containers first, then the lines, then what sits on them
        for box, cls, tip in self.boxes:
            if cls == "node":
                out.append(_rect(box, cls, tip))
        for edge in self.edges:
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in edge.points)
            out.append(f'<polyline class="{edge.cls}" data-key="{_a(edge.key)}" points="{pts}"/>')
        out.append('<g class="trail-layer"></g>')  # a packet's trail: above the lines, under boxes and text
        for box, cls, tip in self.boxes:
            if cls != "node":
                out.append(_rect(box, cls, tip))
        for lab in self.labels:
            anchor = f' text-anchor="{lab.anchor}"' if lab.anchor != "start" else ""
            cls = f' class="{lab.cls}"' if lab.cls else ""
            out.append(f'<text x="{lab.x:.1f}" y="{lab.y:.1f}" font-size="{lab.size}"{anchor}{cls}>'
                       f"{html.escape(lab.text)}</text>")
        out.append('<g class="overlay-layer"></g></svg>')
        return "\n".join(out)

    def scale_at(self, container_px: float) -> float:
        """How much the drawing is scaled when shown in a container this many CSS pixels wide."""
        return min(MAX_SCALE, container_px / self.width)

    def min_text_px(self, container_px: float) -> float:
        """The smallest text's height in CSS pixels at that container width (>= 12 wanted on a projector)."""
        return min(lab.size for lab in self.labels) * self.scale_at(container_px)

    def _repr_html_(self) -> str:
        return f'<div class="kplab-picture-wrap" style="max-width:100%">{self.svg}</div>'

    def to_dict(self) -> dict:
        """The anchors and sizes the player's script needs (JSON-ready)."""
        return {"width": self.width, "height": self.height,
                "hosts": {k: [round(a.center[0], 1), round(a.center[1], 1)] for k, a in self.hosts.items()},
                "services": dict(self.services)}


FONT_FAMILY = "'DejaVu Sans Mono','Menlo','Consolas',monospace"
SVG_STYLE = """
.kplab-picture text{fill:#1b2631}
.kplab-picture .dim{fill:#4d5b69}
.kplab-picture .bold{font-weight:bold}
.kplab-picture rect{stroke-width:1.5}
.kplab-picture .node{fill:#eef4fb;stroke:#5b7fa6}
.kplab-picture .pod{fill:#eaf6e8;stroke:#5c9a52}
.kplab-picture .other-ns{fill:#e9ecef;stroke:#7f8c8d}
.kplab-picture .chip{fill:#ffffff;stroke:#5b7fa6}
.kplab-picture .kernel{fill:#fff6df;stroke:#b8860b}
.kplab-picture .svc{fill:#fff3e3;stroke:#c77a12;stroke-dasharray:6 4}
.kplab-picture .router{fill:#f2eefb;stroke:#6c5ba6}
.kplab-picture .outside{fill:#f4f4f4;stroke:#777}
.kplab-picture .bridge{fill:#5b7fa6;stroke:none}
.kplab-picture polyline{fill:none}
.kplab-picture .link{stroke:#5b7fa6;stroke-width:2}
.kplab-picture .bus{stroke:#34495e;stroke-width:4}
.kplab-picture .tunnel{stroke:#8e44ad;stroke-width:3;stroke-dasharray:10 6}
.kplab-picture .wan{stroke:#777;stroke-width:3}
.kplab-picture .hl{stroke:#d35400 !important;stroke-width:4 !important;stroke-dasharray:none}
.kplab-picture .hl-soft{fill:#ffe0c2 !important}
"""


def _rect(box: Box, cls: str, tip: str) -> str:
    title = f"<title>{html.escape(tip)}</title>" if tip else ""
    return (f'<rect class="{cls}" data-key="{_a(box.key)}" x="{box.x:.1f}" y="{box.y:.1f}" '
            f'width="{box.w:.1f}" height="{box.h:.1f}" rx="6">{title}</rect>')


def _a(text: str) -> str:
    return html.escape(text, quote=True)


def _clean(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for p in points:
        if not out or out[-1] != p:
            out.append(p)
    return out


def picture(cluster, cni: str | None = None, overlay: str | None = "auto", outside: tuple[str, ...] = (),
            topology=None) -> Picture:
    """Draw `cluster` (a kplab Cluster). `cni` ("bridge" or "calico") and `overlay` (None, "vxlan", "ipip")
    default to the cluster's settings; `outside` names outside addresses to draw as hosts (a trace's client);
    `topology` reuses an already built kplab.walk Topology (it must be the cluster's).

    Raises KplabError (from the topology) when a node has no InternalIP or the CNI/overlay is unknown.
    """
    from kplab.walk.topology import Topology

    topo = topology if topology is not None else Topology.from_cluster(cluster, cni=cni, overlay=overlay)
    return _Layout(cluster, topo, tuple(outside)).draw()


class _Layout:
    """Places everything once; each method draws one band."""

    def __init__(self, cluster, topo, outside: tuple[str, ...]):
        self.cluster, self.topo = cluster, topo
        self.outside = [ip for ip in dict.fromkeys(outside)] + sorted(
            h.name for h in topo.hosts.values() if h.kind == "outside" and h.name not in outside)
        self.pic = Picture(0, 0, cni=topo.cni, overlay=topo.overlay)
        top = OUTSIDE_ROW + 20 if self.outside else 22
        self.wan_y = top
        self.lan_y = top + 80
        self.overlay_y = self.lan_y + 28
        self.nodes_top = self.lan_y + (58 if topo.overlay else 42)
        self.namespaces: set[str] = set()
        self.drops: list[tuple[float, float, float]] = []  # (x, top, bottom) of lines crossing the buses
        self.notes: list[str] = []  # bus labels that found no free spot go under the nodes  # x of every vertical line crossing the buses

    # ---- helpers ----------------------------------------------------------------------------
    def box(self, box: Box, cls: str, tip: str = "") -> Box:
        self.pic.boxes.append((box, cls, tip))
        return box

    def text(self, text: str, x: float, y: float, size: float = FONT, anchor: str = "start", cls: str = "") -> None:
        self.pic.labels.append(Label(text, x, y, size, anchor, cls))

    def edge(self, key: str, points, cls: str = "link", ends: tuple[str, ...] = ()) -> None:
        self.pic.edges.append(Edge(key, tuple(points), cls, ends))

    def chip(self, key: str, text: str, x: float, y: float, cls: str = "chip", tip: str = "") -> Box:
        b = self.box(Box(key, x, y, text_width(text, SMALL) + 10, CHIP_H), cls, tip)
        self.text(text, b.cx, y + CHIP_H / 2 + SMALL * 0.35, SMALL, "middle")
        return b

    # ---- bands ------------------------------------------------------------------------------
    def draw(self) -> Picture:
        nodes_right = self.nodes()
        top_right = self.top_band()
        width = max(MIN_WIDTH, nodes_right + MARGIN, top_right + MARGIN)
        self.buses(width)
        bottom = self.services(width, self.nodes_bottom + 26)
        self.pic.width, self.pic.height = width, bottom + MARGIN
        return self.pic

    def nodes(self) -> float:
        topo = self.topo
        node_names = sorted(h.name for h in topo.hosts.values() if h.kind == "node")
        pods_by_node: dict[str, list] = {n: [] for n in node_names}
        for h in topo.hosts.values():
            if h.kind == "pod" and h.node in pods_by_node:
                pods_by_node[h.node].append(h)
        for pods in pods_by_node.values():
            pods.sort(key=lambda h: (h.name.split("/")[0] != "default", h.name))
        rows = max([min(len(p), MAX_PODS_PER_COLUMN) for p in pods_by_node.values()] or [1]) or 1
        pod_h = POD_PAD * 2 + LINE + LINE
        self.pod_h = pod_h
        body_top = self.nodes_top + CHIP_H / 2 + 2 * LINE + 30
        node_h = (body_top - self.nodes_top) + 12 + rows * (pod_h + POD_GAP) + 6
        self.nodes_bottom = self.nodes_top + node_h
        x = MARGIN
        for name in node_names:
            x = self.node(name, pods_by_node[name], x, node_h, rows, body_top) + NODE_GAP
        return x - NODE_GAP

    def node(self, name: str, pods: list, x: float, node_h: float, rows: int, body_top: float) -> float:
        topo = self.topo
        host = topo.hosts[name]
        ip = topo.node_ips.get(name, "")
        cidr = topo.node_cidrs.get(name) or "no pod CIDR"
        columns = max(1, -(-len(pods) // rows))
        pod_w = max([self.pod_width(p) for p in pods] or [0])
        tunnel = next((i for i in host.interfaces.values() if i.kind in ("vxlan", "ipip")), None)
        eth0_text = f"eth0 {ip}"
        chips_w = text_width(eth0_text, SMALL) + 10 + (text_width(tunnel.name, SMALL) + 10 + 10 if tunnel else 0)
        head_w = text_width(name, FONT + 1) + text_width(KERNEL, SMALL) + 10 + 36
        bridge_text = self.bridge_text(name)
        inner = max(columns * (STUB + 6 + pod_w) + (columns - 1) * 14, chips_w, head_w,
                    text_width(bridge_text, SMALL) + 24, 200)
        w = inner + 24
        tip = f"node {name}: InternalIP {ip}, podCIDR {cidr}, ip_forward={int(host.ip_forward)}"
        node_box = self.box(Box(f"node:{name}", x, self.nodes_top, w, node_h), "node", tip)
        # interface chips straddle the top edge; their drops reach the buses
        eth0 = self.chip(f"iface:{name}:eth0", eth0_text, x + 14, self.nodes_top - CHIP_H / 2, tip=f"{name} eth0 {ip}")
        ex = eth0.x + 22  # the drop sits off-centre so it never lines up with the router's
        self.drops.append((ex, self.lan_y, eth0.y))
        self.edge(f"drop:{name}:eth0", [(ex, eth0.y), (ex, self.lan_y)], "link", (eth0.key, "bus:lan"))
        anchor = Anchor(center=(0, 0))
        # kernel chip: where the packet sits while this node's routing and netfilter handle it
        name_y = self.nodes_top + CHIP_H / 2 + LINE + 4
        self.text(name, x + 14, name_y, FONT + 1, cls="bold")
        kernel = self.chip(f"kernel:{name}", KERNEL, x + w - 14 - (text_width(KERNEL, SMALL) + 10),
                           name_y - CHIP_H + 7, "kernel", tip=f"{name}: routing decisions, netfilter hooks, conntrack")
        kx = kernel.x - 11  # where the packet rests while this node handles it: beside the chip, not on its text
        anchor.center = (kx, kernel.cy)
        anchor.ports["eth0"] = [(kx, kernel.cy), (kx, kernel.y - 4), (ex, kernel.y - 4),
                                (ex, eth0.y), (ex, self.lan_y)]
        if tunnel is not None:
            tip = (f"{tunnel.name}: {tunnel.kind} device" + (f", outer UDP port {self.tunnel_port()}"
                                                             if tunnel.kind == "vxlan" else ", IP protocol 4"))
            tb = self.chip(f"iface:{name}:{tunnel.name}", tunnel.name, eth0.x + eth0.w + 10, self.nodes_top - CHIP_H / 2,
                           tip=tip)
            self.drops.append((tb.cx, self.overlay_y, tb.y))
            self.edge(f"drop:{name}:{tunnel.name}", [(tb.cx, tb.y), (tb.cx, self.overlay_y)], "tunnel",
                      (tb.key, "bus:overlay"))
            anchor.ports[tunnel.name] = [(kx, kernel.cy), (kx, kernel.y - 4), (tb.cx, kernel.y - 4),
                                         (tb.cx, tb.y), (tb.cx, self.overlay_y)]
        # pod side: the bridge (or Calico's host routing) as a bar, one vertical drop per column
        bar_y = body_top
        self.text(bridge_text, x + 14, bar_y - 9, SMALL, cls="dim")
        self.box(Box(f"bridge:{name}", x + 12, bar_y, w - 24, 5), "bridge",
                 "Linux bridge cni0 (the pods' gateway)" if self.topo.cni == "bridge" else
                 "the node's own routing table: one /32 route per pod, dev cali*")
        self.pic.hosts[name] = anchor
        anchor.ports["cni0"] = [(kx, kernel.cy), (kx, bar_y + 2)]
        for c in range(columns):
            col_x = x + 12 + c * (STUB + 6 + pod_w + 14) + 4
            col_pods = pods[c * rows:(c + 1) * rows]
            last_cy = bar_y + 12 + (len(col_pods) - 1) * (self.pod_h + POD_GAP) + self.pod_h / 2
            if col_pods:
                self.edge(f"bridge:{name}:{c}", [(col_x, bar_y + 5), (col_x, last_cy)], "link",
                          (f"bridge:{name}",))
            for r, pod in enumerate(col_pods):
                py = bar_y + 12 + r * (self.pod_h + POD_GAP)
                self.pod(pod, col_x, col_x + STUB + 6, py, pod_w, kx, bar_y, anchor)
        return x + w

    def pod_width(self, pod) -> float:
        ns, _, name = pod.name.partition("/")
        ip = pod.interfaces["eth0"].ips[0] if pod.interfaces.get("eth0") else ""
        return max(text_width(name),
                   text_width(f"{ip} ⇄ {self.peer_name(pod)}", SMALL)) + 2 * POD_PAD

    def peer_name(self, pod) -> str:
        eth0 = pod.interfaces.get("eth0")
        return eth0.peer[1] if eth0 is not None and eth0.peer else "?"

    def pod(self, pod, col_x: float, x: float, y: float, w: float, kx: float, bar_y: float, node: Anchor) -> None:
        ns, _, short = pod.name.partition("/")
        ip = pod.interfaces["eth0"].ips[0] if pod.interfaces.get("eth0") else ""
        peer = self.peer_name(pod)
        title = f"pod {pod.name} (namespace {ns}): eth0 {ip}; its veth peer on the node is {peer}"
        b = self.box(Box(f"pod:{pod.name}", x, y, w, self.pod_h), "pod" if ns == "default" else "pod other-ns", title)
        self.namespaces.add(ns)
        self.text(short, x + POD_PAD, y + POD_PAD + LINE - 5, FONT, cls="bold")
        self.text(f"{ip} ⇄ {peer}", x + POD_PAD, y + POD_PAD + 2 * LINE - 4, SMALL, cls="dim")
        self.edge(f"veth:{pod.name}", [(col_x, b.cy), (x, b.cy)], "link", (b.key, f"bridge:{pod.node}"))
        center = (x - 9, b.cy)  # the packet rests on the veth stub, beside the pod's text
        self.pic.hosts[pod.name] = Anchor(center, {"eth0": [center, (col_x, b.cy), (col_x, bar_y + 2)]})
        # pod -> its node's kernel, along its veth and the bridge bar
        self.pic.pod_links[pod.name] = [center, (col_x, b.cy), (col_x, bar_y + 2), (kx, bar_y + 2), node.center]
        node.ports[peer] = list(reversed(self.pic.pod_links[pod.name]))[:4]

    def bridge_text(self, node: str) -> str:
        if self.topo.cni == "bridge":
            cidr = self.topo.node_cidrs.get(node)
            if not cidr:
                return "cni0 (no pod CIDR)"
            gw = self.topo.hosts[node].interfaces.get("cni0")
            return f"cni0 bridge {gw.addresses[0] if gw and gw.addresses else cidr}"
        return "cali* veths, one /32 route each"

    def tunnel_port(self) -> int:
        from kplab.walk.topology import FLANNEL_VXLAN_PORT, VXLAN_PORT
        return FLANNEL_VXLAN_PORT if self.topo.cni == "bridge" else VXLAN_PORT

    def top_band(self) -> float:
        """Outside hosts on the outside link, the router, the load balancer; returns the right edge used."""
        topo = self.topo
        router = topo.hosts.get("router")
        x = MARGIN
        right = x
        if router is not None:
            r_ip = router.address or ""
            text = f"router {r_ip}"
            x = self.clear_of_drops(x, text_width(text) + 20)
            rb = self.box(Box("host:router", x, self.wan_y + 22, text_width(text) + 20, 36), "router",
                          "the node network's gateway to the outside world (default route of every node)")
            self.text(text, rb.x + 10, rb.cy + FONT * 0.35, FONT)
            self.drops.append((rb.cx, rb.y + rb.h, self.lan_y))
            self.edge("drop:router:eth0", [(rb.cx, rb.y + rb.h), (rb.cx, self.lan_y)], "link", (rb.key, "bus:lan"))
            self.edge("drop:router:wan", [(rb.cx, rb.y), (rb.cx, self.wan_y)], "wan", (rb.key, "wan"))
            c = (rb.cx, rb.y + rb.h + 9)  # the packet rests on the drop, not on the text
            self.pic.hosts["router"] = Anchor(c, {"eth0": [c, (rb.cx, self.lan_y)], "wan": [c, (rb.cx, self.wan_y)]})
            right = rb.x + rb.w
            x = right + 24
        lb = topo.hosts.get("load-balancer")
        if lb is not None:
            ips = sorted({i.ip for s in self.cluster.services.values() for i in s.load_balancer_ingress if i.ip})
            text = f"load balancer {', '.join(ips)}"
            x = self.clear_of_drops(x, text_width(text) + 20)
            tb = self.box(Box("host:load-balancer", x, self.wan_y + 22, text_width(text) + 20, 36), "router",
                          f"cloud load balancer at {lb.address} for " + ", ".join(ips)
                          + "; sends to the nodes that pass its health check")
            self.text(text, tb.x + 10, tb.cy + FONT * 0.35, FONT)
            self.drops.append((tb.cx, tb.y + tb.h, self.lan_y))
            self.edge("drop:load-balancer:eth0", [(tb.cx, tb.y + tb.h), (tb.cx, self.lan_y)], "link", (tb.key, "bus:lan"))
            c = (tb.cx, tb.y + tb.h + 9)
            self.pic.hosts["load-balancer"] = Anchor(c, {"eth0": [c, (tb.cx, self.lan_y)]})
            for ip in ips:
                self.pic.services.setdefault(ip, "host:load-balancer")
            right = tb.x + tb.w
        # outside hosts sit on the outside link, above
        ox = MARGIN
        for ip in self.outside:
            text = f"outside {ip}"
            ob = self.box(Box(f"host:{ip}", ox, 16, text_width(text) + 20, 36), "outside", f"a host outside the cluster, {ip}")
            self.text(text, ob.x + 10, ob.cy + FONT * 0.35, FONT)
            self.edge(f"drop:{ip}", [(ob.cx, ob.y + ob.h), (ob.cx, self.wan_y)], "wan", (ob.key, "wan"))
            c = (ob.cx, ob.y + ob.h + 9)
            self.pic.hosts[ip] = Anchor(c, {"eth0": [c, (ob.cx, self.wan_y)]})
            ox = ob.x + ob.w + 20
        wan_right = max(ox, (self.pic.hosts["router"].center[0] if "router" in self.pic.hosts else MARGIN) + 20)
        label = "outside world (internet)"
        self.edge("wan", [(MARGIN, self.wan_y), (wan_right + 10, self.wan_y)], "wan")
        self.text(label, wan_right + 20, self.wan_y + FONT * 0.35, FONT, cls="dim")
        return max(right, wan_right + 20 + text_width(label))

    def clear_of_drops(self, x: float, w: float) -> float:
        """The first x >= `x` where a box of width w has its centre at least 30 units from every node's drop."""
        while any(abs(x + w / 2 - d) < 30 for d, _, _ in self.drops):
            x += 12
        return x

    def free_spot(self, width: float, w: float, y0: float, y1: float) -> float | None:
        """Left x of the rightmost gap of width w between MARGIN and width-MARGIN that no vertical line or box
        crosses between y0 and y1 (a bus label must not sit on a drop)."""
        blocked = [(d - 6, d + 6) for d, top, bottom in self.drops if top < y1 and bottom > y0]
        blocked += [(b.x - 6, b.x + b.w + 6) for b, _, _ in self.pic.boxes if b.y < y1 and b.y + b.h > y0]
        blocked.sort()
        gaps, cursor = [], MARGIN
        for a, b in blocked:
            if a > cursor:
                gaps.append((cursor, a))
            cursor = max(cursor, b)
        gaps.append((cursor, width - MARGIN))
        fitting = [(a, b) for a, b in gaps if b - a >= w]
        if not fitting:
            return None
        a, b = fitting[-1]
        return b - w

    def buses(self, width: float) -> None:
        topo = self.topo
        lan_text = f"node network {topo.underlay}"
        self.edge("bus:lan", [(MARGIN, self.lan_y), (width - MARGIN, self.lan_y)], "bus")
        x = self.free_spot(width, text_width(lan_text), self.lan_y - 30, self.lan_y)
        if x is None:
            self.notes.append(f"thick line: {lan_text}")
        else:
            self.text(lan_text, x, self.lan_y - 9, cls="dim")
        if topo.overlay:
            dev = next((i.name for h in topo.hosts.values() if h.kind == "node" for i in h.interfaces.values()
                        if i.kind in ("vxlan", "ipip")), topo.overlay)
            what = (f"VXLAN overlay ({dev}, UDP {self.tunnel_port()})" if topo.overlay == "vxlan"
                    else f"IP-in-IP overlay ({dev}, IP proto 4)")
            self.edge("bus:overlay", [(MARGIN, self.overlay_y), (width - MARGIN, self.overlay_y)], "tunnel")
            x = self.free_spot(width, text_width(what, SMALL), self.lan_y, self.overlay_y)
            if x is None:
                self.notes.append(f"dashed line: {what}")
            else:
                self.text(what, x, self.overlay_y - 8, SMALL, cls="dim")

    def services(self, width: float, top: float) -> float:
        """Services as pills under the nodes (virtual: no box holds them). Returns the bottom edge."""
        services = sorted(self.cluster.services.values(), key=lambda s: (s.namespace != "default", s.namespace, s.name))
        others = sorted(self.namespaces - {"default"})
        notes = list(self.notes)
        if others:
            notes.append(f"grey pods: namespace {', '.join(others)}; green pods: default")
        for note in notes:
            self.text(note, MARGIN, top + FONT, FONT, cls="dim")
            top += LINE + 8
        self.text("Services: virtual IPs that no interface owns (the nodes' rules translate them)", MARGIN,
                  top + FONT, FONT, cls="dim")
        x, y = MARGIN, top + FONT + 12
        h = POD_PAD * 2 + 2 * LINE - 4
        for svc in services:
            name = svc.name if svc.namespace == "default" else f"{svc.namespace}/{svc.name}"
            ports = ",".join(f"{p.port}/{p.protocol}" + (f"→{p.node_port}" if p.node_port else "") for p in svc.ports)
            if svc.type == "ExternalName":
                second = f"CNAME {svc.external_name}"
            elif svc.cluster_ip in (None, "", "None"):
                second = f"headless {ports}"
            else:
                second = f"{svc.cluster_ip} {ports}"
            kind = "" if svc.type == "ClusterIP" else f" ({svc.type})"
            first = name + kind
            w = max(text_width(first), text_width(second, SMALL)) + 2 * POD_PAD
            if x + w > width - MARGIN and x > MARGIN:
                x, y = MARGIN, y + h + 10
            tip = f"Service {svc.key}: type {svc.type}"
            if svc.external_traffic_policy:
                tip += f", externalTrafficPolicy {svc.external_traffic_policy}"
            b = self.box(Box(f"svc:{svc.key}", x, y, w, h), "svc", tip)
            self.text(first, x + POD_PAD, y + POD_PAD + LINE - 5, FONT, cls="bold")
            self.text(second, x + POD_PAD, y + POD_PAD + 2 * LINE - 6, SMALL, cls="dim")
            for ip in [svc.cluster_ip] + list(svc.external_ips) + [i.ip for i in svc.load_balancer_ingress]:
                if ip and ip != "None":
                    self.pic.services[ip] = b.key
            x += w + 12
        return y + h


def trace_picture(data: dict) -> Picture:
    """A picture of a trace's own hosts when the cluster is not at hand (a trace read back from JSON): one box
    per host in the order the packet first meets them, joined left to right. `data` is Trace.to_dict()."""
    pic = Picture(0, 0)
    seen: dict[str, str] = {}
    for hop in _hops(data):
        seen.setdefault(hop["host"], hop.get("host_kind", ""))
    x, y, h = MARGIN, 40, 2 * LINE + 2 * POD_PAD
    line_y = y + h / 2
    for name, kind in seen.items():
        w = max(text_width(name), text_width(kind, SMALL)) + 2 * POD_PAD
        key = f"pod:{name}" if kind == "pod" else f"node:{name}" if kind == "node" else f"host:{name}"
        cls = {"pod": "pod", "node": "node", "outside": "outside"}.get(kind, "router")
        b = Box(key, x, y, w, h)
        pic.boxes.append((b, cls, f"{kind} {name}"))
        pic.labels.append(Label(name, x + POD_PAD, y + POD_PAD + LINE - 5, FONT, cls="bold"))
        pic.labels.append(Label(kind, x + POD_PAD, y + POD_PAD + 2 * LINE - 4, SMALL, cls="dim"))
        center = (x - 9, line_y) if x > MARGIN else (x + w / 2, y + h + 9)
        pic.hosts[name] = Anchor(center, {})
        x += w + 40
    names = list(seen)
    for a, b in zip(names, names[1:]):
        ba = next(bx for bx, _, _ in pic.boxes if bx.key.endswith(f":{a}"))
        bb = next(bx for bx, _, _ in pic.boxes if bx.key.endswith(f":{b}"))
        pic.edges.append(Edge(f"link:{a}:{b}", ((ba.x + ba.w, line_y), (bb.x, line_y)), "link", (ba.key, bb.key)))
    pic.labels.append(Label("hosts this trace crosses (draw it with the cluster for the full picture)", MARGIN, 24,
                            SMALL, cls="dim"))
    pic.width = max(MIN_WIDTH, x - 40 + MARGIN)
    pic.height = y + h + 30
    return pic


def _hops(data: dict):
    yield from data.get("hops", ())
    if data.get("reply"):
        yield from _hops(data["reply"])
