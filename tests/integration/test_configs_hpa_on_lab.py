"""Config tracking and the primary HPA against the lab's real API server: the `-primary`
copies of a target's ConfigMap and Secret, a primary Deployment that uses them, and a
primary HPA that follows the target's HPA, writing nothing when in sync."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.aio.client import ApiClient, AppsV1Api, AutoscalingV2Api
from kubernetes.client.exceptions import ApiException

from canary_operator.api import Canary
from canary_operator.kube import (
    ConfigError,
    build_primary_hpa,
    build_primary_hpa_patch,
    close_api_client,
    config_refs,
    ensure_primary,
    ensure_primary_configs,
    ensure_primary_hpa,
    new_api_client,
    read_json,
    read_tracked_configs,
)
from canary_operator.kube.workloads import CONFIG_CHECKSUM
from canary_operator.lab import Lab
from canary_operator.lab.crds import install_crds
from canary_operator.lab.workloads import deployment
from tests.paths import REPO, shared_testdata

CPU = [{"type": "Resource", "resource": {
    "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
MEMORY = [{"type": "Resource", "resource": {
    "name": "memory", "target": {"type": "AverageValue", "averageValue": "256Mi"}}}]


def _canary_crd_file() -> Path:
    ours = REPO / "crds" / "canaries.yaml"
    if ours.is_file():
        return ours
    data = shared_testdata()
    if data is None:
        pytest.skip("neither crds/canaries.yaml nor Flagger's CRD file is available")
    return data / "flagger" / "crd-v1.44.0.yaml"


@pytest.fixture(scope="module")
def canary_crd(api: client.ApiClient) -> None:
    install_crds(api, _canary_crd_file())


@pytest.fixture
async def aio_api(lab: Lab) -> AsyncIterator[ApiClient]:
    api = await new_api_client(lab.state.kubeconfig)
    try:
        yield api
    finally:
        await close_api_client(api)


def create_canary(api: client.ApiClient, namespace: str, **spec: Any) -> Canary:
    body = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {"interval": "10s", "threshold": 2, "maxWeight": 50,
                         "stepWeight": 10},
            **spec,
        },
    }
    created = client.CustomObjectsApi(api).create_namespaced_custom_object(
        "flagger.app", "v1beta1", namespace, "canaries", body)
    return Canary.model_validate(created)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def create_configs(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, client.V1ConfigMap.model_validate({
        "metadata": {"name": "podinfo-config", "labels": {"team": "web"},
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "data": {"color": "blue", "gone-later": "x"},
    }))
    core.create_namespaced_secret(namespace, client.V1Secret.model_validate({
        "metadata": {"name": "podinfo-secret"},
        "type": "Opaque",
        "data": {"token": b64("s3cr3t")},
    }))
    core.create_namespaced_secret(namespace, client.V1Secret.model_validate({
        "metadata": {"name": "registry"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": b64('{"auths": {}}')},
    }))


def create_target(api: client.ApiClient, namespace: str) -> None:
    body = deployment("podinfo", "podinfo:6.9.0", replicas=1)
    pod = body["spec"]["template"]["spec"]
    pod["volumes"] = [
        {"name": "config", "configMap": {"name": "podinfo-config"}},
        {"name": "registry", "secret": {"secretName": "registry"}},
    ]
    pod["containers"][0]["envFrom"] = [
        {"secretRef": {"name": "podinfo-secret"}},
        {"configMapRef": {"name": "podinfo-optional", "optional": True}},
    ]
    pod["initContainers"] = [{
        "name": "init", "image": "busybox:1",
        "env": [{"name": "COLOR", "valueFrom": {"configMapKeyRef": {
            "name": "podinfo-config", "key": "color"}}}],
    }]
    client.AppsV1Api(api).create_namespaced_deployment(
        namespace, client.V1Deployment.model_validate(body))


async def read_deployment(aio_api: ApiClient, namespace: str, name: str) -> dict[str, Any]:
    return await read_json(AppsV1Api(aio_api).read_namespaced_deployment_without_preload_content(
        name, namespace))


async def read_hpa(aio_api: ApiClient, namespace: str, name: str) -> dict[str, Any]:
    return await read_json(
        AutoscalingV2Api(aio_api).read_namespaced_horizontal_pod_autoscaler_without_preload_content(
            name, namespace))


def versions(api: client.ApiClient, namespace: str) -> dict[str, str]:
    core = client.CoreV1Api(api)
    found = {f"ConfigMap/{c.metadata.name}": c.metadata.resource_version
             for c in core.list_namespaced_config_map(namespace).items}
    found.update({f"Secret/{s.metadata.name}": s.metadata.resource_version
                  for s in core.list_namespaced_secret(namespace).items})
    return found


@pytest.mark.usefixtures("canary_crd")
async def test_the_primary_uses_copies_of_the_targets_configs(
    api: client.ApiClient, aio_api: ApiClient, namespace: str
) -> None:
    create_configs(api, namespace)
    create_target(api, namespace)
    canary = create_canary(api, namespace)
    target = await read_deployment(aio_api, namespace, "podinfo")

    refs = config_refs(target["spec"]["template"]["spec"])
    tracked = await read_tracked_configs(aio_api, namespace, refs)

    assert set(tracked.checksums) == {"configmap/podinfo-config", "secret/podinfo-secret"}
    assert tracked.untracked == ("secret/registry",)
    assert [ref.key for ref in tracked.missing_optional] == ["configmap/podinfo-optional"]

    copies = await ensure_primary_configs(aio_api, canary, tracked)
    primary = await ensure_primary(aio_api, canary, target, tracked=tracked.checksums)

    core = client.CoreV1Api(api)
    config_copy = core.read_namespaced_config_map("podinfo-config-primary", namespace)
    secret_copy = core.read_namespaced_secret("podinfo-secret-primary", namespace)
    for obj in (config_copy, secret_copy):
        (owner,) = obj.metadata.owner_references
        assert (owner.kind, owner.name, owner.uid, owner.controller) == (
            "Canary", "podinfo", canary.metadata.uid, True)
    assert config_copy.data == {"color": "blue", "gone-later": "x"}
    assert config_copy.metadata.labels == {"team": "web"}
    assert not (config_copy.metadata.annotations or {})
    assert secret_copy.type == "Opaque"
    assert secret_copy.data == {"token": b64("s3cr3t")}
    assert set(copies) == set(tracked.checksums)
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_secret("registry-primary", namespace)
    assert missing.value.status == 404

    pod = primary["spec"]["template"]["spec"]
    assert pod["volumes"][0]["configMap"]["name"] == "podinfo-config-primary"
    assert pod["volumes"][1]["secret"]["secretName"] == "registry"
    assert pod["containers"][0]["envFrom"] == [
        {"secretRef": {"name": "podinfo-secret-primary"}},
        {"configMapRef": {"name": "podinfo-optional", "optional": True}}]
    init_env = pod["initContainers"][0]["env"][0]["valueFrom"]["configMapKeyRef"]
    assert init_env["name"] == "podinfo-config-primary"
    assert CONFIG_CHECKSUM in primary["spec"]["template"]["metadata"]["annotations"]
    # The target itself still uses the originals.
    target_pod = (await read_deployment(aio_api, namespace, "podinfo"))["spec"]["template"]
    assert target_pod["spec"]["volumes"][0]["configMap"]["name"] == "podinfo-config"

    # In sync: nothing is written the second time.
    before = versions(api, namespace)
    await ensure_primary_configs(aio_api, canary, tracked)
    assert versions(api, namespace) == before

    # A changed source: the checksum changes, and the copy follows it exactly.
    core.replace_namespaced_config_map("podinfo-config", namespace,
                                       client.V1ConfigMap.model_validate({
                                           "metadata": {"name": "podinfo-config",
                                                        "labels": {"team": "web"}},
                                           "data": {"color": "green"}}))
    changed = await read_tracked_configs(aio_api, namespace, refs)
    assert changed.checksums["configmap/podinfo-config"] != (
        tracked.checksums["configmap/podinfo-config"])
    assert changed.checksums["secret/podinfo-secret"] == tracked.checksums[
        "secret/podinfo-secret"]
    await ensure_primary_configs(aio_api, canary, changed)
    assert core.read_namespaced_config_map("podinfo-config-primary", namespace).data == {
        "color": "green"}
    assert core.read_namespaced_secret("podinfo-secret-primary", namespace) \
        .metadata.resource_version == before["Secret/podinfo-secret-primary"]


@pytest.mark.usefixtures("canary_crd")
async def test_a_missing_required_config_is_an_error_naming_its_user(
    aio_api: ApiClient, namespace: str
) -> None:
    refs = config_refs({"containers": [{"name": "app", "envFrom": [
        {"secretRef": {"name": "not-there"}}]}]})
    with pytest.raises(ConfigError) as error:
        await read_tracked_configs(aio_api, namespace, refs)
    assert str(error.value) == (
        f'secret not-there.{namespace} not found: referenced by container "app" envFrom')


@pytest.mark.usefixtures("canary_crd")
async def test_the_primary_hpa_follows_the_targets_hpa(
    api: client.ApiClient, aio_api: ApiClient, namespace: str
) -> None:
    client.AppsV1Api(api).create_namespaced_deployment(namespace, client.V1Deployment
                                                       .model_validate(deployment(
                                                           "podinfo", "podinfo:6.9.0", 1)))
    canary = create_canary(api, namespace, autoscalerRef={
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "name": "podinfo", "primaryScalerReplicas": {"minReplicas": 3, "maxReplicas": 8}})
    hpas = client.AutoscalingV2Api(api)
    hpas.create_namespaced_horizontal_pod_autoscaler(
        namespace, client.V2HorizontalPodAutoscaler.model_validate({
            "metadata": {"name": "podinfo", "labels": {"app": "podinfo"}},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                   "name": "podinfo"},
                "minReplicas": 2, "maxReplicas": 4, "metrics": CPU,
            },
        }))
    target_hpa = await read_hpa(aio_api, namespace, "podinfo")

    created = await ensure_primary_hpa(aio_api, canary, target_hpa, None)

    live = await read_hpa(aio_api, namespace, "podinfo-primary")
    assert created["metadata"]["uid"] == live["metadata"]["uid"]
    assert live["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": "podinfo-primary"}
    assert (live["spec"]["minReplicas"], live["spec"]["maxReplicas"]) == (3, 8)
    assert live["spec"]["metrics"] == CPU
    assert live["metadata"]["labels"] == {"app": "podinfo"}
    (owner,) = live["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "Canary", canary.metadata.uid, True)
    # What the API server stores (with its defaults) is in sync with what we build.
    assert build_primary_hpa_patch(build_primary_hpa(canary, target_hpa), live) == {}
    assert await ensure_primary_hpa(aio_api, canary, target_hpa, live) == live

    # The target's HPA changes: the primary's follows, keeping the overridden bounds.
    hpas.patch_namespaced_horizontal_pod_autoscaler("podinfo", namespace, {
        "metadata": {"annotations": {"owner": "team-web"}},
        "spec": {"maxReplicas": 10, "metrics": MEMORY, "behavior": {
            "scaleDown": {"stabilizationWindowSeconds": 60}}},
    })
    target_hpa = await read_hpa(aio_api, namespace, "podinfo")
    patched = await ensure_primary_hpa(aio_api, canary, target_hpa, live)

    assert patched["spec"]["metrics"] == MEMORY
    assert patched["spec"]["behavior"] == target_hpa["spec"]["behavior"]
    assert patched["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 60
    assert (patched["spec"]["minReplicas"], patched["spec"]["maxReplicas"]) == (3, 8)
    assert patched["metadata"]["annotations"]["owner"] == "team-web"
    assert patched["spec"]["scaleTargetRef"]["name"] == "podinfo-primary"
    assert build_primary_hpa_patch(build_primary_hpa(canary, target_hpa), patched) == {}

    # Created meanwhile by someone else (the watch has not shown it yet): patched, no error.
    again = await ensure_primary_hpa(aio_api, canary, target_hpa, None)
    assert again["metadata"]["uid"] == live["metadata"]["uid"]
    assert again["spec"]["metrics"] == MEMORY
