"""The course as a static web site: every notebook executed and exported to one HTML page, plus an index page.

    python -m kplab.views.site [--notebooks notebooks] [--out site]      (what `make site` runs)

Built with nbconvert (execution by nbclient, the JupyterLab page template). The pages are meant to be opened from
disk with no network: the template drops every script and style the stock template loads from a CDN (require.js,
MathJax, mermaid, the widget manager), so what needs no kernel — text, tables, pictures and the animated trace
players, which are self-contained HTML/JS — works as it did in JupyterLab. A live ipywidgets output needs a kernel
and cannot work on a static page; it is replaced by one sentence pointing at Binder. Each page links to the index
and to the same notebook on Binder.

Errors: a notebook that raises while executing stops the build with `SiteError` naming the notebook and cell;
nothing is written for it (pages are written to a temporary file and renamed).
"""
from __future__ import annotations

import argparse
import html
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kplab.errors import KplabError

BINDER_REPO = "kplab/kplab"  # owner/name on GitHub, as in README's badge
BINDER_REF = "HEAD"

LIVE_WIDGET_NOTE = ("Live widget: it runs Python on every change, so it needs a running kernel and cannot work on "
                    "this static page. Open the notebook on Binder (link at the top) or run it with make lab.")

_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}
<style>
.kplab-site-bar { position: sticky; top: 0; z-index: 10; display: flex; gap: 1.5em; align-items: center;
  padding: 0.6em 1.2em; background: #1f3a5f; color: #fff; font: 16px/1.4 system-ui, sans-serif; }
.kplab-site-bar a { color: #fff; font-weight: 600; }
.kplab-live-widget { border: 2px dashed #b26b00; background: #fff6e5; color: #5a3600; padding: 0.8em 1em;
  font: 15px/1.4 system-ui, sans-serif; border-radius: 6px; }
</style>
{%- endblock html_head_css -%}
{%- block body_header -%}
{{ super() }}
<nav class="kplab-site-bar" data-testid="site-bar">
<a href="index.html" data-testid="site-index">&larr; Course index</a>
<span>{{ resources.kplab_title | e }}</span>
<a href="{{ resources.kplab_binder | e }}" data-testid="site-binder" target="_blank" rel="noopener">Run this page on Binder</a>
</nav>
{%- endblock body_header -%}
{%- block data_widget_view scoped %}
<div class="kplab-live-widget" data-testid="site-live-widget">{{ resources.kplab_widget_note | e }}</div>
{%- endblock data_widget_view -%}
{%- block footer %}
{{ super() }}
{% endblock footer %}
"""


class SiteError(KplabError):
    """A notebook could not be executed or exported."""


@dataclass(frozen=True)
class Page:
    """One notebook's page: `notebook` (path), `html` (file name in the site), `title` (its first heading),
    `summary` (the first sentence after it), `seconds` (execution wall time)."""

    notebook: Path
    html: str
    title: str
    summary: str
    seconds: float


def binder_url(notebook: str, repo: str = BINDER_REPO, ref: str = BINDER_REF) -> str:
    """The mybinder.org launch link that opens NOTEBOOK (a path inside the repository) in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{repo}/{ref}?urlpath=lab/tree/{notebook}"


def _title_and_summary(nb) -> tuple[str, str]:
    """The first markdown heading and the first plain sentence after it."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = [ln.strip() for ln in cell.source.splitlines()]
        heads = [ln.lstrip("#").strip() for ln in lines if ln.startswith("#")]
        if not heads:
            continue
        body = " ".join(ln for ln in lines if ln and not ln.startswith("#"))
        sentence = body.split(". ")[0].rstrip(".") + "." if body else ""
        return heads[0], sentence
    return "", ""


def _exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"kplab-site.html.j2": _TEMPLATE})],
                        template_file="kplab-site.html.j2", embed_images=True)


def build_page(notebook: Path, out: Path, repo_root: Path, timeout: int = 120) -> Page:
    """Execute NOTEBOOK (working directory: its folder) and write its page into OUT; return the Page."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(notebook, as_version=4)
    title, summary = _title_and_summary(nb)
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(notebook.parent)}}).execute()
    except CellExecutionError as e:
        failed = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                  and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
        where = f"cell {failed[0]}" if failed else "a cell"
        raise SiteError(f"{notebook}: {where} raised {e.ename}: {e.evalue}") from None
    seconds = time.perf_counter() - start
    relative = notebook.resolve().relative_to(repo_root.resolve()).as_posix()
    resources = {"metadata": {"name": title or notebook.stem}, "kplab_title": title or notebook.stem,
                 "kplab_binder": binder_url(relative), "kplab_widget_note": LIVE_WIDGET_NOTE}
    body, _ = _exporter().from_notebook_node(nb, resources=resources)
    name = notebook.stem + ".html"
    _write(out / name, body)
    return Page(notebook, name, title or notebook.stem, summary, seconds)


