"""The course notebooks as files: saved and committed without outputs.

`make lab` starts JupyterLab with `strip_on_save` as the contents manager's pre-save hook, and `make` sets up
nbstripout as git's clean filter (.gitattributes). Between them a student can run every cell and save, and the
notebook on disk stays what git holds — `git status` shows only what the student really changed (an answer, a
note), never outputs, execution counts, widget state or the kernel's language_info.
"""
from __future__ import annotations

from typing import Any

# The metadata git's filter strips: nbstripout's command-line defaults, plus the kernel's language_info (the
# Makefile adds it as filter.nbstripout.extrakeys).
EXTRA_KEYS = ("metadata.signature", "metadata.widgets", "cell.metadata.collapsed", "cell.metadata.ExecuteTime",
              "cell.metadata.execution", "cell.metadata.heading_collapsed", "cell.metadata.hidden",
              "cell.metadata.scrolled", "metadata.language_info")


def strip_on_save(model: dict[str, Any], path: str = "", contents_manager: Any = None, **kwargs: Any) -> None:
    """jupyter_server `ContentsManager.pre_save_hook`: strip a notebook model in place before it is written.

    `model` is the contents-API model ({"type": "notebook", "content": {...}}); other types pass untouched. Cell
    ids are kept (JupyterLab keeps them from the file), so saving an unchanged notebook writes the committed bytes.
    Uses nbstripout's own `strip_output`, the function git's filter runs."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    import nbformat
    from nbstripout import strip_output

    nb = nbformat.from_dict(model["content"])
    model["content"] = strip_output(nb, keep_output=False, keep_count=False, keep_id=True,
                                    extra_keys=list(EXTRA_KEYS))
