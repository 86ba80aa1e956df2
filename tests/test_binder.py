"""Binder's environment (binder/) is pinned exactly, names what pyproject.toml needs, has JupyterLab's security fix,
still installs the local package — and, installed exactly as pinned into a fresh virtual environment, runs every
notebook (marker `binder`; reuses pip's download cache, a few minutes)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pip vendors the same parser
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def _name(requirement: str) -> str:
    name = re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> list[str]:
    env = yaml.safe_load((BINDER / "environment.yml").read_text())
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)


def test_every_pin_is_exact():
    loose = [p for p in _pins() if not re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][0-9A-Za-z.+-]*", p)]
    assert loose == [], f"binder/environment.yml: not an exact pin: {loose}"


def test_pins_cover_pyproject_and_have_the_jupyterlab_fix():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = {_name(p): p.split("==")[1] for p in _pins()}
    missing = sorted(_name(d) for d in deps if _name(d) not in pinned)
    assert missing == [], f"binder/environment.yml does not pin {missing} (pyproject.toml needs them)"
    version = tuple(int(x) for x in pinned["jupyterlab"].split(".")[:3])
    assert version >= (4, 5, 7), "JupyterLab before 4.5.7 lacks the fix for CVE-2026-42557"


def test_python_is_pinned_and_the_local_package_installed_by_postbuild():
    env = yaml.safe_load((BINDER / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    assert any(isinstance(d, str) and re.fullmatch(r"python=3\.\d+", d) for d in env["dependencies"])
    post = BINDER / "postBuild"
    text = post.read_text()
    assert os.access(post, os.X_OK), "repo2docker runs postBuild only when it is executable"
    assert text.startswith("#!/bin/bash") and "set -e" in text, "a failing postBuild must stop the build"
    assert re.search(r"pip install --no-deps \.\s*$", text, re.M), "postBuild must install the local package"


def test_readme_badge_opens_the_first_notebook():
    first = sorted((ROOT / "notebooks").glob("*.ipynb"))[0].name
    readme = (ROOT / "README.md").read_text()
    assert f"urlpath=lab/tree/notebooks/{first})" in readme


@pytest.mark.binder
def test_pinned_environment_runs_the_notebooks(tmp_path):
    """What Binder would build, minus conda: the exact pins in a fresh venv, kplab installed without dependencies,
    every notebook executed by nbmake with that venv's kernel (not this checkout's sources)."""
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    env_python = yaml.safe_load((BINDER / "environment.yml").read_text())["dependencies"]
    if f"python={sys.version_info.major}.{sys.version_info.minor}" not in env_python:
        pytest.skip(f"binder pins Python {env_python}, this machine runs {python}: the pins are for another Python")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    pins = tmp_path / "pins.txt"
    pins.write_text("\n".join(_pins()) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MPLBACKEND")}
    env["MPLBACKEND"] = "Agg"

    def run(args, **kw):
        done = subprocess.run(args, env=env, capture_output=True, text=True, **kw)
        assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        return done

    run(pip + ["-r", str(pins)])
    # The notebook runner is a test tool, not part of the course: constrained so it cannot move any pin.
    run(pip + ["-c", str(pins), "pytest", "pytest-xdist", "nbmake"])
    run(pip + ["--no-deps", str(ROOT)], cwd=tmp_path)
    freeze = run([str(venv / "bin" / "python"), "-m", "pip", "freeze"]).stdout
    installed = {_name(line): line.split("==")[1] for line in freeze.splitlines() if "==" in line}
    moved = [p for p in _pins() if installed.get(_name(p)) != p.split("==")[1]]
    assert moved == [], f"installed versions differ from the pins: {moved}"
    where = run([str(venv / "bin" / "python"), "-c", "import kplab; print(kplab.__file__)"], cwd=tmp_path).stdout
    assert str(venv) in where, f"kplab imported from {where.strip()}, not from the fresh environment"
    run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--nbmake",
         "--nbmake-timeout=120", str(ROOT / "notebooks")], cwd=tmp_path)