def index_html(pages: list[Page], repo: str = BINDER_REPO) -> str:
    """The site's front page: one entry per notebook, in course order, with its page and its Binder link."""
    items = "\n".join(
        f'<li data-testid="site-entry"><a class="page" href="{html.escape(p.html)}">{html.escape(p.title)}</a>'
        f' <a class="binder" href="{html.escape(binder_url("notebooks/" + p.notebook.name, repo))}"'
        f' target="_blank" rel="noopener">run on Binder</a><br><span>{html.escape(p.summary)}</span></li>'
        for p in pages)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>kplab — how a packet travels through Kubernetes</title>
<style>
body {{ font: 18px/1.5 system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; color: #1b1b1b; }}
h1 {{ color: #1f3a5f; }} li {{ margin: 0 0 1em 0; }} a.page {{ font-weight: 600; font-size: 1.1em; }}
a.binder {{ margin-left: 1em; font-size: 0.85em; }} li span {{ color: #444; }}
</style></head>
<body>
<h1>kplab — how a packet travels through Kubernetes</h1>
<p>An interactive course. Every page below is a notebook, run once with its outputs kept: the animated traces play
here with no network and no Python. The live widgets need a Python kernel: open a page on Binder, or clone the
repository and run <code>make lab</code>.</p>
<ol data-testid="site-index-list">
{items}
</ol>
</body></html>
"""


def _write(path: Path, text: str) -> None:
    """Write atomically: a half-built page never replaces a good one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_site(notebooks: Path, out: Path, repo_root: Path | None = None, timeout: int = 120) -> list[Page]:
    """Execute every `*.ipynb` directly in NOTEBOOKS (sorted by name, i.e. course order) into OUT, then write
    OUT/index.html. Returns the pages. Raises SiteError if there is no notebook or one fails."""
    repo_root = repo_root or notebooks.resolve().parent
    paths = sorted(notebooks.glob("*.ipynb"))
    if not paths:
        raise SiteError(f"{notebooks}: no notebooks to publish")
    pages = [build_page(p, out, repo_root, timeout) for p in paths]
    _write(out / "index.html", index_html(pages))
    _write(out / "pages.json", json.dumps([{"notebook": p.notebook.name, "html": p.html, "title": p.title,
                                            "seconds": round(p.seconds, 2)} for p in pages], indent=1))
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kplab.views.site", description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", default="notebooks", type=Path)
    parser.add_argument("--out", default="site", type=Path)
    parser.add_argument("--timeout", default=120, type=int, help="seconds per cell")
    args = parser.parse_args(argv)
    # The kernels inherit the environment: a headless MPLBACKEND (as the test suite sets) would hide every figure.
    os.environ.pop("MPLBACKEND", None)
    try:
        pages = build_site(args.notebooks, args.out, timeout=args.timeout)
    except KplabError as e:
        print(f"kplab site: error: {e}", file=sys.stderr)
        return 1
    for p in pages:
        print(f"{p.seconds:6.1f} s  {p.html}  {p.title}")
    print(f"open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
