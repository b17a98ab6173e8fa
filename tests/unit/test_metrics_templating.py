"""MetricTemplate queries render like Flagger's Go templates, and fail loudly like them."""

from typing import Any

import pytest

from canary_operator.api import Canary, CanaryMetric
from canary_operator.metrics import TemplateError, render, template_variables


def canary(**spec: Any) -> Canary:
    body: dict[str, Any] = {
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo-app"},
            "service": {"port": 9898},
            "analysis": {"interval": "1m", "threshold": 5, "stepWeight": 10},
            **spec,
        },
    }
    return Canary.model_validate(body)


def metric(**fields: Any) -> CanaryMetric:
    return CanaryMetric.model_validate({"name": "latency", "query": "up", **fields})


def test_template_variables_default_to_the_target_name() -> None:
    assert template_variables(canary(), metric()) == {
        "name": "podinfo",
        "namespace": "test",
        "target": "podinfo-app",
        "service": "podinfo-app",
        "ingress": "podinfo-app",
        "route": "podinfo-app",
        "interval": "1m",
        "variables": {},
    }


def test_template_variables_follow_service_ingress_and_route_refs() -> None:
    values = template_variables(
        canary(
            service={"port": 9898, "name": "frontend"},
            ingressRef={"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"},
            routeRef={"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute", "name": "r"},
        ),
        metric(interval="30s", templateVariables={"cluster": "dev"}),
    )
    assert values["service"] == "frontend"
    assert values["ingress"] == "web"
    assert values["route"] == "r"
    assert values["interval"] == "30s"
    assert values["variables"] == {"cluster": "dev"}


def test_render_fills_every_variable() -> None:
    query = (
        "{{ name }}|{{ namespace }}|{{ target }}|{{ service }}|{{ ingress }}|{{ route }}|"
        "{{ interval }}|{{ variables.cluster }}"
    )
    rendered = render(query, canary(), metric(templateVariables={"cluster": "dev"}))
    assert rendered == "podinfo|test|podinfo-app|podinfo-app|podinfo-app|podinfo-app|1m|dev"


@pytest.mark.parametrize(
    "action",
    ["{{target}}", "{{ target }}", "{{  target\t}}", "{{\ntarget\n}}", "{{target }}"],
)
def test_whitespace_inside_the_braces_is_optional(action: str) -> None:
    assert render(f'x{{app="{action}"}}', canary(), metric()) == 'x{app="podinfo-app"}'


def test_flaggers_kafka_example_renders_with_variables() -> None:
    query = (
        'delta(max by (consumer_group) (kafka_consumer_current_offset{cluster="'
        '{{ variables.cluster }}", consumer_group="{{variables.consumer_group}}"}'
        "[{{ interval }}]))"
    )
    variables = {"cluster": "dev", "consumer_group": "my_consumer"}
    assert render(query, canary(), metric(templateVariables=variables)) == (
        'delta(max by (consumer_group) (kafka_consumer_current_offset{cluster="dev", '
        'consumer_group="my_consumer"}[1m]))'
    )


def test_primary_is_reachable_as_target_dash_primary() -> None:
    assert render('{w=~"{{ target }}-primary"}', canary(), metric()) == '{w=~"podinfo-app-primary"}'


def test_text_without_actions_and_single_braces_is_unchanged() -> None:
    query = 'sum(rate(x{a="b"}[1m])) by (le) }} {'
    assert render(query, canary(), metric()) == query


def test_go_trim_markers_and_comments() -> None:
    query = "a  {{- target -}}  b{{/* ignored */}}c {{-  name }}"
    assert render(query, canary(), metric()) == "apodinfo-appbcpodinfo"


def test_an_unknown_key_names_the_key_and_the_template() -> None:
    query = 'sum(x{app="{{ targe }}"})'
    with pytest.raises(TemplateError) as raised:
        render(query, canary(), metric(), origin="MetricTemplate test/latency")
    message = str(raised.value)
    assert raised.value.key == "targe"
    assert raised.value.template == query
    assert "Canary test/podinfo: metric 'latency' (MetricTemplate test/latency)" in message
    assert "unknown key 'targe' in {{ targe }}" in message
    assert "known keys: name, namespace, target" in message
    assert repr(query) in message


def test_a_missing_template_variable_is_an_error_listing_the_present_ones() -> None:
    query = '{cluster="{{ variables.cluster }}"}'
    with pytest.raises(TemplateError) as raised:
        render(query, canary(), metric(templateVariables={"invalid": "dev", "group": "g"}))
    assert raised.value.key == "variables.cluster"
    assert "templateVariables has no key 'cluster' (it has: group, invalid)" in str(raised.value)
    assert repr(query) in str(raised.value)


def test_a_missing_variable_without_any_template_variables() -> None:
    with pytest.raises(TemplateError, match=r"has no key 'cluster' \(it has: none\)"):
        render("{{ variables.cluster }}", canary(), metric())


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("{{ .Target }}", ".Target"),
        ('{{ printf "%s" target }}', 'printf "%s" target'),
        ("{{ if target }}x{{ end }}", "if target"),
        ("{{ variables }}", "variables"),
        ("{{ target.name }}", "target.name"),
        ("{{}}", ""),
    ],
)
def test_unsupported_actions_are_errors(query: str, key: str) -> None:
    with pytest.raises(TemplateError) as raised:
        render(query, canary(), metric())
    assert raised.value.key == key


def test_an_unclosed_action_is_an_error() -> None:
    with pytest.raises(TemplateError, match=r"unclosed '\{\{'") as raised:
        render("sum(x{a=\"{{ target \"})", canary(), metric())
    assert raised.value.key is None
