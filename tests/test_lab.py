"""What a student meets before the first notebook: `make lab` starts JupyterLab on 127.0.0.1 only (as root too),
with no news prompt over the notebook, and running and saving the notebooks leaves `git status` clean.

These run the Makefile's own recipes (`make -n` to read a command, `make lab-settings` / `make git-filter` for real)
against the real JupyterLab server and the real git and nbstripout, in temporary folders and clones."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _make(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _lab_command() -> list[str]:
    """The `jupyter lab ...` command `make lab` runs, as the Makefile writes it."""
    out = _make("-n", "lab", f"BIN={BIN}").stdout
    joined = out.replace("\\\n", " ")
    lines = [ln for ln in joined.splitlines() if " lab " in ln and "jupyter" in ln]
    assert len(lines) == 1, f"make -n lab should run jupyter lab once:\n{out}"
    return shlex.split(lines[0])


def test_lab_listens_on_loopback_only_and_starts_as_root():
    cmd = _lab_command()
    assert "--ServerApp.ip=127.0.0.1" in cmd
    assert "--ServerApp.allow_root=True" in cmd
    assert not any(a.startswith(("--ip=0", "--ServerApp.ip=0", "--ServerApp.ip=*")) for a in cmd)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_serves_on_loopback_with_no_news_prompt(tmp_path: Path):
    """Start JupyterLab with exactly `make lab`'s arguments (as whoever runs the suite: root in CI) and the
    settings `make lab-settings` installs; the server answers on 127.0.0.1 and JupyterLab's settings API says
    news are never fetched (so no prompt)."""
    settings = tmp_path / "settings"
    done = _make("lab-settings", f"LAB_SETTINGS={settings / 'overrides.d'}")
    assert done.returncode == 0, done.stderr
    cmd = _lab_command()
    port, token = _free_port(), "kplab-test-token"
    args = [sys.executable, "-m", "jupyterlab", *cmd[2:], "--no-browser", f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}", f"--LabApp.app_settings_dir={settings}"]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "user-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    server = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                status = _get(f"http://127.0.0.1:{port}/api/status?token={token}")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    pytest.fail(f"jupyter lab did not start:\n{server.stdout.read()[-3000:]}")
                time.sleep(0.3)
        assert "started" in status
        note = _get(f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/apputils-extension:notification"
                    f"?token={token}")
        # overrides become the schema's defaults, which apply while the student has set nothing
        defaults = {k: v.get("default") for k, v in note["schema"]["properties"].items()}
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False
        assert "fetchNews" not in note["settings"]
        runtime = [json.loads(p.read_text()) for p in (tmp_path / "runtime").glob("jpserver-*.json")]
        assert [r["hostname"] for r in runtime] == ["127.0.0.1"]
        assert Path(runtime[0]["root_dir"]) == ROOT / "notebooks"
        opened = next((tmp_path / "runtime").glob("jpserver-file-to-run-*-open.html")).read_text()
        assert f"127.0.0.1:{port}/lab/tree/01-welcome.ipynb" in opened
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        server.stdout.close()


def test_lab_opens_the_welcome_notebook():
    cmd = _lab_command()
    root = next(a.split("=", 1)[1] for a in cmd if a.startswith("--ServerApp.root_dir="))
    opened = [a for a in cmd[2:] if not a.startswith("-")]
    assert opened and (ROOT / opened[0]).is_file(), f"make lab opens {opened}, which is not a notebook"
    assert (ROOT / opened[0]).resolve().parent == (ROOT / root).resolve()


# --- git: running and saving the notebooks leaves no noise ---------------------------------------------------------

def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def _run_and_fill(nb: dict) -> dict:
    """What running every cell in JupyterLab puts into the notebook model it saves: outputs, execution counts,
    widget state, the kernel's language_info, cell metadata."""
    import copy
    nb = copy.deepcopy(nb)
    for n, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = n + 1
        cell["outputs"] = [nbformat.v4.new_output("stream", name="stdout", text="hello\n"),
                           nbformat.v4.new_output("display_data", data={"text/html": "<b>x</b>", "text/plain": "x"})]
        cell["metadata"]["scrolled"] = True
        cell["metadata"]["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.12.3", "mimetype": "text/x-python",
                                       "codemirror_mode": {"name": "ipython", "version": 3}}
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}
    return nb


needs_git = pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")


@needs_git
@pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks yet")
def test_running_and_saving_the_notebooks_leaves_git_status_clean(tmp_path: Path):
    """In a fresh clone with `make git-filter` done: (1) save every notebook, run and full of outputs, through
    jupyter_server's own FileContentsManager with the pre-save hook `make lab` configures — the files stay byte for
    byte what git holds; (2) save them with outputs and no hook (another Jupyter, Binder) — the filter keeps the
    outputs out of diffs and commits."""
    from jupyter_server.services.contents.filemanager import FileContentsManager

    clone = tmp_path / "clone"
    _git("clone", "-q", str(ROOT), str(clone), cwd=tmp_path)
    done = _make("git-filter", f"BIN={BIN}", cwd=clone)
    assert done.returncode == 0, done.stderr
    hook = next(a.split("=", 1)[1] for a in _lab_command() if a.startswith("--ContentsManager.pre_save_hook="))
    manager = FileContentsManager(root_dir=str(clone / "notebooks"), pre_save_hook=hook)
    paths = sorted((clone / "notebooks").glob("*.ipynb"))
    for path in paths:
        model = manager.get(path.name, content=True)
        manager.save({"type": "notebook", "format": "json", "content": _run_and_fill(model["content"])}, path.name)
        # byte for byte what git holds: git status has nothing to report (checked without running the filter)
        assert path.read_bytes() == subprocess.run(["git", "show", f"HEAD:notebooks/{path.name}"], cwd=clone,
                                                   capture_output=True, check=True).stdout, path.name

    # one notebook is enough here: the test below holds every committed notebook to the filter's form
    path = paths[0]
    nbformat.write(nbformat.from_dict(_run_and_fill(json.loads(path.read_text()))), path)
    assert '"hello' in path.read_text()
    _git("add", "-A", cwd=clone)
    assert _git("diff", "--cached", "--stat", cwd=clone) == ""
    assert _git("status", "--porcelain", cwd=clone) == ""


@pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks yet")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_are_what_the_filter_writes(path: Path, committed):
    """A notebook committed by hand (without the filter) must already be in the filter's form, or the first run
    on a student's machine would show it as changed. Same call and writer as nbstripout's command line."""
    from nbstripout import strip_output

    from kplab.notebook import EXTRA_KEYS

    text = committed(path)
    nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    stripped = nbformat.writes(strip_output(nb, keep_output=False, keep_count=False, keep_id=False,
                                            extra_keys=list(EXTRA_KEYS)))
    assert stripped.rstrip("\n") + "\n" == text, \
        f"{path.name}: run `nbstripout --extra-keys metadata.language_info` on it"
