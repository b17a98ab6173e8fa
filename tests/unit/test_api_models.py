"""The models read Flagger manifests with Flagger's defaults, and say which field is wrong."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from canary_operator.api import Analysis, Canary, CanarySpec, CanaryWebhook, WebhookType
from canary_operator.api.alert_provider import AlertProvider
from canary_operator.api.metric_template import MetricTemplate
from canary_operator.api.support import (
    format_validation_error,
    unsupported_fields,
    unsupported_template_fields,
)

EXAMPLE_CANARY = """
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: backend-service, namespace: prod}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: backend-service}
  service:
    port: 80
    gateways: [public-gateway.istio-system.svc.cluster.local]
    hosts: [api.example.com]
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
    - {name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}
    - {name: request-duration, thresholdRange: {max: 500}, interval: 1m}
"""


def example() -> dict[str, Any]:
    """A fresh copy of the example manifest, to change in a test."""
    body: dict[str, Any] = yaml.safe_load(EXAMPLE_CANARY)
    return body


def spec_with(**analysis: Any) -> dict[str, Any]:
    spec: dict[str, Any] = example()["spec"]
    spec["analysis"].update(analysis)
    return spec


# --- the example ----------------------------------------------------------------------------

def test_the_example_manifest_parses() -> None:
    canary = Canary.model_validate(example())
    assert canary.key == "prod/backend-service"
    assert canary.spec.target_ref.kind == "Deployment"
    assert canary.spec.service.port == 80
    assert canary.spec.service.hosts == ["api.example.com"]
    assert canary.spec.apex_name == "backend-service"
    analysis = canary.spec.analysis
    assert analysis is not None
    assert (analysis.interval_seconds, analysis.threshold, analysis.max_weight,
            analysis.step_weight) == (60.0, 5, 50, 10)
    success, duration = analysis.metrics or []
    assert (success.name, success.threshold_range and success.threshold_range.min) == (
        "request-success-rate", 99)
    assert duration.threshold_range is not None
    assert duration.threshold_range.max == 500
    assert duration.interval_seconds == 60.0


def test_the_example_round_trips_to_the_same_manifest() -> None:
    body = example()
    assert Canary.model_validate(body).to_api() == {
        **body,
        "spec": {
            **body["spec"],
            # Defaults the model fills in, and nothing else.
            "progressDeadlineSeconds": 600, "skipAnalysis": False,
            "revertOnDeletion": False, "suspend": False,
            "analysis": {**body["spec"]["analysis"], "primaryReadyThreshold": 100,
                         "canaryReadyThreshold": 100},
        },
    }


def test_the_example_uses_only_supported_fields() -> None:
    assert unsupported_fields(CanarySpec.model_validate(example()["spec"])) == []


# --- Flagger's defaults (reference flagger.md section 1) -----------------------------------

def test_defaults_of_a_minimal_canary() -> None:
    spec = CanarySpec.model_validate({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "service": {"port": 9898},
        "analysis": {"metrics": [{"name": "request-success-rate"}],
                     "webhooks": [{"name": "load", "url": "http://tester/"}]},
    })
    assert spec.progress_deadline_seconds == 600
    assert spec.provider is None
    assert (spec.skip_analysis, spec.suspend, spec.revert_on_deletion) == (False, False, False)
    analysis = spec.analysis
    assert analysis is not None
    assert analysis.interval == "1m"
    assert analysis.interval_seconds == 60.0
    assert (analysis.primary_ready_threshold, analysis.canary_ready_threshold) == (100, 100)
    assert analysis.effective_max_weight == 100
    assert analysis.metrics is not None
    assert analysis.metrics[0].interval == "1m"
    assert analysis.webhooks is not None
    assert analysis.webhooks[0].timeout == "10s"


def test_no_analysis_means_analysis_is_skipped() -> None:
    spec = CanarySpec.model_validate({**example()["spec"], "analysis": None})
    assert spec.analysis_skipped
    assert not CanarySpec.model_validate(example()["spec"]).analysis_skipped


@pytest.mark.parametrize(("threshold", "effective"), [(None, 1), (0, 1), (-3, 1), (1, 1),
                                                      (5, 5)])
def test_a_threshold_of_zero_or_less_means_one(threshold: int | None, effective: int) -> None:
    assert Analysis(threshold=threshold).effective_threshold == effective


@pytest.mark.parametrize(("analysis", "max_weight"), [
    ({}, 100),
    ({"maxWeight": 50, "stepWeight": 10}, 50),
    ({"stepWeights": [1, 5, 20, 40]}, 40),
    ({"stepWeights": [10, 100]}, 100),
    # stepWeights are ignored when stepWeight is set, so maxWeight rules again.
    ({"stepWeight": 5, "stepWeights": [10, 20], "maxWeight": 30}, 30),
])
def test_max_weight_defaults_to_100_or_the_last_step(analysis: dict[str, Any],
                                                     max_weight: int) -> None:
    assert Analysis.model_validate(analysis).effective_max_weight == max_weight


@pytest.mark.parametrize(("type_", "kind"), [
    ("", WebhookType.ROLLOUT),
    ("rollout", WebhookType.ROLLOUT),
    ("pre-rollout", WebhookType.PRE_ROLLOUT),
    ("confirm-traffic-increase", WebhookType.CONFIRM_TRAFFIC_INCREASE),
])
def test_a_webhook_without_a_type_is_a_rollout_hook(type_: str, kind: WebhookType) -> None:
    assert CanaryWebhook(name="w", url="http://x/", type=type_).kind is kind  # type: ignore[arg-type]


def test_a_webhook_type_is_optional_on_the_wire() -> None:
    assert CanaryWebhook.model_validate({"name": "w", "url": "http://x/"}).kind is (
        WebhookType.ROLLOUT)


def test_session_affinity_max_age_defaults_to_a_day() -> None:
    analysis = Analysis.model_validate({"sessionAffinity": {"cookieName": "flagger-cookie"}})
    assert analysis.session_affinity is not None
    assert analysis.session_affinity.max_age == 86400


def test_disable_tls_keeps_flaggers_spelling() -> None:
    hook = CanaryWebhook.model_validate({"name": "w", "url": "http://x/", "disableTLS": True})
    assert hook.disable_tls is True
    assert hook.to_api()["disableTLS"] is True


def test_metric_template_and_alert_provider_parse() -> None:
    template = MetricTemplate.model_validate({
        "metadata": {"name": "not-found-percentage", "namespace": "istio-system"},
        "spec": {"provider": {"type": "prometheus", "address": "http://prometheus:9090"},
                 "query": "sum(rate(x[{{ interval }}]))"},
    })
    assert template.spec.provider.type == "prometheus"
    provider = AlertProvider.model_validate({
        "metadata": {"name": "on-call"},
        "spec": {"type": "slack", "secretRef": {"name": "on-call-url"}},
    })
    assert (provider.spec.channel, provider.spec.username) == ("general", "flagger")
    assert provider.metadata.namespace == "default"


# --- bad values name their field ------------------------------------------------------------

def _locations(error: ValidationError) -> list[tuple[int | str, ...]]:
    return [tuple(detail["loc"]) for detail in error.errors()]


@pytest.mark.parametrize(("change", "location"), [
    ({"stepWeight": 0}, ("analysis", "stepWeight")),
    ({"stepWeight": 101}, ("analysis", "stepWeight")),
    ({"maxWeight": 150}, ("analysis", "maxWeight")),
    ({"maxWeight": -1}, ("analysis", "maxWeight")),
    ({"stepWeights": [10, 0]}, ("analysis", "stepWeights", 1)),
    ({"interval": "1h"}, ("analysis", "interval")),
    ({"mirrorWeight": 120}, ("analysis", "mirrorWeight")),
    ({"primaryReadyThreshold": 101}, ("analysis", "primaryReadyThreshold")),
])
def test_a_bad_analysis_value_names_its_field(change: dict[str, Any],
                                              location: tuple[int | str, ...]) -> None:
    with pytest.raises(ValidationError) as rejected:
        CanarySpec.model_validate(spec_with(**change))
    assert _locations(rejected.value) == [location]


def test_a_canary_without_target_ref_names_it() -> None:
    body = example()
    del body["spec"]["targetRef"]
    with pytest.raises(ValidationError) as rejected:
        Canary.model_validate(body)
    assert _locations(rejected.value) == [("spec", "targetRef")]


def test_a_service_without_port_names_it() -> None:
    spec = example()["spec"]
    del spec["service"]["port"]
    with pytest.raises(ValidationError) as rejected:
        CanarySpec.model_validate(spec)
    assert _locations(rejected.value) == [("service", "port")]


@pytest.mark.parametrize(("spec_change", "location"), [
    ({"provider": "envoy"}, ("provider",)),
    ({"targetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "x"}},
     ("targetRef", "kind")),
])
def test_values_outside_an_enum_name_their_field(spec_change: dict[str, Any],
                                                 location: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as rejected:
        CanarySpec.model_validate({**example()["spec"], **spec_change})
    assert _locations(rejected.value) == [location]


def test_a_bad_webhook_type_and_alert_severity_name_their_fields() -> None:
    spec = spec_with(
        webhooks=[{"name": "w", "url": "http://x/", "type": "pre"}],
        alerts=[{"name": "a", "severity": "critical", "providerRef": {"name": "p"}}],
    )
    with pytest.raises(ValidationError) as rejected:
        CanarySpec.model_validate(spec)
    assert _locations(rejected.value) == [("analysis", "webhooks", 0, "type"),
                                          ("analysis", "alerts", 0, "severity")]


# --- messages for users ---------------------------------------------------------------------

def _message(spec: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as rejected:
        CanarySpec.model_validate(spec)
    return format_validation_error("Canary", "prod", "backend-service", rejected.value)


def test_message_for_a_step_weight_out_of_range() -> None:
    assert _message(spec_with(stepWeight=0)) == (
        "Canary prod/backend-service: spec.analysis.stepWeight must be between 1 and 100 "
        "(got 0)")


@pytest.mark.parametrize(("change", "message"), [
    ({"maxWeight": 150}, "spec.analysis.maxWeight must be between 0 and 100 (got 150)"),
    ({"stepWeights": [5, 200]},
     "spec.analysis.stepWeights[1] must be between 1 and 100 (got 200)"),
    ({"interval": "1h"},
     "spec.analysis.interval must be a duration in seconds or minutes like 30s or 1m "
     "(got '1h')"),
    ({"threshold": "five"}, "spec.analysis.threshold must be an integer (got 'five')"),
    ({"interval": "1m30"},
     "spec.analysis.interval must be a duration in seconds or minutes like 30s or 1m "
     "(got '1m30')"),
    ({"stepWeights": [50, 20, 10]},
     "spec.analysis: stepWeights must increase from one step to the next, e.g. "
     "[5, 10, 25, 50] (got [50, 20, 10])"),
    ({"metrics": [{"name": "latency", "query": "up", "thresholdRange": {"min": 10, "max": 5}}]},
     "spec.analysis.metrics[0].thresholdRange: min must not be above max: no value could "
     "pass (min 10, max 5)"),
    ({"metrics": [{"name": "request-sucess-rate"}]},
     "spec.analysis.metrics[0]: a metric not named request-success-rate or request-duration "
     "needs a query or a templateRef: is the name a typo? (name 'request-sucess-rate')"),
    ({"metrics": [{"thresholdRange": {"min": 99}}]},
     "spec.analysis.metrics[0].name is required but missing"),
    ({"alerts": [{"name": "a", "severity": "critical", "providerRef": {"name": "p"}}]},
     "spec.analysis.alerts[0].severity must be one of '', 'info', 'warn' or 'error' "
     "(got 'critical')"),
])
def test_messages_name_the_field_the_value_and_the_fix(change: dict[str, Any],
                                                       message: str) -> None:
    assert _message(spec_with(**change)) == f"Canary prod/backend-service: {message}"


def test_a_message_lists_every_bad_field_once() -> None:
    spec = spec_with(stepWeight=0, maxWeight=150)
    spec["service"]["targetPort"] = [8080]
    assert _message(spec) == (
        "Canary prod/backend-service: spec.service.targetPort must be an integer or a string "
        "(got [8080]); spec.analysis.maxWeight must be between 0 and 100 (got 150); "
        "spec.analysis.stepWeight must be between 1 and 100 (got 0)")


def test_a_message_from_the_whole_object_has_the_same_paths() -> None:
    body = example()
    del body["spec"]["targetRef"]
    with pytest.raises(ValidationError) as rejected:
        Canary.model_validate(body)
    assert format_validation_error("Canary", "prod", "backend-service", rejected.value) == (
        "Canary prod/backend-service: spec.targetRef is required but missing")


# --- fields stored but not acted on yet ----------------------------------------------------

def test_unsupported_fields_are_listed_in_spec_order() -> None:
    body = example()["spec"]
    body.update({
        "provider": "linkerd",
        "targetRef": {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "backend-service"},
        "autoscalerRef": {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                          "name": "backend-service"},
        "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "x"},
        "revertOnDeletion": True,
    })
    body["service"].update({"portDiscovery": True, "appProtocol": "grpc"})
    body["analysis"].update({
        "iterations": 10, "mirror": True, "mirrorWeight": 20, "stepWeightPromotion": 50,
        "match": [{"headers": {"x-canary": {"exact": "insider"}}}],
        "sessionAffinity": {"cookieName": "c"},
        "webhooks": [{"name": "load", "url": "http://tester/"}],
        "alerts": [{"name": "chat", "providerRef": {"name": "slack"}}],
    })
    body["analysis"]["metrics"][0]["threshold"] = 99
    assert unsupported_fields(CanarySpec.model_validate(body)) == [
        "spec.service.appProtocol",
        "spec.service.portDiscovery",
        "spec.ingressRef",
        "spec.provider",
        "spec.targetRef.kind",
    ]


def test_off_zero_and_empty_values_ask_for_nothing() -> None:
    body = spec_with(iterations=0, mirror=False, stepWeightPromotion=0, webhooks=[], alerts=[])
    body.update({"provider": "istio", "revertOnDeletion": False, "skipAnalysis": True,
                 "suspend": True, "metricsServer": "http://prometheus:9090",
                 "progressDeadlineSeconds": 60})
    body["service"].update({
        "portDiscovery": False, "name": "backend", "portName": "http", "targetPort": "http",
        "retries": {"attempts": 3}, "timeout": "5s", "corsPolicy": {"allowOrigins": []},
        "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}, "apex": {"labels": {"a": "b"}},
        "headers": {"request": {"add": {"x": "y"}}}, "rewrite": {"uri": "/"},
        "match": [{"uri": {"prefix": "/api"}}],
    })
    assert unsupported_fields(CanarySpec.model_validate(body)) == []


def test_strategies_hooks_alerts_and_autoscalers_are_acted_on() -> None:
    body = spec_with(iterations=10, mirror=True, mirrorWeight=20,
                     match=[{"headers": {"x-canary": {"exact": "insider"}}}],
                     sessionAffinity={"cookieName": "c"},
                     webhooks=[{"name": "load", "url": "http://tester/"}],
                     alerts=[{"name": "chat", "providerRef": {"name": "slack"}}])
    body["autoscalerRef"] = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                             "name": "backend-service"}
    assert unsupported_fields(CanarySpec.model_validate(body)) == []


def test_templates_and_custom_queries_are_supported_metrics() -> None:
    body = spec_with(metrics=[
        {"name": "errors", "templateRef": {"name": "errors", "namespace": "istio-system"},
         "templateVariables": {"route": "api"}, "thresholdRange": {"max": 1}},
        {"name": "custom", "query": "sum(up)", "thresholdRange": {"min": 1}},
    ])
    assert unsupported_fields(CanarySpec.model_validate(body)) == []


def test_the_metric_template_fields_not_acted_on_are_named() -> None:
    template = MetricTemplate.model_validate({
        "metadata": {"name": "t", "namespace": "test"},
        "spec": {"provider": {"type": "prometheus", "address": "https://prom:9090",
                              "headers": {"X-Scope-OrgID": ["a"]}, "insecureSkipVerify": True,
                              "secretRef": {"name": "prom-auth"}, "region": "eu"},
                 "query": "sum(up)"}})
    assert unsupported_template_fields(template) == [
        "spec.provider.secretRef", "spec.provider.region"]
