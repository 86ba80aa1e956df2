"""The one error type users see: a message naming the file, line or object at fault."""


class KplabError(Exception):
    """A user mistake (bad manifest, bad rules, bad arguments). The CLI prints it and exits non-zero."""

    def _render_traceback_(self) -> list[str]:
        """IPython shows this instead of a Python traceback (its documented hook): in a notebook a user mistake reads
        as the one message, e.g. the API server's refusal of a Service, not as a crash inside kplab."""
        return [f"KplabError: {self}"]
