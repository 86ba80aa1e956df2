"""The Kubernetes API's schema: which apiVersion goes with which kind, and the shape of every field of every object.

The API server decodes an object strictly before anything else looks at it (`kubectl apply` sends
`fieldValidation=Strict` by default): a field of the wrong JSON type is refused ("json: cannot unmarshal string into
Go struct field ServicePort.spec.ports.port of type int32"), an unknown or misspelt field too ("strict decoding
error: unknown field "spec.ports[0].targetport""), and an apiVersion that does not serve the kind ("no matches for
kind "Service" in version "apps/v1""). kplab does the same with the JSON Schemas derived from the Kubernetes OpenAPI
document, as the `kubernetes-validate` package ships them (its "local-strict" set: every object closed to unknown
fields; read from the installed files, never downloaded), compiled per kind into Python by `fastjsonschema` (once per
process: about 0.01 s for a Service, 0.1 s for a Deployment; then some 20 microseconds an object). Only then do
kplab's readers and its own API-server rules (names, label syntax, ranges, allocation) see the object.

The first field at fault is reported, at its own line. Missing required fields are left to kplab's validators, which
word them as the API server's validation does (decoding itself does not require fields).
"""
from __future__ import annotations

import ast
import importlib.util
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

from kplab.errors import KplabError

KUBERNETES_VERSION = "1.37.0"  # the newest schema set kubernetes-validate ships (kubernetes-validate 1.37.0)
INT32 = (-(2 ** 31), 2 ** 31 - 1)
INT64 = (-(2 ** 63), 2 ** 63 - 1)

# Documents kplab reads that are configuration files, not API objects (no OpenAPI schema): their apiVersions.
CONFIG_KINDS = {
    "ClusterConfiguration": ("kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4"),
    "InitConfiguration": ("kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4"),
    "JoinConfiguration": ("kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4"),
    "ResetConfiguration": ("kubeadm.k8s.io/v1beta4",),
    "UpgradeConfiguration": ("kubeadm.k8s.io/v1beta4",),
    "KubeProxyConfiguration": ("kubeproxy.config.k8s.io/v1alpha1",),
    "KubeletConfiguration": ("kubelet.config.k8s.io/v1beta1",),
}


_STRING = {"type": ["string", "null"]}
_STRINGS = {"type": ["array", "null"], "items": {"type": "string"}}
_ARGS_MAP = {"type": ["object", "null"], "additionalProperties": {"type": "string"}}  # kubeadm v1beta3
_ARGS_LIST = {"type": ["array", "null"], "items": {"type": "object", "properties": {"name": {"type": "string"}, "value": {
    "type": "string"}}}}  # kubeadm v1beta4


def _component(args: dict[str, Any]) -> dict[str, Any]:
    return {"type": ["object", "null"], "properties": {"extraArgs": args}}


def _cluster_configuration(args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {
        "networking": {"type": ["object", "null"], "properties": {
            "podSubnet": _STRING, "serviceSubnet": _STRING, "dnsDomain": _STRING}},
        "apiServer": _component(args), "controllerManager": _component(args)}}


# The fields kplab reads from configuration files (no OpenAPI document: from kubeadm's and kube-proxy's Go types,
# v1beta3/v1beta4 ClusterConfiguration and v1alpha1 KubeProxyConfiguration); other fields pass unread.
CONFIG_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("kubeadm.k8s.io/v1beta3", "ClusterConfiguration"): _cluster_configuration(_ARGS_MAP),
    ("kubeadm.k8s.io/v1beta4", "ClusterConfiguration"): _cluster_configuration(_ARGS_LIST),
    ("kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration"): {"type": "object", "properties": {
        "mode": _STRING, "clusterCIDR": _STRING, "nodePortAddresses": _STRINGS, "detectLocalMode": _STRING,
        "detectLocal": {"type": ["object", "null"], "properties": {"bridgeInterface": _STRING,
                                                                   "interfaceNamePrefix": _STRING}},
        "iptables": {"type": ["object", "null"], "properties": {
            "masqueradeBit": {"type": ["integer", "null"], "minimum": INT32[0], "maximum": INT32[1]},
            "masqueradeAll": {"type": ["boolean", "null"]}, "localhostNodePorts": {"type": ["boolean", "null"]},
            "syncPeriod": _STRING, "minSyncPeriod": _STRING}}}},
    **{(v, "IPPool"): {"type": "object", "properties": {  # Calico's custom resource (read for the CNI and overlay)
        "metadata": {"type": ["object", "null"], "properties": {"name": _STRING, "namespace": _STRING}},
        "spec": {"type": ["object", "null"], "properties": {"cidr": _STRING, "ipipMode": _STRING, "vxlanMode": _STRING,
                                                            "natOutgoing": {"type": ["boolean", "null"]}}}}}
       for v in ("crd.projectcalico.org/v1", "projectcalico.org/v3")},
}


