"""The seams of DESIGN.md, checked on the source with `ast`: every import counts, at module level or inside a
function (a lazy import is still a dependency)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "kplab"
RENDERING = ("pandas", "matplotlib", "ipywidgets", "networkx")


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {_module(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def imports(tree: ast.Module, module: str, top_level_only: bool = False) -> set[str]:
    """Every module `tree` imports (absolute names; relative imports resolved against `module`)."""
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: len(module.split(".")) - node.level + (1 if module in _PACKAGES else 0)]
                base = ".".join(package + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            found.add(node.args[0].value)
    return found


_PACKAGES = {_module(p) for p in PACKAGE.rglob("__init__.py")}


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _violations(source: str, forbidden: tuple[str, ...], allowed: dict[str, set[str]] | None = None) -> list[str]:
    out = []
    for module, tree in MODULES.items():
        if not _under(module, source):
            continue
        for name in sorted(imports(tree, module)):
            if any(_under(name, f) for f in forbidden) and name not in (allowed or {}).get(module, set()):
                out.append(f"{module} imports {name}")
    return out


def test_the_parser_sees_lazy_imports():
    tree = ast.parse("def f():\n    from kplab.walk import trace\n    import pandas as pd\n")
    assert imports(tree, "kplab.k8s.x") >= {"kplab.walk", "kplab.walk.trace", "pandas"}
    assert imports(tree, "kplab.k8s.x", top_level_only=True) == set()


@pytest.mark.parametrize("source,forbidden", [
    ("kplab.k8s", ("kplab.walk", "kplab.kubeproxy", "kplab.cni", "kplab.dns", "kplab.netfilter", "kplab.views",
                   "kplab.cli", "kplab.lab", "kplab.exercises")),
    ("kplab.netfilter", ("kplab.k8s", "kplab.kubeproxy", "kplab.cni", "kplab.dns", "kplab.walk", "kplab.views",
                         "kplab.cli", "kplab.lab", "kplab.exercises")),
    ("kplab.kubeproxy", ("kplab.cni", "kplab.dns", "kplab.walk", "kplab.views", "kplab.cli", "kplab.lab")),
    ("kplab.cni", ("kplab.kubeproxy", "kplab.dns", "kplab.walk", "kplab.views", "kplab.cli", "kplab.lab")),
    ("kplab.dns", ("kplab.kubeproxy", "kplab.cni", "kplab.walk", "kplab.views", "kplab.cli", "kplab.lab")),
    ("kplab.views", ("kplab.cli",)),
])
def test_core_parts_import_nothing_above_them(source, forbidden):
    assert _violations(source, forbidden) == []


def test_the_walk_renders_nothing_but_hands_a_trace_to_the_player():
    # Trace.play is the one door from the model to a view: it imports kplab.views.player when called.
    assert _violations("kplab.walk", ("kplab.views", "kplab.cli", "kplab.lab"),
                       allowed={"kplab.walk.trace": {"kplab.views", "kplab.views.player"}}) == []


def test_only_views_and_cli_import_a_rendering_library_at_all():
    """The core returns data (rows, columns, a Trace); a view makes the DataFrame, the figure or the widget. A lazy
    import inside a function counts too: the core never renders (Trace.play hands over to kplab.views)."""
    core = [m for m in MODULES if not (_under(m, "kplab.views") or _under(m, "kplab.cli"))]
    bad = [f"{m} imports {n}" for m in core for n in sorted(imports(MODULES[m], m)) if n.split(".")[0] in RENDERING]
    assert bad == []


def _docstrings(tree: ast.Module) -> set[int]:
    return {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}


def test_netfilter_knows_nothing_of_kube_proxy_or_calico():
    """No string the engine acts on names a kube-proxy chain or a Calico one (docstrings may mention them)."""
    bad = []
    for module, tree in MODULES.items():
        if not _under(module, "kplab.netfilter"):
            continue
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs \
                    and any(w in node.value for w in ("KUBE-", "cali")):
                bad.append(f"{module}:{node.lineno}: {node.value[:60]!r}")
    assert bad == [], "\n".join(bad)


def test_no_import_error_fallbacks():
    bad = []
    for module, tree in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                names = {n.id for n in ast.walk(node.type) if isinstance(n, ast.Name)}
                if names & {"ImportError", "ModuleNotFoundError"}:
                    bad.append(f"{module}:{node.lineno}")
    assert bad == []


def test_one_meaning_per_name():
    """Names that once meant two things (two Steps, two Connections, ...) are defined once each."""
    defined: dict[str, list[str]] = {}
    for module, tree in MODULES.items():
        for node in tree.body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                defined.setdefault(node.name, []).append(module)
    for name in ("Step", "Connection", "Rule", "Peer", "Endpoint", "run_trace", "Decision", "ConntrackEntry",
                 "PolicyRule", "Neighbour", "Party", "Trace", "Hop", "Outcome", "Flow", "FlowDiff"):
        assert len(defined.get(name, [])) == 1, (name, defined.get(name))


# Words that only a reader of rule text needs: the flags that shape a rule after `-A CHAIN` (header, match, jump).
RULE_FLAGS = {"-j", "--jump", "-g", "--goto", "-m", "--match", "-p", "--protocol", "-s", "--source", "-d",
              "--destination", "-i", "--in-interface", "-o", "--out-interface"}
TEXT_TOOLS = {"re", "shlex"}
# These read rules through kplab.netfilter's parser (Rule, Match, Option objects, rule_words/rule_target).
READ_BY_NETFILTER = ("kplab.views.listing", "kplab.kubeproxy.tables")


def own_rule_parsing(tree: ast.Module, module: str) -> list[str]:
    """Signs that a module reads iptables rule text itself: a regex or shell-splitting module, or a rule flag
    (`-j`, `-m`, ...) as a word of a string it acts on (docstrings may mention them)."""
    found = [f"imports {n}" for n in sorted(imports(tree, module)) if n in TEXT_TOOLS]
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs \
                and RULE_FLAGS & set(node.value.split()):
            found.append(f"line {node.lineno}: {node.value!r}")
    return found


def test_the_rule_text_check_can_fail():
    old = ast.parse('import shlex\n\ndef target(spec):\n    """after -j"""\n    s = " " + spec\n'
                    '    return s[s.rfind(" -j ") + 4:]\n')
    assert own_rule_parsing(old, "kplab.views.listing") == ["imports shlex", "line 6: ' -j '"]


@pytest.mark.parametrize("module", READ_BY_NETFILTER)
def test_rule_text_is_read_only_by_netfilter(module):
    assert own_rule_parsing(MODULES[module], module) == []
