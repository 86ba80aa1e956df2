"""KplabError reads as its one message in a notebook (IPython's _render_traceback_ hook), not as a traceback."""
from __future__ import annotations

from kplab.errors import KplabError


def test_notebook_shows_the_message_not_a_traceback(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.user_ns["KplabError"] = KplabError
    result = shell.run_cell('raise KplabError("<yaml>:2: Service \\"x\\" is invalid: spec.ports[0].nodePort")')
    out = capsys.readouterr()
    shown = out.out + out.err
    assert isinstance(result.error_in_exec, KplabError)
    assert 'KplabError: <yaml>:2: Service "x" is invalid' in shown
    assert "Traceback" not in shown and "File " not in shown