@dataclass(frozen=True)
class Fault:
    """One field the schema refuses: its path as the API server writes it (`spec.ports[0].port`), the path as keys
    and indexes (to find its line), and the message."""

    path: str
    keys: tuple[Any, ...]
    message: str


def short(value: Any, limit: int = 40) -> str:
    """`value` as JSON, cut to `limit` characters with "..." — never serialising more than that of a huge value."""
    out: list[str] = []
    size = 0

    def put(text: str) -> bool:
        nonlocal size
        out.append(text)
        size += len(text)
        return size <= limit

    def emit(v: Any) -> bool:
        if isinstance(v, dict):
            if not put("{"):
                return False
            for i, (k, item) in enumerate(v.items()):
                if (i and not put(",")) or not put(json.dumps(str(k), ensure_ascii=False) + ":") or not emit(item):
                    return False
            return put("}")
        if isinstance(v, (list, tuple)):
            if not put("["):
                return False
            for i, item in enumerate(v):
                if (i and not put(",")) or not emit(item):
                    return False
            return put("]")
        if isinstance(v, str):
            return put(json.dumps(v[:limit + 1], ensure_ascii=False))
        if isinstance(v, bool) or v is None:
            return put(json.dumps(v))
        if isinstance(v, (int, float)):
            text = str(v)
            return put(text if len(text) <= limit else text[:limit])
        return put(json.dumps(str(v)[:limit + 1], ensure_ascii=False))

    emit(value)
    text = "".join(out)
    return text if len(text) <= limit else text[:limit] + "..."


_EXPECTED = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
             "number": "a number", "boolean": "true or false"}


def path_text(keys: Iterable[Any]) -> str:
    """('spec', 'ports', 0, 'port') -> 'spec.ports[0].port', the API server's field path."""
    text = ""
    for k in keys:
        text += f"[{k}]" if isinstance(k, int) else (f".{k}" if text else str(k))
    return text


