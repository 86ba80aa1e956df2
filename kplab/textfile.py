"""Reading a file the user names: any file that reads like one (a regular file, a FIFO, a pipe such as `<(...)`,
/dev/null), with a size limit so an endless source (/dev/zero) or a huge one stops early, and text only."""
from __future__ import annotations

from pathlib import Path

from kplab.errors import KplabError


def read_text(path: str | Path, limit: int, what: str) -> str:
    """A file's text, read in chunks so an endless or huge source (/dev/zero, a pipe) stops at `limit` bytes, and
    binary data (a NUL byte, bytes that are not UTF-8) is refused at its line."""
    chunks: list[bytes] = []
    size = 0
    lines = 0
    try:
        with open(path, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                nul = chunk.find(b"\0")
                if nul >= 0:
                    at = lines + chunk.count(b"\n", 0, nul) + 1
                    raise KplabError(f"{path}:{at}: not text (a NUL byte): not a {what}")
                size += len(chunk)
                if size > limit:
                    raise KplabError(f"{path}: larger than {limit >> 20} MiB: not a {what} kplab reads (a real one "
                                     "is far smaller)")
                lines += chunk.count(b"\n")
                chunks.append(chunk)
    except OSError as e:
        raise KplabError(f"{path}: cannot read {what}: {e.strerror or e}") from None
    data = b"".join(chunks)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        at = data.count(b"\n", 0, e.start) + 1
        raise KplabError(f"{path}:{at}: not UTF-8 text: not a {what}") from None
