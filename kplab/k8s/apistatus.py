"""The API server's refusal messages, word for word, so a student who later meets them on a real cluster knows them.

Kubernetes reports invalid objects as `<Kind> "<name>" is invalid: <field>: <reason>` (several causes are joined as
`[cause, cause]`), and a second object of the same name as `<resource> "<name>" already exists`. Values print as Go's
validation package prints them: numbers bare, strings quoted, string lists as `[]string{"a"}`.
"""
from __future__ import annotations

import json
import re
from typing import Any

from kplab.errors import KplabError


LONGEST_QUOTED = 80  # characters of a value an error quotes; a longer one is cut (a huge value stays readable)


def _quote(value: Any) -> str:
    """Go's %q for a string: double quotes, with quotes and backslashes escaped (a long value cut with "...")."""
    text = str(value)
    if len(text) > LONGEST_QUOTED:
        return json.dumps(text[:LONGEST_QUOTED], ensure_ascii=False)[:-1] + '..."'
    return json.dumps(text, ensure_ascii=False)


def go_value(value: Any) -> str:
    """A value as the API server's field errors print it (nil prints as the string "null")."""
    if value is None:
        return _quote("null")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[]string{" + ", ".join(_quote(v) for v in value) + "}"
    if isinstance(value, dict):
        return "map[string]string{" + ", ".join(f"{_quote(k)}:{_quote(v)}" for k, v in value.items()) + "}"
    return _quote(value)


def field_invalid(path: str, value: Any, detail: str) -> str:
    return f"{path}: Invalid value: {go_value(value)}: {detail}"


def field_required(path: str, detail: str = "") -> str:
    return f"{path}: Required value" + (f": {detail}" if detail else "")


def field_unsupported(path: str, value: Any, supported: list[str]) -> str:
    """The supported values print in the order given: the API server sorts some lists and not others."""
    values = ", ".join(_quote(v) for v in supported)
    return f"{path}: Unsupported value: {go_value(value)}: supported values: {values}"


def field_forbidden(path: str, detail: str) -> str:
    return f"{path}: Forbidden: {detail}"


def field_duplicate(path: str, value: Any) -> str:
    return f"{path}: Duplicate value: {value if isinstance(value, str) and value.startswith('core.') else go_value(value)}"


def _where(source: str) -> str:
    return f"{source}: " if source else ""


def joined_causes(causes: list[str]) -> str:
    """One cause as is, several as `[cause, cause]`, as the API server joins them."""
    return causes[0] if len(causes) == 1 else "[" + ", ".join(causes) + "]"


def invalid(kind: str, name: str, causes: list[str], source: str = "") -> KplabError:
    """`Service "frontend" is invalid: spec.ports[0].nodePort: ...` (prefixed with file:line when known)."""
    return KplabError(f'{_where(source)}{kind} {_quote(name)} is invalid: {joined_causes(causes)}')


def already_exists(resource: str, name: str, source: str = "") -> KplabError:
    """`services "frontend" already exists`: a second object with a name already taken in its namespace."""
    return KplabError(f'{_where(source)}{resource} "{name}" already exists')


def internal_error(detail: str, source: str = "") -> KplabError:
    return KplabError(f"{_where(source)}Internal error occurred: {detail}")


DNS1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
           "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
           "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
DNS1123_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                     "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                     "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
DNS1123_LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
                 "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")


def port_name_problems(name: str) -> list[str]:
    """IsValidPortName (an IANA service name): named targetPorts, container ports and NetworkPolicy ports."""
    problems = []
    if len(name) > 15:
        problems.append("must be no more than 15 characters")
    if not re.fullmatch(r"[-a-z0-9]+", name):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        problems.append("must contain at least one letter (a-z)")
    if "--" in name:
        problems.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return problems
