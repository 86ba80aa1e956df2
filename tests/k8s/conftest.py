from __future__ import annotations

import textwrap

import pytest



@pytest.fixture
def write(tmp_path: Path):
    """write("name.yaml", yaml_text) -> path of a manifest file in a temporary folder."""
    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path
    return _write
