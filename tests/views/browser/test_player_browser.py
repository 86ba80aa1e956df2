"""The player file from `kplab trace --html`, opened from disk in chromium at 1280x720: it opens paused on hop 1,
steps and plays, shows the reply and each outcome, never fetches anything, and logs no error."""
from __future__ import annotations

from kplab.cli import main

ARTICLE = "data/article"


def test_player_from_disk(page, tmp_path, article):
    from pathlib import Path
    root = Path(__file__).resolve().parents[3]
    src = next(p.key for p in article.pods.values() if p.name.startswith("auth"))
    out = tmp_path / "player.html"
    assert main(["trace", str(root / ARTICLE), "--from", src, "--to", "default/webapp", "--reply",
                 "--html", str(out)]) == 0
    requests = []
    page.page.on("request", lambda r: requests.append(r.url))
    page.page.goto(out.as_uri())
    page.page.wait_for_selector("[data-ready='1']")
    counter = page.page.locator("[data-testid=hop-counter]")
    card = page.page.locator("[data-testid=hop-card]")
    assert counter.inner_text() == "Hop 1/4"
    page.page.wait_for_timeout(2500)
    assert counter.inner_text() == "Hop 1/4", "opens paused and stays still"
    first_card = card.inner_text()
    page.shot("player-hop1")

    page.page.click("[data-testid=step]")
    assert counter.inner_text() == "Hop 2/4"
    assert card.inner_text() != first_card and "DNAT" in card.inner_text() and "PREROUTING" in card.inner_text()
    assert page.page.locator("[data-testid=packet-label] .chg").inner_text().startswith("10.244.120.10")
    page.page.wait_for_timeout(1200)
    page.shot("player-hop2")

    page.page.locator("[data-testid=player]").focus()
    page.page.keyboard.press("ArrowLeft")
    assert counter.inner_text() == "Hop 1/4"
    page.page.keyboard.press(" ")  # play
    page.page.wait_for_function("document.querySelector('[data-testid=hop-counter]').textContent === 'Hop 4/4'",
                                timeout=15000)
    assert "ACCEPT" in page.page.locator(".foot").inner_text()

    page.page.check("[data-testid=reply]")
    assert counter.inner_text() == "Hop 1/4 (reply)"
    assert "SYN,ACK" in page.page.locator("[data-testid=packet-label]").inner_text()
    page.page.keyboard.press("End")
    page.page.wait_for_timeout(1200)
    page.shot("player-reply-end")

    options = page.page.locator("[data-testid=outcome] option").all_inner_texts()
    assert [o.split()[0] for o in options[1:]] == ["50%", "50%"]
    page.page.select_option("[data-testid=outcome]", "1")
    page.page.click("[data-testid=last]")
    assert options[2].split("→ ")[1] in card.inner_text()
    assert [u for u in requests if not u.startswith("file://")] == []
    assert page.errors == []


def test_player_first_frame_is_quick(page, tmp_path, article):
    """The first frame is drawn as the document loads (the benchmark measures it; here: it is there at load)."""
    from kplab.walk import trace
    from kplab.views.player import play
    src = next(p.key for p in article.pods.values() if p.name.startswith("auth"))
    out = play(trace(article, src, "default/frontend"), cluster=article).save(tmp_path / "p.html")
    page.page.goto(out.as_uri(), wait_until="load")
    assert page.page.locator("[data-testid=player]").get_attribute("data-ready") == "1"
    assert page.page.locator("[data-testid=packet-dot]").count() == 1
    assert page.errors == []


def test_side_by_side_steps_together(page, tmp_path, article):
    """kplab's walk beside a kernel-like one that differs in one rule number: both dots move together, the hop
    and the step that differ are marked, the others say agree."""
    import importlib.util
    from pathlib import Path
    from kplab.walk import trace
    from kplab.views.player import play
    spec = importlib.util.spec_from_file_location("unit", Path(__file__).resolve().parents[1] / "test_player.py")
    unit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(unit)
    src = next(p.key for p in article.pods.values() if p.name.startswith("auth"))
    t = trace(article, src, "default/webapp")
    out = play(t, compare=unit._as_kernel(t, rule_number_of="KUBE-SVC-")).save(tmp_path / "pair.html")
    page.page.goto(out.as_uri())
    page.page.wait_for_selector("[data-ready='1']")
    p = page.page
    assert p.locator("[data-testid=origin]").inner_text() == "simulated by kplab"
    assert p.locator("[data-testid=origin-right]").inner_text() == "observed in the Linux kernel"
    assert p.locator("[data-testid=verdict-badge]").inner_text() == "1 difference"
    assert p.locator("[data-testid=outcome]").is_hidden()
    assert p.locator("[data-testid=reply]").is_disabled()
    badges = p.locator("[data-testid=event-list] li").all_inner_texts()
    assert [b.split()[-1] for b in badges] == ["agree", "difference", "agree", "agree"]
    first = (p.get_attribute("[data-testid=packet-dot]", "cx"), p.get_attribute("[data-testid=kernel-dot]", "cx"))
    assert first[0] == first[1]
    p.click("[data-testid=step]")
    p.wait_for_timeout(1400)
    assert p.locator("[data-testid=hop-counter]").inner_text() == "Hop 2/4"
    moved = (p.get_attribute("[data-testid=packet-dot]", "cx"), p.get_attribute("[data-testid=kernel-dot]", "cx"))
    assert moved[0] == moved[1] != first[0], "both dots step together"
    card = p.locator("[data-testid=hop-card]")
    assert card.locator(".m.st-differ").count() == 1
    assert card.locator(".c.st-differ .bad").first.inner_text().startswith("rule number")
    p.locator("[data-testid=hop-card] .m.st-differ").scroll_into_view_if_needed()
    page.shot("player-side-by-side-differ")
    p.click("[data-testid=last]")
    p.wait_for_timeout(300)
    assert "agree" in card.locator(".cmph").inner_text()
    p.set_viewport_size({"width": 1100, "height": 720})  # a notebook's output area: the card stays beside
    p.wait_for_timeout(200)
    pic, box = p.locator(".pic").bounding_box(), card.bounding_box()
    assert box["x"] >= pic["x"] + pic["width"] and box["y"] < pic["y"] + pic["height"] / 2
    assert page.errors == []
