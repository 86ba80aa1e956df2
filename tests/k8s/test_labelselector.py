"""Label selectors: one parser for workloads and NetworkPolicy, with the API server's validation wording."""
from __future__ import annotations

import pytest

from kplab.errors import KplabError
from kplab.k8s import load_cluster
from kplab.k8s.labelselector import map_matches, parse_selector


def parsed(raw):
    errors: list[str] = []
    return parse_selector(raw, "spec.selector", errors), errors


def test_match_labels_and_expressions_must_all_hold():
    selector, errors = parsed({"matchLabels": {"app": "web"},
                               "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]})
    assert errors == []
    assert selector.matches({"app": "web", "tier": "b"})
    assert not selector.matches({"app": "web", "tier": "c"})
    assert not selector.matches({"tier": "a"})
    assert str(selector) == "app=web,tier in (a,b)"


def test_notin_and_doesnotexist_match_an_absent_key():
    selector, _ = parsed({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]},
                                               {"key": "canary", "operator": "DoesNotExist"}]})
    assert selector.matches({})
    assert not selector.matches({"env": "prod"})
    assert not selector.matches({"canary": "yes"})


def test_empty_selector_selects_everything_and_a_missing_map_nothing():
    selector, errors = parsed(None)
    assert errors == [] and selector.empty and selector.matches({"any": "thing"})
    assert str(selector) == "<all>"
    assert not map_matches(None, {"app": "web"})
    assert map_matches({}, {"app": "web"})
    assert map_matches({"app": "web"}, {"app": "web", "x": "y"}) and not map_matches({"app": "web"}, {"app": "db"})


def test_numbers_as_label_values_are_refused():
    _, errors = parsed({"matchLabels": {"version": 2}})
    assert errors == ["spec.selector.matchLabels: Invalid value: 2: label values must be strings (quote them in YAML)"]


def test_workload_selectors_get_the_same_validation_wording(write):
    path = write("deploy.yaml", """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: webapp}
        spec:
          selector: {matchExpressions: [{key: app, operator: Equals, values: [web]}]}
          template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c}]}}
        """)
    with pytest.raises(KplabError) as e:
        load_cluster(path)
    assert str(e.value) == (f'{path}:1: Deployment.apps "webapp" is invalid: spec.selector.matchExpressions[0].'
                            'operator: Invalid value: "Equals": not a valid selector operator')


def test_workload_selector_expressions_select_the_template_and_adopt_pods(write):
    path = write("deploy.yaml", """
        apiVersion: apps/v1
        kind: ReplicaSet
        metadata: {name: web}
        spec:
          replicas: 2
          selector: {matchExpressions: [{key: app, operator: In, values: [web, www]}]}
          template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c}]}}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: adopted, labels: {app: www}}
        spec: {containers: [{name: c}]}
        """)
    pods = [p for p in load_cluster(path).pods.values() if p.namespace == "default"]
    assert len(pods) == 2 and "default/adopted" in {p.key for p in pods}
