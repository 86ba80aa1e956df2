"""The player survives nbconvert's HTML export: views.ipynb executed and exported, opened from disk in chromium,
the player steps with no kernel and no network."""
from __future__ import annotations

import os
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "views.ipynb"


def test_player_in_nbconvert_html_export(page, tmp_path):
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.read(NOTEBOOK, as_version=4)
    root = str(NOTEBOOK.parents[1])
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join([root, env_path]) if env_path else root
    try:
        NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ["PYTHONPATH"] = env_path
    body, _ = HTMLExporter().from_notebook_node(nb)
    out = tmp_path / "views.html"
    out.write_text(body, encoding="utf-8")

    requests = []
    page.page.on("request", lambda r: requests.append((r.frame.url, r.url)))
    page.page.goto(out.as_uri())
    page.page.locator("iframe.kplab-player").first.scroll_into_view_if_needed()
    player = page.page.frame_locator("iframe.kplab-player").first
    counter = player.locator("[data-testid=hop-counter]")
    assert counter.inner_text().startswith("Hop 1/")
    player.locator("[data-testid=step]").click()
    assert counter.inner_text().startswith("Hop 2/")
    assert "DNAT" in player.locator("[data-testid=hop-card]").inner_text()
    page.page.wait_for_timeout(1000)
    page.shot("export-player")
    assert [e for e in page.errors if "kplab" in e or "srcdoc" in e] == []
    # nbconvert's own page template may load its scripts; the player's frame loads nothing
    assert [u for frame, u in requests if frame == "about:srcdoc"] == []
