"""The cluster picture: every host the walker knows is drawn, nothing overlaps, no line crosses a label or a box it
does not enter, and text stays readable (>= 12 px) at 1280x720 up to four nodes and a dozen pods."""
from __future__ import annotations

import pytest

from kplab.walk import trace
from kplab.walk.topology import Topology
from kplab.views.picture import Box, picture

JUPYTER_OUTPUT_PX = 1150  # the output area's width in JupyterLab at 1280x720, sidebar collapsed


def _segments(edge):
    return list(zip(edge.points, edge.points[1:]))


def _crosses(seg, box: Box, pad: float = 0.5) -> bool:
    """An axis-parallel segment passes through the box's interior."""
    (x1, y1), (x2, y2) = seg
    inner = Box(box.key, box.x + pad, box.y + pad, box.w - 2 * pad, box.h - 2 * pad)
    if x1 == x2:
        lo, hi = sorted((y1, y2))
        return inner.x < x1 < inner.x + inner.w and lo < inner.y + inner.h and hi > inner.y
    if y1 == y2:
        lo, hi = sorted((x1, x2))
        return inner.y < y1 < inner.y + inner.h and lo < inner.x + inner.w and hi > inner.x
    raise AssertionError(f"diagonal segment {seg}")


def check_layout(pic) -> None:
    labels = [lab.box for lab in pic.labels]
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            assert not a.overlaps(b), f"labels overlap: {a.key!r} and {b.key!r}"
    boxes = [b for b, _, _ in pic.boxes]
    for lab in labels:
        touching = [b for b in boxes if b.overlaps(lab)]
        if not touching:
            continue
        holders = sorted((b for b in touching if b.contains(lab)), key=lambda b: b.w * b.h)
        assert holders, f"label {lab.key!r} sticks out of {touching[0].key}"
        for b in touching:  # only an interface chip on a node's edge may straddle it
            assert b.contains(lab) or holders[0].key.startswith("iface:"), f"{lab.key!r} straddles {b.key}"
    for i, a in enumerate(boxes):  # boxes nest or keep apart
        for b in boxes[i + 1:]:
            if a.overlaps(b) and not (a.contains(b) or b.contains(a)):
                assert a.key.startswith(("iface:",)) or b.key.startswith(("iface:",)), f"{a.key} overlaps {b.key}"
    for edge in pic.edges:
        for seg in _segments(edge):
            for lab in labels:
                assert not _crosses(seg, lab, pad=0), f"{edge.key} crosses label {lab.key!r}"
            for b in boxes:
                if b.key in edge.ends or b.key.startswith("node:"):
                    continue
                assert not _crosses(seg, b), f"{edge.key} crosses {b.key}"
    for edge in pic.edges:  # a line inside a node box belongs to that node
        for b in boxes:
            if b.key.startswith("node:") and any(_crosses(s, b) for s in _segments(edge)):
                assert edge.key.split(":")[1] in (b.key[5:], *[e.split(":")[1] for e in edge.ends]) or \
                    any(b.key[5:] in e for e in edge.ends), f"{edge.key} crosses {b.key}"


@pytest.mark.parametrize("cni,overlay", [("bridge", None), ("bridge", "vxlan"), ("calico", "ipip"), ("calico", "vxlan")])
def test_article_layout_is_clean(article, cni, overlay):
    pic = picture(article, cni=cni, overlay=overlay, outside=("203.0.113.7",))
    check_layout(pic)
    assert pic.min_text_px(JUPYTER_OUTPUT_PX) >= 12


def test_four_nodes_twelve_pods_fit_a_projector(four_nodes):
    pic = picture(four_nodes, overlay="vxlan", outside=("203.0.113.7",))
    check_layout(pic)
    assert len([b for b, _, _ in pic.boxes if b.key.startswith("pod:")]) == len(four_nodes.pods)
    assert pic.min_text_px(JUPYTER_OUTPUT_PX) >= 12, pic.width


def test_every_host_and_interface_is_drawn(article):
    topo = Topology.from_cluster(article, cni="bridge", overlay="vxlan")
    pic = picture(article, topology=topo)
    assert set(pic.hosts) == set(topo.hosts)
    keys = {b.key for b, _, _ in pic.boxes}
    for name, host in topo.hosts.items():
        if host.kind == "node":
            assert {f"iface:{name}:eth0", f"iface:{name}:flannel.1", f"bridge:{name}"} <= keys
    text = pic.svg
    for pod in article.pods.values():
        assert pod.name in text and pod.ip in text
    for port in (i for h in topo.hosts.values() if h.kind == "node" for i in h.interfaces.values()
                 if i.kind == "bridge-port"):
        assert port.name in text, "each veth's host side is named"
    for svc in article.services.values():  # Services are VIPs in no node box
        box = next(b for b, _, _ in pic.boxes if b.key == f"svc:{svc.key}")
        assert not any(b.overlaps(box) for b, _, _ in pic.boxes if b.key.startswith("node:"))
        assert pic.services[svc.cluster_ip] == f"svc:{svc.key}"


def test_calico_names_the_cali_interfaces(article):
    from kplab.cni.calico import interface_name
    pic = picture(article, cni="calico")
    for pod in article.pods.values():
        assert interface_name(pod) in pic.svg
    assert "cni0" not in pic.svg


def test_route_follows_the_hops_of_a_trace(article):
    pods = sorted(p.key for p in article.pods.values() if p.name.startswith("auth"))
    t = trace(article, pods[0], "default/webapp", reply=True)
    pic = picture(article)
    for a, b in zip(t.hops, t.hops[1:]):
        path = pic.route(a.host, a.out_iface, b.host, b.in_iface)
        assert path[0] == pic.hosts[a.host].center and path[-1] == pic.hosts[b.host].center
        assert all(x1 == x2 or y1 == y2 for (x1, y1), (x2, y2) in zip(path, path[1:])), "paths follow the drawn lines"


def test_outside_hosts_and_load_balancer(four_nodes):
    pic = picture(four_nodes, outside=("198.51.100.9",))
    assert "198.51.100.9" in pic.hosts and "load-balancer" in pic.hosts
    assert pic.services["203.0.113.50"] == "svc:default/webapp"
    assert "load balancer 203.0.113.50" in pic.svg