def _schema_folder() -> Path:
    """kubernetes-validate's bundled schemas, found without importing the package (its import pulls in jsonschema
    and, through it, seconds of grammar building)."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise KplabError("the kubernetes-validate package is not installed (pip install kubernetes-validate)")
    return Path(spec.submodule_search_locations[0]) / "kubernetes-json-schema" / f"v{KUBERNETES_VERSION}-local-strict"


def _strict(x: Any) -> Any:
    """A schema as decoding applies it: int32/int64 as ranges, no descriptions, no `required` (the API server's
    validation reports missing fields, in its own words: kplab's validators do that)."""
    if isinstance(x, dict):
        out = {k: _strict(v) for k, v in x.items() if k not in ("description", "format", "required")}
        if x.get("format") == "int32":
            out["minimum"], out["maximum"] = INT32
        elif x.get("format") == "int64":
            out["minimum"], out["maximum"] = INT64
        return out
    if isinstance(x, list):
        return [_strict(v) for v in x]
    return x


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    types = schema.get("type")
    if isinstance(types, list) and "null" in types:
        return {**schema, "type": [t for t in types if t != "null"]}
    return schema


def _no_null_items(defs: dict[str, Any]) -> None:
    """List items may not be null: the schema allows null everywhere (Go reads it as the zero value), but a null
    entry in a list (`addresses: [null]`) is a mistake every reader would trip on, so it is refused."""
    stack: list[Any] = list(defs.values())
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            items = x.get("items")
            if isinstance(items, dict):
                ref = items.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/$defs/"):
                    name = ref[len("#/$defs/"):]
                    if name in defs and "type" in defs[name]:
                        defs.setdefault(name + ".item", _without_null(defs[name]))
                        items["$ref"] = f"#/$defs/{name}.item"
                else:
                    x["items"] = _without_null(items)
            stack.extend(v for v in x.values() if isinstance(v, (dict, list)))
        elif isinstance(x, list):
            stack.extend(x)


@lru_cache(maxsize=1)
def _definitions() -> dict[str, Any]:
    """The `$defs` of every API type, read once from the bundled files (no network)."""
    raw = json.loads((_schema_folder() / "_definitions.json").read_text())["$defs"]
    defs = {name: _strict(d) for name, d in raw.items()}
    for name in ("io.k8s.apimachinery.pkg.util.intstr.IntOrString", "io.k8s.apimachinery.pkg.api.resource.Quantity"):
        # oneOf [string|null, integer|null] refuses null (it is both); the API server reads null as unset
        if "oneOf" in defs.get(name, {}):
            defs[name] = {"anyOf": defs[name]["oneOf"]}
    _no_null_items(defs)
    for name, d in raw.items():
        if d.get("x-kubernetes-group-version-kind"):
            defs[name]["x-kubernetes-group-version-kind"] = d["x-kubernetes-group-version-kind"]
    return defs


@lru_cache(maxsize=1)
def _kinds() -> dict[tuple[str, str], str]:
    """(apiVersion, kind) -> the definition's name, for every kind the API serves."""
    out = {}
    for name, d in _definitions().items():
        for gvk in d.get("x-kubernetes-group-version-kind") or []:
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            out[(api_version, gvk["kind"])] = name
    return out


@lru_cache(maxsize=1)
def _groups() -> frozenset[str]:
    return frozenset(v.split("/")[0] if "/" in v else "" for v, _ in _kinds())


def served(api_version: str, kind: str) -> bool:
    """Whether the API serves `kind` at `api_version` (a built-in type: it has a schema)."""
    return (api_version, kind) in _kinds()


def custom(api_version: str) -> bool:
    """Whether `api_version` belongs to a group the API does not build in (a CustomResourceDefinition's)."""
    return (api_version.split("/")[0] if "/" in api_version else "") not in _groups()


def _pruned(name: str) -> dict[str, Any]:
    """A schema for one definition with only the definitions it reaches (compiling all 860 takes seconds)."""
    defs = _definitions()
    need: set[str] = set()
    todo = [name]
    while todo:
        n = todo.pop()
        if n in need:
            continue
        need.add(n)
        stack = [defs[n]]
        while stack:
            x = stack.pop()
            if isinstance(x, dict):
                ref = x.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/$defs/"):
                    todo.append(ref[len("#/$defs/"):])
                stack.extend(x.values())
            elif isinstance(x, list):
                stack.extend(x)
    return {"$ref": f"#/$defs/{name}", "$defs": {n: {k: v for k, v in defs[n].items()
                                                     if k != "x-kubernetes-group-version-kind"} for n in need}}


@lru_cache(maxsize=None)
def _validator(definition: str) -> Callable[[Any], Any]:
    """The kind's compiled check (fastjsonschema: Python code generated from the schema, built once per process)."""
    import fastjsonschema

    return fastjsonschema.compile(_pruned(definition), use_default=False, detailed_exceptions=False)


@lru_cache(maxsize=None)
def _config_validator(api_version: str, kind_name: str) -> Callable[[Any], Any]:
    import fastjsonschema

    return fastjsonschema.compile(CONFIG_SCHEMAS.get((api_version, kind_name), {"type": "object"}),
                                  use_default=False, detailed_exceptions=False)


_MESSAGE = re.compile(r"^(data(?:\.|\[|$).*?) must (be|not contain|contain) (.*)$", re.S)


def _keys(obj: Any, name: str) -> tuple[Any, ...]:
    """fastjsonschema's `data.metadata.labels.app.kubernetes.io/name` back to keys, walking the object so keys
    holding dots stay whole."""
    keys: list[Any] = []
    rest = name[len("data"):]
    at = obj
    while rest:
        if rest.startswith("[") and isinstance(at, list):
            end = rest.index("]")
            i = int(rest[1:end])
            keys.append(i)
            at, rest = at[i], rest[end + 1:]
        elif rest.startswith(".") and isinstance(at, dict):
            body = rest[1:]
            match = max((k for k in at if isinstance(k, str) and body.startswith(k)
                         and body[len(k):len(k) + 1] in ("", ".", "[")), key=len, default=None)
            if match is None:
                keys.append(body)
                break
            keys.append(match)
            at, rest = at[match], body[len(match):]
        else:
            break
    return tuple(keys)


def _at(obj: Any, keys: tuple[Any, ...]) -> Any:
    for k in keys:
        obj = obj[k]
    return obj


def _fault(obj: dict[str, Any], message: str) -> Fault:
    """fastjsonschema's refusal as the API server would word it."""
    m = _MESSAGE.match(message)
    if m is None:
        return Fault("", (), message)
    keys = _keys(obj, m.group(1))
    where = path_text(keys)
    verb, detail = m.group(2), m.group(3)
    try:
        value = _at(obj, keys)
    except (KeyError, IndexError, TypeError):
        value = None
    if verb == "not contain":
        try:
            extra = sorted(str(k) for k in ast.literal_eval(detail.rsplit(" properties", 1)[0]))
        except (ValueError, SyntaxError):
            extra = [detail]
        paths = [path_text((*keys, k)) for k in extra]
        return Fault(paths[0], (*keys, extra[0]),
                     ", ".join(f'unknown field "{p}"' for p in paths[:3]) + (", ..." if len(paths) > 3 else ""))
    if detail.startswith("smaller than or equal to") or detail.startswith("bigger than or equal to"):
        bits = "32" if abs(int(detail.rsplit(" ", 1)[1])) < 2 ** 32 else "64"
        return Fault(where, keys, f"{where}: {short(value)} does not fit in an int{bits} (the API server cannot "
                                  f"unmarshal it into a Go int{bits})")
    if detail.startswith("valid by one of anyOf"):
        return Fault(where, keys, f"{where}: expected an integer or a string, got {short(value)}")
    if verb == "be" and detail.endswith(" or null"):
        types = detail[:-len(" or null")].split(" or ")
        want = " or ".join(_EXPECTED.get(t, t) for t in types)
        return Fault(where, keys, f"{where}: expected {want}, got {short(value)}")
    if verb == "be" and detail in _EXPECTED:
        return Fault(where, keys, f"{where}: expected {_EXPECTED[detail]}, got {short(value)}")
    return Fault(where, keys, f"{where}: must {verb} {detail[:80]}")


def check(obj: dict[str, Any], where: str, line: Callable[[tuple[Any, ...]], int | None] | None = None) -> str:
    """Check one object against its kind's schema; return how kplab should take it: "object" (an API object the
    schema passed, or a custom resource kplab reads: Calico's IPPool), "config" (a kubeadm/kube-proxy/kubelet
    configuration file), "custom" (another custom resource: no schema here, skipped), or "list" (`kind: List`).

    Raises KplabError naming `where` (file:line, moved to the faulty field's line when `line` finds it), the object
    and the field path."""
    api_version, kind_name = obj.get("apiVersion"), obj.get("kind")
    if kind_name is None or kind_name == "":
        raise KplabError(f"{where}: error validating data: kind not set")
    if not isinstance(kind_name, str):
        raise KplabError(f"{where}: error validating data: kind: expected a string, got {short(kind_name)}")
    if api_version is None or api_version == "":
        raise KplabError(f"{where}: error validating data: apiVersion not set")
    if not isinstance(api_version, str):
        raise KplabError(f"{where}: error validating data: apiVersion: expected a string, got "
                         f"{short(api_version)}")
    if kind_name in CONFIG_KINDS:
        if api_version not in CONFIG_KINDS[kind_name]:
            raise KplabError(f'{where}: no matches for kind "{kind_name}" in version "{api_version}" (known: '
                             f'{", ".join(CONFIG_KINDS[kind_name])})')
        _raise_faults(obj, where, line, kind_name, _config_validator(api_version, kind_name))
        return "config"
    if kind_name.endswith("List") and "items" in obj:
        if not isinstance(obj["items"], list):
            raise KplabError(f"{where}: {kind_name}: items: expected a list, got {short(obj['items'])}")
        return "list"
    if not served(api_version, kind_name):
        if custom(api_version):
            if (api_version, kind_name) in CONFIG_SCHEMAS:
                _raise_faults(obj, where, line, kind_name, _config_validator(api_version, kind_name))
                return "object"
            return "custom"
        raise KplabError(f'{where}: resource mapping not found: no matches for kind "{kind_name}" in version '
                         f'"{api_version}"' + _known_versions(kind_name))
    _raise_faults(obj, where, line, kind_name, _validator(_kinds()[(api_version, kind_name)]))
    return "object"


def _known_versions(kind_name: str) -> str:
    versions = sorted(v for v, k in _kinds() if k == kind_name)
    return f" (served as: {', '.join(versions)})" if versions else ""


def _raise_faults(obj: dict[str, Any], where: str, line: Callable[[tuple[Any, ...]], int | None] | None,
                  kind_name: str, validate: Callable[[Any], Any]) -> None:
    try:
        validate(obj)
        return
    except Exception as e:  # noqa: BLE001 - fastjsonschema's JsonSchemaValueException; its import stays lazy
        if not hasattr(e, "message"):
            raise
        fault = _fault(obj, e.message)
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    label = f'{kind_name} "{name}"' if isinstance(name, str) and name else kind_name
    at = line(fault.keys) if line is not None else None
    if at is not None:
        where = f"{where.rsplit(':', 1)[0]}:{at}"
    decoding = "strict decoding error: " if fault.message.startswith("unknown field") else ""
    raise KplabError(f"{where}: {label}: {decoding}{fault.message}")
