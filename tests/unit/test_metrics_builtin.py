"""The builtin Istio queries are Flagger's, word for word (reference notes, section 3)."""

import pytest

from canary_operator.metrics import BUILTIN_METRICS, MetricConfigError, builtin_query

# Typed from the reference notes with namespace=test, target=podinfo, interval=1m.
SUCCESS_RATE = """\
sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",
  destination_workload=~"podinfo",response_code!~"5.*"}[1m]))
/ sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",
  destination_workload=~"podinfo"}[1m])) * 100"""

DURATION = """\
histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",
  destination_workload_namespace="test",destination_workload=~"podinfo"}[1m])) by (le))"""


def test_builtin_metric_names_are_flaggers() -> None:
    assert BUILTIN_METRICS == ("request-success-rate", "request-duration")


def test_request_success_rate_is_flaggers_istio_query() -> None:
    assert builtin_query("request-success-rate", "test", "podinfo", "1m") == SUCCESS_RATE


def test_request_duration_is_flaggers_istio_p99_query() -> None:
    assert builtin_query("request-duration", "test", "podinfo", "1m") == DURATION


def test_builtin_queries_use_the_given_namespace_target_and_interval() -> None:
    query = builtin_query("request-success-rate", "prod", "backend", "30s")
    assert query.count('destination_workload_namespace="prod"') == 2
    assert query.count('destination_workload=~"backend"') == 2
    assert query.count("[30s]") == 2
    assert "{{" not in query


def test_an_unknown_builtin_name_is_a_config_error_naming_the_builtins() -> None:
    with pytest.raises(MetricConfigError) as raised:
        builtin_query("error-rate", "test", "podinfo", "1m")
    assert "'error-rate' is not a builtin metric" in str(raised.value)
    assert "request-success-rate, request-duration" in str(raised.value)
