"""The revision: a counter bumped by every change to any Kubernetes object kplab holds, so that what is built from
a cluster (the walk's Network: topology and parsed rules) is rebuilt when — and only when — something changed,
for the price of one integer comparison per use.

Every object class of kplab.k8s (and Cluster) is `Tracked`: assigning an attribute bumps the revision, and lists
and dicts assigned to attributes become TrackedList / TrackedDict, whose mutating methods bump it too (nested
ones as well, e.g. a NetworkPolicy's spec). So `svc.ports[0].port = 8081`, `cluster.services[key] = svc` and
`pod.labels["app"] = "x"` are all noticed. One counter serves every cluster: a change to any of them makes the
others rebuild once as well, which is safe and rare.
"""
from __future__ import annotations

import yaml

_revision = 0


def current() -> int:
    """The revision now (grows with every change)."""
    return _revision


def bump() -> None:
    global _revision
    _revision += 1


def track(value):
    """`value` with its plain lists and dicts (at any depth) made Tracked; anything else as it is."""
    kind = type(value)
    if kind is list:
        return TrackedList(value)
    if kind is dict:
        return TrackedDict(value)
    return value


class TrackedList(list):
    """A list that bumps the revision when changed; lists and dicts put in it are tracked too."""

    def __init__(self, items=()):
        super().__init__(track(v) for v in items)

    def __setitem__(self, index, value):
        bump()
        super().__setitem__(index, [track(v) for v in value] if isinstance(index, slice) else track(value))

    def append(self, value):
        bump()
        super().append(track(value))

    def insert(self, index, value):
        bump()
        super().insert(index, track(value))

    def extend(self, values):
        bump()
        super().extend(track(v) for v in values)

    def __iadd__(self, values):
        self.extend(values)
        return self

    def __delitem__(self, index):
        bump()
        super().__delitem__(index)

    def __imul__(self, n):
        bump()
        return super().__imul__(n)

    def pop(self, index=-1):
        bump()
        return super().pop(index)

    def remove(self, value):
        bump()
        super().remove(value)

    def clear(self):
        bump()
        super().clear()

    def sort(self, **kw):
        bump()
        super().sort(**kw)

    def reverse(self):
        bump()
        super().reverse()


class TrackedDict(dict):
    """A dict that bumps the revision when changed; lists and dicts put in it are tracked too."""

    def __init__(self, items=(), **kw):
        super().__init__()
        for k, v in dict(items, **kw).items():
            super().__setitem__(k, track(v))

    def __setitem__(self, key, value):
        bump()
        super().__setitem__(key, track(value))

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return super().__getitem__(key)

    def update(self, items=(), **kw):
        for k, v in dict(items, **kw).items():
            self[k] = v

    def __ior__(self, items):
        self.update(items)
        return self

    def __delitem__(self, key):
        bump()
        super().__delitem__(key)

    def pop(self, *args):
        bump()
        return super().pop(*args)

    def popitem(self):
        bump()
        return super().popitem()

    def clear(self):
        bump()
        super().clear()


class Tracked:
    """Mixin for kplab.k8s's object dataclasses: every attribute assignment bumps the revision."""

    __slots__ = ()

    def __setattr__(self, name, value):
        bump()
        object.__setattr__(self, name, track(value))


# `kplab get -o yaml` dumps what the objects hold: tracked containers dump as the plain ones they extend.
yaml.SafeDumper.add_representer(TrackedDict, yaml.SafeDumper.represent_dict)
yaml.SafeDumper.add_representer(TrackedList, yaml.SafeDumper.represent_list)
if hasattr(yaml, "CSafeDumper"):
    yaml.CSafeDumper.add_representer(TrackedDict, yaml.SafeDumper.represent_dict)
    yaml.CSafeDumper.add_representer(TrackedList, yaml.SafeDumper.represent_list)
