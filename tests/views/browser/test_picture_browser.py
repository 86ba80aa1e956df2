"""The cluster picture as chromium renders it at 1280x720: real text metrics, not estimates — every label at least
12 px high, no two labels overlapping, nothing clipped by the drawing's edge."""
from __future__ import annotations

from kplab.views.picture import picture

MEASURE = """() => {
  const svg = document.querySelector('[data-testid=cluster-picture]').getBoundingClientRect();
  return Array.from(document.querySelectorAll('[data-testid=cluster-picture] text')).map(t => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, x: r.x, y: r.y, w: r.width, h: r.height,
            px: parseFloat(getComputedStyle(t).fontSize) * (svg.width / t.ownerSVGElement.viewBox.baseVal.width),
            inside: r.x >= svg.x - 0.5 && r.right <= svg.right + 0.5 && r.y >= svg.y - 0.5 && r.bottom <= svg.bottom + 0.5};
  });
}"""


def _render(page, tmp_path, pic, name):
    path = tmp_path / f"{name}.html"
    path.write_text(f"<!doctype html><meta charset=utf-8><body style='margin:0;padding:8px'>{pic._repr_html_()}</body>")
    page.page.goto(path.as_uri())
    texts = page.page.evaluate(MEASURE)
    page.shot(name, full_page=True)
    return texts


def _overlapping(texts):
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            if a["x"] < b["x"] + b["w"] - 1 and b["x"] < a["x"] + a["w"] - 1 and \
               a["y"] < b["y"] + b["h"] - 3 and b["y"] < a["y"] + a["h"] - 3:
                yield a["text"], b["text"]


def test_article_picture_readable(page, tmp_path, article):
    texts = _render(page, tmp_path, picture(article, outside=("203.0.113.7",)), "picture-article")
    assert len(texts) > 20
    assert min(t["px"] for t in texts) >= 12
    assert list(_overlapping(texts)) == []
    assert all(t["inside"] for t in texts), [t["text"] for t in texts if not t["inside"]]
    assert page.errors == []


def test_four_node_picture_readable(page, tmp_path, four_nodes):
    texts = _render(page, tmp_path, picture(four_nodes, overlay="vxlan", outside=("203.0.113.7",)), "picture-four-nodes")
    assert min(t["px"] for t in texts) >= 12, "text below 12 px at 1280x720"
    assert list(_overlapping(texts)) == []
    assert all(t["inside"] for t in texts)
