"""API-server style field errors: `spec.x[0].y: Invalid value: "v": why`, so users see what kubectl would print."""
from __future__ import annotations

import json


def _show(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def invalid(path: str, value: object, detail: str) -> str:
    return f"{path}: Invalid value: {_show(value)}: {detail}"


def required(path: str, detail: str) -> str:
    return f"{path}: Required value: {detail}" if detail else f"{path}: Required value"


def forbidden(path: str, detail: str) -> str:
    return f"{path}: Forbidden: {detail}"


def not_supported(path: str, value: object, supported: list[str]) -> str:
    options = ", ".join(json.dumps(s) for s in supported)
    return f"{path}: Unsupported value: {_show(value)}: supported values: {options}"
