"""Every exercise in notebooks 01-06 can be answered: fill each `answer = ""` with the answer the article and the
narration lead to, run the notebook's code in order (in process, as the kernel would), and the checker must say
right. This guards the notebooks against drift: a change in data/ or in the walk that makes an exercise's
narration wrong fails here, naming the notebook and the exercise. (The checkers themselves store no answers; this
test is the course's answer key.)"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KEY = {
    "01-welcome.ipynb": ["10.244.120.102:80, 10.244.120.103:80", "minikube -> minikube-m02"],
    "02-pod-to-pod.ipynb": ["10.244.0.3", "minikube -> minikube-m02", "minikube-m02"],
    "03-pod-to-outside.ipynb": ["192.168.49.2", "192.168.49.3", "ACCEPT"],
    "04-services-clusterip.ipynb": ["10.244.120.102:80 1/2, 10.244.120.103:80 1/2",
                                    "10.244.120.102:80 1/3, 10.244.120.103:80 1/3, 10.244.120.104:80 1/3",
                                    "192.168.49.3, 10.244.120.102", "KUBE-SERVICES"],
    "05-nodeport.ipynb": ["minikube -> minikube-m02", "192.168.49.2, 10.244.0.1", "DROP"],
    "06-external-traffic-policy.ipynb": ["203.0.113.10", "DROP", "KUBE-EXTERNAL-SERVICES"],
}


def _run(path: Path, answers: list[str]) -> list:
    """Execute the notebook's code cells in one namespace; return each exercise cell's Check."""
    nb = json.loads(path.read_text())
    ns: dict = {}
    checks, pending = [], iter(answers)
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or "raises-exception" in cell.get("metadata", {}).get("tags", []):
            continue
        source = "".join(cell["source"])
        if 'answer = ""' in source:
            source = source.replace('answer = ""', f"answer = {next(pending)!r}", 1)
        tree = ast.parse(source)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, f"{path.name}", "exec"), ns)
        value = eval(compile(ast.Expression(last.value), path.name, "eval"), ns) if last else None
        if "exercises.check_" in source:
            checks.append(value)
    assert next(pending, None) is None, f"{path.name}: fewer exercises than answers"
    return checks


@pytest.mark.parametrize("name", sorted(KEY))
def test_every_exercise_has_a_right_answer(name: str, monkeypatch):
    monkeypatch.chdir(NOTEBOOKS)  # as the kernel runs: next to the notebook
    checks = _run(NOTEBOOKS / name, KEY[name])
    assert 2 <= len(checks) <= 4, f"{name}: {len(checks)} exercises (the course asks for 2-4)"
    wrong = [f"exercise {i}: {c}" for i, c in enumerate(checks, 1) if c.correct is not True]
    assert wrong == [], "\n".join(wrong)


def test_the_key_covers_every_course_notebook():
    assert sorted(KEY) == sorted(p.name for p in NOTEBOOKS.glob("0[1-6]-*.ipynb"))
