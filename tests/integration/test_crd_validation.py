"""Our generated CRDs on a real API server: Flagger manifests apply unchanged, bad values are
rejected naming the field, status keeps the operator's bookkeeping."""

from __future__ import annotations

from typing import Any, cast

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from canary_operator.api.crdgen import RESOURCES
from canary_operator.lab.crds import install_crds
from tests.paths import REPO
from tests.unit.test_api_models import example

GROUP, VERSION = "flagger.app", "v1beta1"


@pytest.fixture(scope="module")
def crds(api: client.ApiClient) -> list[str]:
    """Our CRDs, server-side applied (idempotent if another test installed them already)."""
    names: list[str] = []
    for res in RESOURCES:
        names += install_crds(api, REPO / "crds" / res.file_name)
    return names


def _create(api: client.ApiClient, namespace: str, body: dict[str, Any],
            plural: str = "canaries") -> dict[str, Any]:
    return cast(dict[str, Any], client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, plural, body))


def _canary(namespace: str, **analysis: Any) -> dict[str, Any]:
    body = example()
    body["metadata"]["namespace"] = namespace
    body["spec"]["analysis"].update(analysis)
    return body


def _rejection(api: client.ApiClient, namespace: str, body: dict[str, Any],
               plural: str = "canaries") -> str:
    with pytest.raises(ApiException) as rejected:
        _create(api, namespace, body, plural)
    assert rejected.value.status == 422, rejected.value.body
    return str(rejected.value.body)


def test_our_crds_are_established(crds: list[str]) -> None:
    assert sorted(crds) == ["alertproviders.flagger.app", "canaries.flagger.app",
                            "metrictemplates.flagger.app"]


def test_the_example_canary_applies_unchanged(crds: list[str], api: client.ApiClient,
                                              namespace: str) -> None:
    body = _canary(namespace)
    created = _create(api, namespace, body)
    # Nothing pruned, nothing defaulted: the stored spec is the applied spec.
    assert created["spec"] == body["spec"]


@pytest.mark.parametrize(("analysis", "field", "detail"), [
    ({"stepWeight": 0}, "spec.analysis.stepWeight", "greater than or equal to 1"),
    ({"stepWeight": 150}, "spec.analysis.stepWeight", "less than or equal to 100"),
    ({"maxWeight": 150}, "spec.analysis.maxWeight", "less than or equal to 100"),
    ({"stepWeights": [10, 0]}, "spec.analysis.stepWeights[1]", "greater than or equal to 1"),
    ({"interval": "1h"}, "spec.analysis.interval", "should match"),
    # What Flagger's CRD takes and Flagger then can never act on:
    ({"stepWeights": [50, 20, 10]}, "spec.analysis.stepWeights",
     "stepWeights must increase from one step to the next"),
    ({"stepWeights": [10, 10, 20]}, "spec.analysis.stepWeights",
     "stepWeights must increase from one step to the next"),
    ({"metrics": [{"name": "latency", "query": "up", "thresholdRange": {"min": 10, "max": 5}}]},
     "spec.analysis.metrics[0].thresholdRange.min", "min must not be above max"),
    ({"metrics": [{"name": "request-sucess-rate", "thresholdRange": {"min": 99}}]},
     "spec.analysis.metrics[0].name", "needs a query or a templateRef: is the name a typo?"),
    ({"interval": "1m30"}, "spec.analysis.interval", "should match"),
    ({"metrics": [{"name": "request-success-rate", "interval": "30sec"}]},
     "spec.analysis.metrics[0].interval", "should match"),
])
def test_values_that_cannot_work_are_rejected_naming_the_field(
    crds: list[str], api: client.ApiClient, namespace: str,
    analysis: dict[str, Any], field: str, detail: str,
) -> None:
    message = _rejection(api, namespace, _canary(namespace, **analysis))
    assert field in message
    assert detail in message


def test_a_canary_without_analysis_is_rejected_as_flagger_s_crd_does(
    crds: list[str], api: client.ApiClient, namespace: str
) -> None:
    body = _canary(namespace)
    del body["spec"]["analysis"]
    message = _rejection(api, namespace, body)
    assert "spec.analysis: Required value" in message, message


def test_increasing_step_weights_and_a_valid_range_apply(
    crds: list[str], api: client.ApiClient, namespace: str
) -> None:
    body = _canary(namespace, stepWeights=[1, 5, 10, 50, 80], metrics=[
        {"name": "latency", "query": "sum(up)", "thresholdRange": {"min": 5, "max": 5},
         "interval": "1m30s"}])
    created = _create(api, namespace, body)
    assert created["spec"] == body["spec"]


def test_a_canary_without_target_ref_is_rejected_naming_it(
    crds: list[str], api: client.ApiClient, namespace: str
) -> None:
    body = _canary(namespace)
    del body["spec"]["targetRef"]
    message = _rejection(api, namespace, body)
    assert "spec.targetRef: Required value" in message


