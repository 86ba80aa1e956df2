"""The player: built from trace.to_dict() and the picture only, self-contained (nothing fetched), every outcome
playable with its probability, written atomically."""
from __future__ import annotations

import json
import re
from fractions import Fraction

import pytest

from kplab.errors import KplabError
from kplab.walk import trace
from kplab.walk.trace import Trace
from kplab.views.player import play, player_data
from kplab.views.picture import picture


@pytest.fixture(scope="module")
def auth_to_webapp(article):
    src = next(p.key for p in article.pods.values() if p.name.startswith("auth"))
    return trace(article, src, "default/webapp", reply=True)


def _embedded(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="kplab-trace">(.*?)</script>', html, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_hops_carry_what_the_card_shows(article, auth_to_webapp):
    data = player_data(auth_to_webapp, picture(article))
    hops = data["main"]["hops"]
    assert [h["host"] for h in hops] == list(auth_to_webapp.host_names)
    node = hops[1]
    assert node["changed"] == ["dst"] and node["out_dst"].startswith("10.244.120.10")
    assert node["dst"] == "10.96.1.3:80"
    pre = next(k for k in node["hooks"] if k["hook"] == "PREROUTING")
    chains = pre["chains"]
    assert chains[0] == "nat/PREROUTING"
    svc = chains.index("KUBE-SERVICES")
    assert chains[svc + 1].startswith("KUBE-SVC-") and chains[svc + 2].startswith("KUBE-SEP-")
    assert [k["hook"] for k in node["hooks"]] == ["PREROUTING", "FORWARD", "POSTROUTING"]
    decided = [node["steps"][i] for i in node["deciding"]]
    assert any(s["action"] == "DNAT" and "--to-destination" in s["text"] for s in decided)
    assert "SYN_SENT" in node["conntrack"] and node["route"].startswith("10.244.120.0/24 via")
    assert node["vip"] == "svc:default/webapp"
    assert "kernel:minikube" in node["keys"]


def test_paths_join_the_hosts(article, auth_to_webapp):
    pic = picture(article)
    hops = player_data(auth_to_webapp, pic)["main"]["hops"]
    for prev, hop in zip(hops, hops[1:]):
        assert hop["points"][0] == [round(c, 1) for c in pic.hosts[prev["host"]].center]
        assert hop["points"][-1] == [round(c, 1) for c in pic.hosts[hop["host"]].center]


def test_every_outcome_playable_with_its_probability(article, auth_to_webapp):
    p = play(auth_to_webapp, cluster=article)
    outs = p.data["outcomes"]
    assert [o["probability"] for o in outs] == ["1/2", "1/2"]
    assert sum(Fraction(o["probability"]) for o in outs) == 1
    assert {o["walk"]["hops"][-1]["host"] for o in outs} == {o.delivered_to for o in auth_to_webapp.outcomes()}
    assert all(o["walk"]["reply"] is not None for o in outs)
    assert p.data["reply"]["hops"][0]["host"] == auth_to_webapp.delivered_to


def test_document_is_self_contained(article, auth_to_webapp):
    html = play(auth_to_webapp, cluster=article).html
    body = html.split("<body", 1)[1]
    assert not re.search(r"<(img|script|link|iframe|source|object|embed)\b[^>]*\s(src|href|data)=", body), \
        "nothing loaded from anywhere"
    assert "http" not in body.replace("http://www.w3.org/2000/svg", "")
    for hook in ("player", "play", "step", "back", "speed", "reply", "outcome", "hop-card", "event-list",
                 "hop-counter", "packet-label", "cluster-picture"):
        assert f'data-testid="{hook}"' in html
    assert _embedded(html)["main"]["hops"][0]["host"] == auth_to_webapp.hops[0].host


def test_without_cluster_the_trace_draws_its_own_hosts(auth_to_webapp):
    again = Trace.from_dict(json.loads(json.dumps(auth_to_webapp.to_dict())))
    p = again.play()
    assert set(p.picture.hosts) == set(again.host_names)
    assert [o["walk"] for o in p.data["outcomes"]] == [None, None]  # probabilities, no walks to show
    assert "draw it with the cluster" in p.html


def test_notebook_form_is_an_iframe(article, auth_to_webapp):
    frame = play(auth_to_webapp, cluster=article)._repr_html_()
    assert frame.startswith('<iframe class="kplab-player" srcdoc="&lt;!doctype html&gt;')
    assert "<script" not in frame  # the script lives inside the escaped document


def test_save_is_atomic(article, auth_to_webapp, tmp_path):
    p = play(auth_to_webapp, cluster=article, size="presentation")
    out = p.save(tmp_path / "t.html")
    assert out.read_text() == p.html and [x.name for x in tmp_path.iterdir()] == ["t.html"]
    with pytest.raises(KplabError, match="does not exist"):
        p.save(tmp_path / "no" / "t.html")
    with pytest.raises(KplabError, match="normal or presentation"):
        play(auth_to_webapp, cluster=article, size="huge")


def test_drop_trace_ends_with_the_reason(four_nodes):
    """externalTrafficPolicy Local is not set here, so use a pod with no route: a dropped packet still plays."""
    src = next(p.key for p in four_nodes.pods.values() if p.name.startswith("auth"))
    t = trace(four_nodes, src, "203.0.113.99", port=80)
    data = play(t, cluster=four_nodes).data["main"]
    assert data["verdict"] == t.verdict
    assert data["end"].startswith(t.verdict)


def test_route_steps_use_the_kernels_terms(article):
    """A packet the node sends itself takes the output route (then OUTPUT, POSTROUTING), not forwarding."""
    import kplab
    t = kplab.trace(article, "node/minikube", "svc/webapp")
    hops = play(t).data["main"]["hops"]
    actions = [[s["action"] for s in h["steps"] if s["kind"] == "route"] for h in hops]
    assert [h["path_kind"] for h in hops] == ["output", "forward", "input"]
    assert actions[0] and set(actions[0]) == {"output"}
    assert actions[1] == ["forward"] and actions[2] == ["local"]
    assert hops[0]["route"].endswith("⇒ output")
    assert all("forward" not in s["label"] for s in hops[0]["steps"])


def test_event_lines_say_each_thing_once(article, auth_to_webapp):
    hops = play(auth_to_webapp, cluster=article).data["main"]["hops"]
    labels = [s["label"] for h in hops for s in h["steps"]]
    for label in labels:
        words = label.split()
        assert all(a != b for a, b in zip(words, words[1:])), label
    assert labels[-1] == f"deliver to {auth_to_webapp.packet_delivered.dst}:{auth_to_webapp.packet_delivered.dport}"
    assert any(label.startswith("link arrives on ") for label in labels)


def test_pause_is_an_inline_icon(article, auth_to_webapp):
    from kplab.views.player import PAUSE_ICON, PLAY_ICON
    html = play(auth_to_webapp, cluster=article).html
    assert "⏸" not in html and PLAY_ICON in html
    assert json.dumps(PAUSE_ICON) in html  # the script swaps it in while playing


def test_the_first_outcome_says_what_the_seed_did(article, auth_to_webapp):
    choice = play(auth_to_webapp, cluster=article).data["choice"]
    assert choice["text"] == "the walk seed 0 picks"
    assert "every choice" in choice["title"] and "probability" in choice["title"]


def test_play_without_cluster_draws_the_cluster_it_was_walked_on(article):
    """kplab.trace leaves the Network on the Trace (not in its value or JSON): play() needs no cluster=."""
    import kplab
    t = kplab.trace(article, "deploy/auth", "svc/webapp", reply=True, cni="calico")
    assert t.network is not None and t.network.cluster is article
    p = t.play()
    assert set(p.picture.hosts) == set(picture(article, cni="calico").hosts) > set(t.host_names)
    assert all(o["walk"] is not None for o in p.data["outcomes"])
    assert p.data["origin"] == "kplab" and 'data-testid="origin"' in p.html and "simulated by kplab" in p.html


def test_a_kernel_trace_says_so(article, auth_to_webapp):
    import dataclasses
    kernel = dataclasses.replace(auth_to_webapp, origin="kernel", all_outcomes=(), seed=None)
    again = Trace.from_dict(json.loads(kernel.to_json()))
    assert again.origin == "kernel" and again == kernel
    p = play(again, cluster=article)
    assert p.data["origin"] == "kernel" and "observed in the Linux kernel" in p.html
    assert p.data["choice"]["text"] == "as the kernel did it"
    assert "nftrace" in p.data["simplified"]


# ---- side by side ------------------------------------------------------------------------------------------
# The kernel's side here is kplab's own walk reduced to what an nftrace-only kernel trace holds (rules, NAT, the
# ending), with another client port, as kplab.lab reports one; tests/lab/test_player_browser.py uses a real one.

def _as_kernel(t, rule_number_of=None):
    import dataclasses
    hops = []
    for h in t.hops:
        steps = []
        for s in h.steps:
            if s.kind not in ("rule", "nat", "policy", "deliver", "drop"):
                continue
            if rule_number_of and s.kind == "rule" and s.chain.startswith(rule_number_of):
                s = dataclasses.replace(s, detail=dataclasses.replace(s.detail, rule_number=s.rule_number + 1))
                rule_number_of = None
            steps.append(s)
        port = (lambda f: dataclasses.replace(f, sport=40001) if f is not None and f.sport == t.packet.sport else f)
        hops.append(dataclasses.replace(h, steps=tuple(steps), packet_in=port(h.packet_in),
                                        packet_out=port(h.packet_out)))
    return dataclasses.replace(t, hops=tuple(hops), origin="kernel", all_outcomes=(), seed=None, reply=None)


def test_side_by_side_agrees_when_the_walks_match(article, auth_to_webapp):
    kernel = _as_kernel(auth_to_webapp)
    p = play(kernel, compare=auth_to_webapp)  # either order: kplab's walk is on the left
    c = p.data["compare"]
    assert c["origins"] == ["kplab", "kernel"] and c["main"]["differences"] == 0
    rows = c["main"]["rows"]
    assert [(r["s"], r["k"]) for r in rows] == [(i, i) for i in range(len(auth_to_webapp.hops))]
    assert {s["state"] for r in rows for s in r["steps"]} == {"same", "unreported"}
    assert set(c["unreported"]) >= {"link", "route", "conntrack"}
    assert c["reply"] is None and "the kernel's trace has no reply" == c["no_reply"]
    assert 'data-testid="verdict-badge">agree<' in p.html and "observed in the Linux kernel" in p.html
    assert set(p.picture.hosts) == set(picture(article).hosts)  # the cluster the walk ran on


def test_side_by_side_names_the_step_and_field_that_differ(auth_to_webapp):
    kernel = _as_kernel(auth_to_webapp, rule_number_of="KUBE-SVC-")
    c = play(auth_to_webapp, compare=kernel).data["compare"]["main"]
    assert c["differences"] == 1 and [r["differences"] for r in c["rows"]] == [0, 1, 0, 0]
    (bad,) = [s for s in c["rows"][1]["steps"] if s["state"] != "same" and s["state"] != "unreported"]
    number = next(s.rule_number for s in auth_to_webapp.hops[1].steps if s.chain and s.chain.startswith("KUBE-SVC-"))
    assert bad["state"] == "differ"
    assert bad["fields"] == [{"name": "rule number", "s": str(number), "k": str(number + 1)}]
    assert bad["s"].startswith("nat/KUBE-SVC-") and f"#{number + 1} " in bad["k"]


def test_side_by_side_counts_a_missing_hop_and_ending(auth_to_webapp):
    import dataclasses
    kernel = _as_kernel(auth_to_webapp)
    kernel = dataclasses.replace(kernel, hops=kernel.hops[:-1], verdict="DROP", delivered_to=None,
                                 source_seen=None, packet_delivered=None)
    c = play(auth_to_webapp, compare=kernel).data["compare"]["main"]
    assert (c["rows"][-1]["s"], c["rows"][-1]["k"]) == (len(auth_to_webapp.hops) - 1, None)
    assert c["rows"][-1]["fields"] == ["host"] and not c["same_end"]
    assert c["differences"] == 1 + c["rows"][-1]["differences"] and c["ends"]["kernel"] == "DROP"


def test_side_by_side_rows_name_a_nat_rule_once():
    from kplab.views.player import _short
    assert _short("nat nat/KUBE-SEP-PJFBSHHDX4VZAOXM#2 DNAT") == "nat/KUBE-SEP-PJFBSHHDX4VZAOXM#2 DNAT"
    assert _short("rule filter/FORWARD#2 jump KUBE-FORWARD") == "filter/FORWARD#2 jump KUBE-FORWARD"
    assert _short("conntrack NEW") == "conntrack NEW"
