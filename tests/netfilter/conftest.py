"""Shared helpers for the netfilter tests: where the conformance data lives (read in place, never copied)."""
from __future__ import annotations

from pathlib import Path

import pytest

CONFORMANCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "kube-proxy"


@pytest.fixture
def conformance() -> Path:
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance data not found at {CONFORMANCE}")
    return CONFORMANCE
