"""The netfilter flow diagram lights the hooks and tables a hop's rules ran in, along the kernel path it took."""
from __future__ import annotations

import re

import pytest

from kplab.errors import KplabError
from kplab.walk import trace
from kplab.views.flow import HOOK_TABLES, netfilter_flow


@pytest.fixture(scope="module")
def service_trace(article):
    src = next(p.key for p in article.pods.values() if p.name.startswith("auth"))
    return trace(article, src, "default/webapp")


def _lit(svg: str, cls: str) -> set[str]:
    return set(re.findall(rf'<rect class="{cls}" data-hook="(\w+)"', svg))


def test_forwarding_node_lights_its_hooks_and_tables(service_trace):
    d = netfilter_flow(service_trace, hop=2)
    assert d.hop.path == "forward"
    assert set(d.hop.hooks) == {"PREROUTING", "FORWARD", "POSTROUTING"}
    assert "nat" in d.hop.hooks["PREROUTING"]["tables"] and "DNAT" in d.hop.hooks["PREROUTING"]["verdicts"]
    chains = d.hop.hooks["PREROUTING"]["chains"]
    assert "KUBE-SERVICES" in chains and any(c.startswith("KUBE-SEP-") for c in chains)
    svg = d.svg
    assert _lit(svg, "hook lit") == {"PREROUTING", "FORWARD", "POSTROUTING"}
    assert 'data-edge="route-fwd"' in svg and re.search(r'class="edge on" data-edge="route-fwd"', svg)
    assert not re.search(r'class="edge on" data-edge="route-in"', svg)
    assert re.search(r'class="table on" data-hook="PREROUTING" data-table="nat"', svg)
    assert "KUBE-SVC-" in d._repr_html_()


def test_delivering_pod_takes_the_input_path(service_trace):
    last = len(service_trace.hops)
    d = netfilter_flow(service_trace, hop=last)
    assert d.hop.path == "input"
    assert re.search(r'class="edge on" data-edge="route-in"', d.svg)
    assert _lit(d.svg, "hook lit") | _lit(d.svg, "hook path") == {"PREROUTING", "INPUT"}


def test_plain_diagram_has_every_hook_and_table():
    svg = netfilter_flow().svg
    for hook, tables in HOOK_TABLES.items():
        for table in tables:
            assert f'data-hook="{hook}" data-table="{table}"' in svg
    assert "lit" not in svg.split("</style>", 1)[1]


def test_hop_out_of_range(service_trace):
    with pytest.raises(KplabError, match="hop 9 is not in this trace"):
        netfilter_flow(service_trace, hop=9)
