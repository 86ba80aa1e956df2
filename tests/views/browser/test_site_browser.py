"""The published site in a real browser: two notebook pages opened from disk (file://) with every request to the
network refused, a trace player on each that steps and plays, and a page that links back to the index."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kplab.views.site import build_site

ROOT = Path(__file__).resolve().parents[3]
PAGES = ("07-kube-proxy-in-depth", "10-networkpolicy")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site for two of the course's notebooks, built as `make site` builds it (executed, exported)."""
    sources = [ROOT / "notebooks" / f"{name}.ipynb" for name in PAGES]
    missing = [s.name for s in sources if not s.exists()]
    if missing:
        pytest.skip(f"notebooks not in this checkout yet: {missing}")
    root = tmp_path_factory.mktemp("repo")
    (root / "notebooks").mkdir()
    for s in sources:
        shutil.copy(s, root / "notebooks" / s.name)
    shutil.copytree(ROOT / "data", root / "data")
    out = root / "site"
    build_site(root / "notebooks", out, repo_root=root)
    return out


def _offline(page) -> list[str]:
    """Refuse every request that is not a file: or data: URL; return the list the page tried."""
    tried: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            r.continue_()
        else:
            tried.append(url)
            r.abort()

    page.context.route("**/*", route)
    return tried


@pytest.mark.parametrize("name", PAGES)
def test_page_plays_its_trace_offline(site, page, name):
    tried = _offline(page.page)
    p = page.page
    p.goto((site / f"{name}.html").as_uri())
    frame = p.frame_locator("iframe.kplab-player").first  # the player lives in an iframe (srcdoc) on the page
    player = frame.locator('[data-testid="player"]')
    player.wait_for(state="visible", timeout=15_000)
    counter = frame.locator('[data-testid="hop-counter"]')
    first = counter.inner_text()
    frame.locator('[data-testid="step"]').click()
    assert counter.inner_text() != first, "stepping forward did not move the player"
    frame.locator('[data-testid="back"]').click()
    assert counter.inner_text() == first
    frame.locator('[data-testid="play"]').click()
    p.wait_for_timeout(3000)
    assert counter.inner_text() != first, "pressing play did not animate the trace"
    player.scroll_into_view_if_needed()
    page.shot(f"site-{name}")
    assert tried == [], f"the page tried to reach the network: {tried[:5]}"
    assert page.errors == [], page.errors
    assert p.locator('[data-testid="site-index"]').get_attribute("href") == "index.html"
    assert "mybinder.org" in p.locator('[data-testid="site-binder"]').get_attribute("href")


def test_index_opens_offline_and_links_both_pages(site, page):
    tried = _offline(page.page)
    page.page.goto((site / "index.html").as_uri())
    links = page.page.locator('[data-testid="site-entry"] a.page')
    assert links.evaluate_all("els => els.map(e => e.getAttribute('href'))") == [f"{n}.html" for n in PAGES]
    links.first.click()
    page.page.frame_locator("iframe.kplab-player").first.locator('[data-testid="player"]').wait_for(
        state="visible", timeout=15_000)
    assert tried == []
