"""notebooks/views.ipynb in JupyterLab in chromium: run all cells, every view renders with no error output, no
"Loading widget", no console error; the player steps; an explorer switch redraws the picture."""
from __future__ import annotations

from pathlib import Path

from .conftest import open_notebook, run_all_cells

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "views.ipynb"


def test_views_notebook_runs_in_jupyterlab(jupyter, page):
    p, page = page, page.page
    page.set_default_timeout(90_000)
    open_notebook(page, jupyter, NOTEBOOK)
    # the room a student has with the file browser closed; no news prompt over the outputs
    page.evaluate("window.jupyterapp.shell.collapseLeft()")
    page.wait_for_timeout(1000)
    if page.get_by_role("button", name="No").count():
        page.get_by_role("button", name="No").first.click()
    run_all_cells(page, timeout_ms=180_000)
    page.wait_for_selector(".kplab-explorer", timeout=60_000)
    page.wait_for_timeout(1500)

    errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    assert errors.count() == 0, errors.all_inner_texts()
    assert page.get_by_text("Loading widget").count() == 0
    assert page.get_by_text("Error displaying widget").count() == 0
    for testid in ("cluster-picture", "netfilter-flow", "service-chains", "policy-matrix"):
        assert page.locator(f"[data-testid={testid}]").count() >= 1, testid
    p.shot("notebook-top")

    page.locator("iframe.kplab-player").first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    player = page.frame_locator("iframe.kplab-player").first
    counter = player.locator("[data-testid=hop-counter]")
    assert counter.inner_text().startswith("Hop 1/")
    smallest = player.locator("[data-testid=cluster-picture]").evaluate(
        "svg => Math.min(...Array.from(svg.querySelectorAll('text')).map(t => parseFloat(getComputedStyle(t).fontSize)"
        " * svg.getBoundingClientRect().width / svg.viewBox.baseVal.width))")
    assert smallest >= 12, f"picture text {smallest:.1f} px in the notebook's player"
    card = player.locator("[data-testid=hop-card]").inner_text()
    player.locator("[data-testid=step]").click()
    assert counter.inner_text().startswith("Hop 2/")
    assert player.locator("[data-testid=hop-card]").inner_text() != card
    page.wait_for_timeout(1200)
    p.shot("notebook-player")

    explorer = page.locator(".kplab-explorer")
    explorer.scroll_into_view_if_needed()
    frame = page.locator(".kplab-explorer-player iframe")
    before = frame.get_attribute("srcdoc")
    current = explorer.locator(".widget-toggle-button.mod-active", has_text="calico").count()
    target = "bridge" if current else "calico"
    explorer.locator(".widget-toggle-button", has_text=target).first.click()
    page.wait_for_function(
        "(b) => { const f = document.querySelector('.kplab-explorer-player iframe');"
        " return f && f.getAttribute('srcdoc') !== b; }", arg=before, timeout=60_000)
    marker = "cni0 bridge" if target == "bridge" else "cali* veths"
    assert marker in frame.get_attribute("srcdoc")
    explorer.locator(".widget-toggle-button", has_text=target).first.scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    p.shot("notebook-explorer")
    assert [e for e in p.errors if "favicon" not in e] == []
