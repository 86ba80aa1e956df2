"""README's command-line examples run exactly as written, from the repository root, and say something."""
from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _examples() -> list[str]:
    """The indented `kplab ...` lines of README.md (its code blocks), in order."""
    return [line.strip() for line in (ROOT / "README.md").read_text().splitlines()
            if line.startswith("    kplab ")]


def test_readme_shows_every_subcommand():
    used = {shlex.split(c)[1] for c in _examples()}
    assert {"get", "rules", "trace", "trace-rules", "reach"} <= used


@pytest.mark.parametrize("command", _examples())
def test_readme_example_runs_as_written(command: str):
    argv = shlex.split(command)
    script = Path(sys.executable).parent / "kplab"  # the console script pip installs, when there is one
    run = [str(script)] if script.exists() else [sys.executable, "-m", "kplab.cli"]
    done = subprocess.run(run + argv[1:], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{command}\n{done.stderr}"
    assert done.stdout.strip(), f"{command} printed nothing"
    assert "Traceback" not in done.stderr


def test_readme_python_example_runs_as_written():
    """The indented block under "From Python", run from the repository root as a script."""
    text = (ROOT / "README.md").read_text().split("## From Python", 1)[1].split("\n## ", 1)[0]
    code = "\n".join(line[4:] for line in text.splitlines() if line.startswith("    "))
    assert code.startswith("import kplab")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "=> ACCEPT delivered to default/webapp-" in done.stdout and "Fraction(1, 2)" in done.stdout
