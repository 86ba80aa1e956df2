"""Fixtures shared by the top-level tests."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def committed_text(path: Path) -> str:
    """The file as git would commit it: its staged (index) content, which the nbstripout clean filter has already
    stripped, so a student's saved outputs in the working copy never fail a test. Outside git, or for a file not yet
    added, the working copy."""
    rel = path.resolve().relative_to(ROOT).as_posix()
    try:
        done = subprocess.run(["git", "show", f":{rel}"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return path.read_text()
    return done.stdout if done.returncode == 0 else path.read_text()


@pytest.fixture
def committed():
    """committed(path) -> the file's text as git would commit it (see committed_text)."""
    return committed_text
