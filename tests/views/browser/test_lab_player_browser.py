"""The kernel's own trace in the player, beside kplab's (issue 13, item 4): a real lab of the article's cluster,
`kplab lab compare --html`, and the page opened in Debian's chromium at 1280x720 (markers kernel and browser)."""
from __future__ import annotations

import importlib.util
import os
import platform
from pathlib import Path

import pytest

from kplab.cli import main
from kplab.lab import namespace as ns

# Here (not in tests/lab) for the session's one browser (conftest.py): a second Playwright in the same worker
# fails. The kernel marker's skip-or-fail rule is tests/lab/conftest.py's own.
pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "data"


@pytest.fixture(autouse=True)
def kernel_lab():
    spec = importlib.util.spec_from_file_location("lab_conftest", ROOT / "tests" / "lab" / "conftest.py")
    lab_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lab_conftest)
    problems = lab_conftest.kernel_problems()
    if problems:
        reason = "kernel lab unavailable: " + "; ".join(problems)
        if os.environ.get("CI") == "true" and platform.system() == "Linux" and os.geteuid() == 0:
            pytest.fail(f"CI runs as root, so the kernel tests must run here: {reason}", pytrace=False)
        pytest.skip(reason)


def test_compare_html_plays_the_kernel_beside_kplab(page, tmp_path, capsys):
    shots, page = page, page.page
    assert main(["lab", "up", str(DATA / "article")]) == 0
    lab_id = capsys.readouterr().out.split()[1]
    out = tmp_path / "compare.html"
    try:
        # two endpoints at 1/2 each: 24 tries miss one with probability 2 * 2**-24 (4 tries did 1 time in 8)
        assert main(["lab", "compare", "--lab", lab_id, "--from", "deploy/auth", "--to", "svc/webapp",
                     "--tries", "24", "--html", str(out)]) == 0
        assert f"wrote {out}" in capsys.readouterr().out
    finally:
        assert main(["lab", "down", "--lab", lab_id]) == 0
    assert ns.leaks(f"kpl-{lab_id}-", set()) == []
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(out.as_uri())
    page.wait_for_selector("[data-ready='1']")
    assert page.locator("[data-testid=origin-right]").inner_text() == "observed in the Linux kernel"
    hops = page.locator("[data-testid=event-list] li").all_inner_texts()
    assert len(hops) == 4 and hops[1].startswith("minikube (node)") and hops[2].startswith("minikube-m02 (node)")
    assert hops[1].endswith("agree") and hops[2].endswith("agree"), "the nodes' rules: the kernel took kplab's"
    page.click("[data-testid=step]")
    page.wait_for_timeout(1400)
    card = page.locator("[data-testid=hop-card]")
    assert card.locator(".m.st-same").count() > 10 and "DNAT" in card.inner_text()
    assert page.get_attribute("[data-testid=packet-dot]", "cx") == page.get_attribute("[data-testid=kernel-dot]", "cx")
    shots.shot("lab-side-by-side-node")
    assert "agrees" in page.locator("[data-testid=tally]").inner_text()
    assert page.locator("[data-testid=reply]").is_enabled(), "the kernel traced the answer, and so did kplab"
    page.check("[data-testid=reply]")
    assert page.locator("[data-testid=hop-counter]").inner_text().endswith("(reply)")
    assert "SYN,ACK" in page.locator("[data-testid=packet-label]").inner_text()
    page.click("[data-testid=last]")
    page.wait_for_timeout(1400)
    shots.shot("lab-side-by-side-reply-end")
    assert [u for u in requests if not u.startswith("file://")] == [] and shots.errors == []


def test_lab_api_plays_side_by_side_and_the_kernel_alone():
    import kplab
    from kplab.lab import Lab
    cluster = kplab.load("article")
    with Lab(cluster) as lab:
        player = lab.play("minikube", "10.96.1.3", 80, tries=2)
        kernel = lab.trace("minikube", "10.96.1.3", 80)
    c = player.data["compare"]
    assert c["origins"] == ["kplab", "kernel"] and player.data["origin_names"][1] == "observed in the Linux kernel"
    assert [r["s"] for r in c["main"]["rows"]] == [r["k"] for r in c["main"]["rows"]] == [0, 1, 2]
    assert kernel.origin == "kernel" and kernel.network is lab.network
    alone = kernel.play()
    assert alone.data["origin_text"] == "observed in the Linux kernel"
    assert set(alone.picture.hosts) > set(kernel.host_names)  # the whole cluster, not the trace's hosts only
    first = alone.data["main"]["hops"][0]
    assert first["path_kind"] == "output" and "⇒ output" in first["route"], "a node's own packet: output route"
