"""Every option of every kplab command says what it is in --help (field note 12), and `trace --html` writes the
page without printing the whole walk again."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kplab.cli import _parser, main

DATA = Path(__file__).resolve().parents[2] / "data"


def _subparsers():
    parser = _parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@pytest.mark.parametrize("command", ["get", "rules", "trace", "trace-rules", "reach"])
def test_every_option_has_help(command):
    sub = _subparsers()[command]
    missing = [a.dest for a in sub._actions if not isinstance(a, argparse._HelpAction) and not a.help]
    assert missing == []


def test_html_writes_the_page_and_a_line(tmp_path, capsys):
    page = tmp_path / "t.html"
    assert main(["trace", str(DATA / "article"), "--from", "deploy/auth", "--to", "svc/webapp",
                 "--html", str(page)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"wrote {page}: ")
    assert page.read_text().lstrip().lower().startswith("<!doctype html")
