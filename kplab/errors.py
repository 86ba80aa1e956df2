"""The one error type users see: a message naming the file, line or object at fault."""


class KplabError(Exception):
    """A user mistake (bad manifest, bad rules, bad arguments). The CLI prints it and exits non-zero."""
