"""Field errors print values as the API server's Go code does."""
from __future__ import annotations

from kplab.k8s.apistatus import field_invalid, field_unsupported, go_value, joined_causes, port_name_problems


def test_values_print_like_go():
    assert go_value(80) == "80"
    assert go_value(True) == "true"
    assert go_value('say "hi"') == '"say \\"hi\\""'
    assert go_value(["a", "b"]) == '[]string{"a", "b"}'
    assert go_value({"app": "web"}) == 'map[string]string{"app":"web"}'
    assert field_invalid("spec.x", None, "why") == 'spec.x: Invalid value: "null": why'


def test_supported_values_keep_the_order_given():
    assert field_unsupported("p", "ICMP", ["TCP", "UDP", "SCTP"]) == \
        'p: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"'


def test_causes_are_joined_in_brackets_only_when_several():
    assert joined_causes(["a"]) == "a"
    assert joined_causes(["a", "b"]) == "[a, b]"


def test_port_names_report_every_problem():
    assert port_name_problems("http") == []
    assert port_name_problems("-80-") == ["must contain at least one letter (a-z)",
                                          "must not begin or end with a hyphen"]
