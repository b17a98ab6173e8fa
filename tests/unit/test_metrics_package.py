"""The public surface of canary_operator.metrics: what the controller may import."""

from canary_operator import metrics


def test_exported_names_are_guarded() -> None:
    assert metrics.__all__ == [
        "BUILTIN_METRICS",
        "MetricConfigError",
        "MetricProvider",
        "PrometheusProvider",
        "QueryResult",
        "TemplateError",
        "builtin_query",
        "metric_query",
        "render",
        "template_variables",
        "uses_template",
    ]
    assert metrics.__all__ == sorted(metrics.__all__)
    for name in metrics.__all__:
        assert hasattr(metrics, name), name


def test_template_errors_are_metric_config_errors_are_value_errors() -> None:
    assert issubclass(metrics.TemplateError, metrics.MetricConfigError)
    assert issubclass(metrics.MetricConfigError, ValueError)
