"""The static site: executed pages with outputs, no load from the network, a Binder link per page, an index."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from kplab.views.site import LIVE_WIDGET_NOTE, SiteError, binder_url, build_site


def _notebook(path: Path, *cells) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(c[1:]) if c.startswith("#") else nbformat.v4.new_code_cell(c)
                for c in cells]
    nbformat.write(nb, path)


def _loads(page: str) -> list[str]:
    """Every URL the page would fetch by itself (scripts, styles, images, frames), not plain links."""
    tags = re.findall(r"<(?:script|img|iframe|link|source|video|audio)\b[^>]*>", page, re.I)
    urls = [u for t in tags for u in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', t)]
    urls += re.findall(r"@import\s+url\(([^)]*)\)", page)
    return [u for u in urls if re.match(r"(https?:)?//", u)]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    (root / "notebooks").mkdir()
    _notebook(root / "notebooks" / "01-first.ipynb", "## 01 · First page\n\nIt shows HTML. More text.",
              "from IPython.display import HTML\nHTML('<div id=\"kp\">played</div><script>"
              "document.getElementById(\"kp\").dataset.ran = \"yes\"</script>')")
    _notebook(root / "notebooks" / "02-second.ipynb", "# 02 · Second page\n\nIt has a live widget.",
              "import ipywidgets\nipywidgets.IntSlider(3)", "print(6 * 7)")
    out = root / "site"
    pages = build_site(root / "notebooks", out, repo_root=root)
    return root, out, pages


def test_index_links_every_page_in_course_order_with_binder(site):
    root, out, pages = site
    index = (out / "index.html").read_text()
    assert [p.html for p in pages] == ["01-first.html", "02-second.html"]
    assert re.findall(r'class="page" href="([^"]+)"', index) == ["01-first.html", "02-second.html"]
    assert "01 · First page" in index and "It shows HTML." in index
    assert binder_url("notebooks/02-second.ipynb") in index
    assert _loads(index) == []


def test_pages_keep_outputs_and_load_nothing_from_the_network(site):
    root, out, pages = site
    first = (out / "01-first.html").read_text()
    second = (out / "02-second.html").read_text()
    assert 'id="kp">played</div>' in first and "dataset.ran" in first
    assert "42" in second
    for page in (first, second):
        assert _loads(page) == [], _loads(page)
        assert 'href="index.html"' in page
    assert binder_url("notebooks/01-first.ipynb").replace("&", "&amp;") in first or \
        binder_url("notebooks/01-first.ipynb") in first


def test_live_widgets_say_they_need_a_kernel(site):
    root, out, pages = site
    second = (out / "02-second.html").read_text()
    assert 'data-testid="site-live-widget"' in second
    assert LIVE_WIDGET_NOTE.split(":")[0] in second
    assert "application/vnd.jupyter.widget-view+json" not in second


def test_a_failing_notebook_stops_the_build_and_writes_nothing(tmp_path):
    (tmp_path / "notebooks").mkdir()
    _notebook(tmp_path / "notebooks" / "03-broken.ipynb", "# 03 · Broken", "1/0")
    with pytest.raises(SiteError, match=r"03-broken.ipynb.*ZeroDivisionError"):
        build_site(tmp_path / "notebooks", tmp_path / "site", repo_root=tmp_path)
    assert not (tmp_path / "site" / "03-broken.html").exists()
    assert not (tmp_path / "site" / "index.html").exists()


def test_no_notebooks_is_an_error(tmp_path):
    with pytest.raises(SiteError, match="no notebooks"):
        build_site(tmp_path, tmp_path / "site")
