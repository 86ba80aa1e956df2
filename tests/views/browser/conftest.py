"""A real browser for the view tests: Debian's chromium driven by Python Playwright (never a downloaded browser),
and a throwaway JupyterLab server on 127.0.0.1.

Without chromium or Playwright the tests skip with the reason, except under CI=true, where they fail: CI installs
chromium (.ci/run), so a missing browser there is a broken setup, not a reason to pass. Screenshots go to
test-artefacts/ (gitignored).
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ARTEFACTS = ROOT / "test-artefacts"
CHROMIUM = os.environ.get("KPLAB_CHROMIUM", "/usr/bin/chromium")  # Debian's; never a downloaded one
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 720}


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python Playwright is not installed (pip install playwright; never `playwright install`)"
    if not Path(CHROMIUM).exists():
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/views/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run under CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A 1280x720 page that records console errors and uncaught exceptions."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def shot(self, name: str, **kw) -> Path:
        ARTEFACTS.mkdir(exist_ok=True)
        path = ARTEFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), **kw)
        return path


@pytest.fixture
def page(browser):
    p = Page(browser)
    yield p
    p.context.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def jupyter(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 with a random token, serving a throwaway folder; yields (url, token, root).
    Everything Jupyter writes (runtime, workspaces, checkpoints) stays in that folder; the server is stopped by pid."""
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run under CI: {reason}")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("lab")
    home = tmp_path_factory.mktemp("jupyter-home")
    token = secrets.token_hex(16)
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTER_CONFIG_DIR=str(home / "config"),
               IPYTHONDIR=str(home / "ipython"), MPLBACKEND="Agg", JUPYTER_PLATFORM_DIRS="1")
    log = open(home / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         f"--LabApp.workspaces_dir={home / 'workspaces'}", "--ServerApp.port_retries=0",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly",
         *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else [])],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + (home / "server.log").read_text()[-3000:])
                time.sleep(0.3)
        yield url, token, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def copy_notebook(src: Path, root: Path) -> str:
    """Copy a committed notebook into the server's throwaway folder (so autosave never touches the repo)."""
    shutil.copy(src, root / src.name)
    return src.name


# JupyterLab's state, read in the page: the open notebook's kernel is idle; every code cell has run and the kernel
# is idle again.
KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""
ALL_RUN = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  return cells.length > 0 && cells.every(c => c.model.executionCount !== null) &&
         w.sessionContext.session.kernel.status === 'idle';
}"""


def open_notebook(page, jupyter, src: Path) -> None:
    """Open a throwaway copy of notebook `src` in a fresh, reset JupyterLab workspace (no layout restored from an
    earlier test) and wait until its kernel is idle. `page` is Playwright's page."""
    url, token, root = jupyter
    name = copy_notebook(src, root)
    page.goto(f"{url}/lab/workspaces/{uuid.uuid4().hex}/tree/{name}?reset&token={token}")
    page.wait_for_function(KERNEL_IDLE, timeout=120_000)


def run_all_cells(page, timeout_ms: int) -> None:
    """Run every cell and wait until all have run. The command is fired without awaiting its promise:
    Playwright's evaluate has no timeout, and a run-all that never settles would hang the test."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_function(ALL_RUN, timeout=timeout_ms)