def test_a_service_without_port_is_rejected_naming_it(
    crds: list[str], api: client.ApiClient, namespace: str
) -> None:
    body = _canary(namespace)
    del body["spec"]["service"]["port"]
    assert "spec.service.port: Required value" in _rejection(api, namespace, body)


@pytest.mark.parametrize(("path", "value"), [
    (("provider",), "envoy"),
    (("targetRef", "kind"), "StatefulSet"),
])
def test_values_outside_flaggers_enums_are_rejected(
    crds: list[str], api: client.ApiClient, namespace: str,
    path: tuple[str, ...], value: str,
) -> None:
    body = _canary(namespace)
    parent = body["spec"]
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    message = _rejection(api, namespace, body)
    assert f"spec.{'.'.join(path)}: Unsupported value" in message


def test_a_flagger_field_we_do_not_act_on_yet_is_accepted_and_stored(
    crds: list[str], api: client.ApiClient, namespace: str
) -> None:
    body = _canary(namespace, mirror=True, mirrorWeight=10, iterations=5,
                   webhooks=[{"name": "gate", "type": "confirm-rollout",
                              "url": "http://tester.test/gate/approve"}])
    body["spec"]["service"]["trafficPolicy"] = {"tls": {"mode": "ISTIO_MUTUAL"}}
    body["spec"]["service"]["targetPort"] = "http"
    created = _create(api, namespace, body)
    assert created["spec"]["analysis"]["mirror"] is True
    assert created["spec"]["analysis"]["webhooks"][0]["type"] == "confirm-rollout"
    assert created["spec"]["service"]["trafficPolicy"] == {"tls": {"mode": "ISTIO_MUTUAL"}}
    assert created["spec"]["service"]["targetPort"] == "http"


def test_an_explicit_null_is_dropped_not_rejected(
    crds: list[str], api: client.ApiClient, namespace: str
) -> None:
    # Optional fields are not nullable; the API server prunes the null, the model reads unset.
    body = _canary(namespace, mirror=None)
    created = _create(api, namespace, body)
    assert "mirror" not in created["spec"]["analysis"]


def test_status_is_a_subresource_that_keeps_the_operators_bookkeeping(
    crds: list[str], api: client.ApiClient, namespace: str
) -> None:
    custom = client.CustomObjectsApi(api)
    _create(api, namespace, _canary(namespace))
    patched = cast(dict[str, Any], custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "canaries", "backend-service",
        {"status": {"phase": "Progressing", "canaryWeight": 10, "failedChecks": 0,
                    "kopf": {"progress": {"tick": {"retries": 1}}}}},
    ))
    assert patched["status"]["phase"] == "Progressing"
    assert patched["status"]["kopf"] == {"progress": {"tick": {"retries": 1}}}
    with pytest.raises(ApiException) as rejected:
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, "canaries", "backend-service",
            {"status": {"phase": "Sleeping"}})
    assert rejected.value.status == 422
    assert "status.phase: Unsupported value" in str(rejected.value.body)


def test_kubectl_get_shows_flaggers_columns(
    crds: list[str], api: client.ApiClient, namespace: str
) -> None:
    custom = client.CustomObjectsApi(api)
    _create(api, namespace, _canary(namespace))
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "canaries", "backend-service",
        {"status": {"phase": "Progressing", "canaryWeight": 20}})
    # What `kubectl get canaries` asks for: the server renders the printer columns.
    table = cast(dict[str, Any], custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, "canaries",
        _headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
    ))
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns[:3] == ["Name", "Status", "Weight"]
    assert "LastTransitionTime" in columns
    (row,) = table["rows"]
    cells = dict(zip(columns, row["cells"], strict=True))
    # Flagger types the numeric columns as strings; the server renders them so.
    assert (cells["Name"], cells["Status"], cells["Weight"]) == ("backend-service",
                                                               "Progressing", "20")
    assert (cells["MaxWeight"], cells["StepWeight"], cells["Interval"]) == ("50", "10", "1m")


def test_metric_templates_and_alert_providers_validate(
    crds: list[str], api: client.ApiClient, namespace: str
) -> None:
    template: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "MetricTemplate",
        "metadata": {"name": "error-rate", "namespace": namespace},
        "spec": {"provider": {"type": "prometheus", "address": "http://prometheus:9090"},
                 "query": "sum(rate(requests{code=~'5..'}[{{ interval }}]))"},
    }
    assert _create(api, namespace, template, "metrictemplates")["spec"] == template["spec"]
    template["metadata"]["name"] = "bad-provider"
    template["spec"]["provider"]["type"] = "graphana"
    message = _rejection(api, namespace, template, "metrictemplates")
    assert "spec.provider.type: Unsupported value" in message

    provider: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "AlertProvider",
        "metadata": {"name": "on-call", "namespace": namespace},
        "spec": {"type": "slack", "channel": "releases", "secretRef": {"name": "slack-url"}},
    }
    assert _create(api, namespace, provider, "alertproviders")["spec"] == provider["spec"]
    del provider["spec"]["type"]
    provider["metadata"]["name"] = "no-type"
    assert "spec.type: Required value" in _rejection(api, namespace, provider, "alertproviders")

