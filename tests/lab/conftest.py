"""Kernel-lab fixtures. Tests marked `kernel` need Linux, root, iproute2, iptables (nf_tables) and ipset: they
skip with the reason elsewhere, and fail instead under CI=true as root (CI installs everything they need)."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"


def _problems() -> list[str]:
    from kplab.lab import check
    problems = check()
    if problems:
        return problems
    probe = f"kpl-{os.getpid()}-0-probe"  # can this machine make a namespace at all (containers may refuse)?
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    if done.returncode != 0:
        return [f"cannot create a network namespace: {done.stderr.strip()}"]
    return []


_CACHE: list[list[str]] = []


def kernel_problems() -> list[str]:
    if not _CACHE:
        _CACHE.append(_problems())
    return _CACHE[0]


def pytest_runtest_setup(item):
    if item.get_closest_marker("kernel") is None:
        return
    problems = kernel_problems()
    if not problems:
        return
    reason = "kernel lab unavailable: " + "; ".join(problems)
    if os.environ.get("CI") == "true" and platform.system() == "Linux" and os.geteuid() == 0:
        pytest.fail(f"CI runs as root, so the kernel tests must run here: {reason}", pytrace=False)
    pytest.skip(reason)
