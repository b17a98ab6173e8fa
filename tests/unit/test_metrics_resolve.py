"""metric_query picks a metric's query like Flagger: builtin name, inline query, templateRef."""

from typing import Any

import pytest

from canary_operator.api import Canary, CanaryMetric
from canary_operator.api.metric_template import MetricTemplate
from canary_operator.metrics import (
    MetricConfigError,
    TemplateError,
    builtin_query,
    metric_query,
)


def canary() -> Canary:
    return Canary.model_validate({
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {"interval": "1m", "threshold": 5, "stepWeight": 10},
        },
    })


def metric(**fields: Any) -> CanaryMetric:
    return CanaryMetric.model_validate(fields)


def template(query: str, name: str = "not-found-percentage") -> MetricTemplate:
    return MetricTemplate.model_validate({
        "metadata": {"name": name, "namespace": "istio-system"},
        "spec": {"provider": {"type": "prometheus", "address": "http://prom:9090"},
                 "query": query},
    })


@pytest.mark.parametrize("name", ["request-success-rate", "request-duration"])
def test_a_builtin_name_runs_the_istio_query_over_the_metric_interval(name: str) -> None:
    query = metric_query(canary(), metric(name=name, interval="30s"), None)
    assert query == builtin_query(name, "test", "podinfo", "30s")


def test_a_builtin_name_wins_over_a_query_and_a_template() -> None:
    chosen = metric(name="request-duration", query="up", templateRef={"name": "x"})
    assert metric_query(canary(), chosen, template("up")) == builtin_query(
        "request-duration", "test", "podinfo", "1m"
    )


def test_an_inline_query_is_rendered() -> None:
    inline = metric(name="errors", query='sum(rate(errors{app="{{ target }}"}[{{ interval }}]))')
    assert metric_query(canary(), inline, None) == 'sum(rate(errors{app="podinfo"}[1m]))'


def test_an_inline_query_without_actions_is_sent_as_written() -> None:
    inline = metric(name="up", query="  sum(up)\n")
    assert metric_query(canary(), inline, None) == "  sum(up)\n"


def test_a_template_ref_renders_the_template_query_with_the_metric_variables() -> None:
    ref = metric(name="kafka", interval="2m", templateRef={"name": "lag"},
                 templateVariables={"group": "orders"})
    query = metric_query(canary(), ref, template('lag{g="{{ variables.group }}"}[{{ interval }}]'))
    assert query == 'lag{g="orders"}[2m]'


def test_a_template_render_error_names_the_metric_template() -> None:
    ref = metric(name="kafka", templateRef={"name": "lag"})
    with pytest.raises(TemplateError) as raised:
        metric_query(canary(), ref, template("{{ variables.group }}", name="lag"))
    assert "metric 'kafka' (MetricTemplate istio-system/lag)" in str(raised.value)


def test_a_template_ref_whose_template_was_not_found_is_a_config_error() -> None:
    ref = metric(name="kafka", templateRef={"name": "lag", "namespace": "shared"})
    with pytest.raises(MetricConfigError, match="MetricTemplate shared/lag named by templateRef "
                       "was not found"):
        metric_query(canary(), ref, None)


def test_a_template_ref_without_namespace_means_the_canary_namespace() -> None:
    ref = metric(name="kafka", templateRef={"name": "lag"})
    with pytest.raises(MetricConfigError, match="MetricTemplate test/lag"):
        metric_query(canary(), ref, None)


@pytest.mark.parametrize("query", [None, "", "  \n"])
def test_a_metric_without_builtin_name_query_or_template_is_a_config_error(
    query: str | None,
) -> None:
    # The models refuse a metric without any (the CRD too): this is for one stored before.
    unchecked = CanaryMetric.model_construct(name="my-metric", query=query, template_ref=None,
                                             interval="1m")
    with pytest.raises(MetricConfigError) as raised:
        metric_query(canary(), unchecked, None)
    assert not isinstance(raised.value, TemplateError)
    message = str(raised.value)
    assert message.startswith("Canary test/podinfo: metric 'my-metric': ")
    assert "no usable metrics template and query were configured" in message
