"""The two-command setup stays honest: environment.yml and pyproject.toml name the same packages, JupyterLab has
the 2026 security fix in both, and README shows exactly `make lab` and `make test`."""
from __future__ import annotations

import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pip vendors the same parser
    from pip._vendor import tomli as tomllib

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    """PEP 503 normalised name: PyYAML, pyyaml and py_yaml are one package."""
    name = re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _version(requirement: str) -> tuple[int, ...] | None:
    m = re.search(r">=\s*([0-9][0-9.]*)", requirement)
    return tuple(int(x) for x in m.group(1).strip(".").split(".")) if m else None


def _pyproject() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {_name(d): d for d in deps}


def _environment() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    # packages conda-forge lacks (or names otherwise) come from PyPI in the pip section
    pip = [d for section in env["dependencies"] if isinstance(section, dict) for d in section.get("pip", [])
           if not d.startswith("-")]
    return {_name(d.replace("=", "==", 1) if re.match(r"^[\w.-]+=[^=]", d) else d): d for d in conda + pip
            if _name(d) not in ("python", "pip")}


def test_same_packages_in_both():
    assert sorted(_environment()) == sorted(_pyproject())


def test_name_normalisation():
    assert _name("PyYAML>=6") == _name("pyyaml >= 6.0") == "pyyaml"
    assert _name("Jupyter_Lab>=4") == _name("jupyter.lab") == "jupyter-lab"


def test_jupyterlab_has_the_security_fix_in_both():
    for where, deps in (("pyproject.toml", _pyproject()), ("environment.yml", _environment())):
        assert "jupyterlab" in deps, where
        assert _version(deps["jupyterlab"]) is not None and _version(deps["jupyterlab"]) >= (4, 5, 7), where


def test_environment_installs_the_local_package_and_pins_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    assert any(isinstance(d, str) and re.fullmatch(r"python=3\.\d+", d) for d in env["dependencies"])
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert any(p.strip() in ("-e .", ".") for p in pip)


def test_readme_shows_exactly_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    commands = [line.strip() for line in readme.splitlines() if line.strip().startswith("make ")]
    assert commands == ["make lab", "make test"]
