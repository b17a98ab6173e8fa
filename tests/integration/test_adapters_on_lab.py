"""The kube adapters and the Istio router against the lab's real API server: a primary that
rolls out on kwok, three Services, DestinationRules and a VirtualService whose weights
survive reconciles, a promotion, and a second run of everything that writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.aio.client import ApiClient, AppsV1Api
from kubernetes.client.exceptions import ApiException

from canary_operator.api import Canary
from canary_operator.kube import (
    close_api_client,
    ensure_primary,
    ensure_services,
    new_api_client,
    promote,
    read_json,
    scale,
    selector_label,
)
from canary_operator.kube.workloads import FLAGGER_ID
from canary_operator.lab import Lab
from canary_operator.lab.crds import install_crds
from canary_operator.lab.workloads import deployment, rollout_complete
from canary_operator.routers import IstioRouter, Routes
from tests.paths import REPO, shared_testdata

ISTIO = ("networking.istio.io", "v1beta1")
HOSTS = ["app.example.com"]
GATEWAYS = ["istio-system/public-gateway"]


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


def create_target(api: client.ApiClient, namespace: str, replicas: int = 2) -> None:
    body = deployment("podinfo", "podinfo:6.9.0", replicas=replicas)
    client.AppsV1Api(api).create_namespaced_deployment(
        namespace, client.V1Deployment.model_validate(body))


def canary_body(**service: Any) -> dict[str, Any]:
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898, "hosts": HOSTS, "gateways": GATEWAYS, **service},
            "analysis": {"interval": "10s", "threshold": 2, "maxWeight": 50,
                         "stepWeight": 10},
        },
    }


def create_canary(api: client.ApiClient, namespace: str) -> Canary:
    created = client.CustomObjectsApi(api).create_namespaced_custom_object(
        "flagger.app", "v1beta1", namespace, "canaries", canary_body())
    return Canary.model_validate(created)


async def read_deployment(aio_api: ApiClient, namespace: str, name: str) -> dict[str, Any]:
    return await read_json(AppsV1Api(aio_api).read_namespaced_deployment_without_preload_content(
        name, namespace))


def wait_rolled_out(lab: Lab, api: client.ApiClient, namespace: str, name: str) -> None:
    apps = client.AppsV1Api(api)
    lab.wait_for(lambda: rollout_complete(apps.read_namespaced_deployment(name, namespace)),
                 f"deployment {namespace}/{name} to roll out", timeout=60)


def custom_object(api: client.ApiClient, namespace: str, plural: str,
                  name: str) -> dict[str, Any]:
    found: dict[str, Any] = client.CustomObjectsApi(api).get_namespaced_custom_object(
        *ISTIO, namespace, plural, name)
    return found


def resource_versions(api: client.ApiClient, namespace: str) -> dict[str, str]:
    """Every object the adapters write, by kind/name."""
    versions: dict[str, str] = {}
    for d in client.AppsV1Api(api).list_namespaced_deployment(namespace).items:
        versions[f"Deployment/{d.metadata.name}"] = d.metadata.resource_version
    for s in client.CoreV1Api(api).list_namespaced_service(namespace).items:
        versions[f"Service/{s.metadata.name}"] = s.metadata.resource_version
    for plural in ("destinationrules", "virtualservices"):
        listed = client.CustomObjectsApi(api).list_namespaced_custom_object(
            *ISTIO, namespace, plural)
        for item in listed["items"]:
            meta = item["metadata"]
            versions[f"{item['kind']}/{meta['name']}"] = meta["resourceVersion"]
    return versions


async def initialize(aio_api: ApiClient, canary: Canary, namespace: str) -> None:
    """What the controller does for a new Canary: primary, Services, mesh routes."""
    target = await read_deployment(aio_api, namespace, "podinfo")
    await ensure_primary(aio_api, canary, target)
    await ensure_services(aio_api, canary, selector_label(target))
    await IstioRouter(aio_api).reconcile(canary)


@pytest.mark.usefixtures("canary_crd")
async def test_the_primary_is_cloned_from_the_target_and_becomes_ready(
    lab: Lab, api: client.ApiClient, aio_api: ApiClient, namespace: str
) -> None:
    create_target(api, namespace)
    canary = create_canary(api, namespace)
    target = await read_deployment(aio_api, namespace, "podinfo")

    primary = await ensure_primary(aio_api, canary, target)

    assert primary["metadata"]["name"] == "podinfo-primary"
    assert primary["spec"]["selector"] == {"matchLabels": {"app": "podinfo-primary"}}
    assert primary["spec"]["replicas"] == 2
    (owner,) = primary["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "Canary", canary.metadata.uid, True)
    wait_rolled_out(lab, api, namespace, "podinfo-primary")
    pods = client.CoreV1Api(api).list_namespaced_pod(
        namespace, label_selector="app=podinfo-primary").items
    assert len(pods) == 2
    assert {p.status.phase for p in pods if p.status} == {"Running"}

    again = await ensure_primary(aio_api, canary, target)
    assert again["metadata"]["resourceVersion"] == (
        client.AppsV1Api(api).read_namespaced_deployment("podinfo-primary", namespace)
        .metadata.resource_version)
    assert again["metadata"]["uid"] == primary["metadata"]["uid"]


@pytest.mark.usefixtures("canary_crd")
async def test_three_services_select_the_primary_and_the_canary_pods(
    api: client.ApiClient, aio_api: ApiClient, namespace: str
) -> None:
    create_target(api, namespace)
    canary = create_canary(api, namespace)

    services = await ensure_services(aio_api, canary, ("app", "podinfo"))

    core = client.CoreV1Api(api)
    selectors = {name: core.read_namespaced_service(name, namespace).spec.selector
                 for name in ("podinfo", "podinfo-primary", "podinfo-canary")}
    assert selectors == {"podinfo": {"app": "podinfo-primary"},
                         "podinfo-primary": {"app": "podinfo-primary"},
                         "podinfo-canary": {"app": "podinfo"}}
    for service in services:
        assert service["spec"]["type"] == "ClusterIP"
        assert service["spec"]["ports"] == [
            {"name": "http", "protocol": "TCP", "port": 9898, "targetPort": 9898}]
        assert service["metadata"]["annotations"][
            "kustomize.toolkit.fluxcd.io/reconcile"] == "disabled"

    again = await ensure_services(aio_api, canary, ("app", "podinfo"))
    assert [s["metadata"]["resourceVersion"] for s in again] == [
        s["metadata"]["resourceVersion"] for s in services]


@pytest.mark.usefixtures("canary_crd")
async def test_the_router_routes_and_keeps_weights_across_reconciles(
    api: client.ApiClient, aio_api: ApiClient, namespace: str
) -> None:
    create_target(api, namespace)
    canary = create_canary(api, namespace)
    router = IstioRouter(aio_api)
    assert await router.get_routes(canary) is None

    await router.reconcile(canary)

    for name in ("podinfo-canary", "podinfo-primary"):
        rule = custom_object(api, namespace, "destinationrules", name)
        assert rule["spec"] == {"host": name}
        assert rule["metadata"]["ownerReferences"][0]["uid"] == canary.metadata.uid
    vs = custom_object(api, namespace, "virtualservices", "podinfo")
    assert vs["spec"]["hosts"] == [*HOSTS, "podinfo"]
    assert vs["spec"]["gateways"] == GATEWAYS
    assert await router.get_routes(canary) == Routes(100, 0)

    await router.set_routes(canary, Routes(90, 10))
    assert await router.get_routes(canary) == Routes(90, 10)

    # Another tool labels the VirtualService, and the Canary's routing options change.
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        *ISTIO, namespace, "virtualservices", "podinfo",
        {"metadata": {"labels": {"argocd.argoproj.io/instance": "shop"}}})
    body = canary.model_dump(mode="json", by_alias=True, exclude_none=True)
    body["spec"]["service"]["timeout"] = "5s"
    changed = Canary.model_validate(body)
    await router.reconcile(changed)

    vs = custom_object(api, namespace, "virtualservices", "podinfo")
    assert vs["spec"]["http"][0]["timeout"] == "5s"
    assert vs["metadata"]["labels"] == {"argocd.argoproj.io/instance": "shop"}
    assert await router.get_routes(changed) == Routes(90, 10)

    unchanged = vs["metadata"]["resourceVersion"]
    await router.reconcile(changed)
    await router.set_routes(changed, Routes(90, 10))
    vs = custom_object(api, namespace, "virtualservices", "podinfo")
    assert vs["metadata"]["resourceVersion"] == unchanged
    with pytest.raises(ValueError, match="sum to 100"):
        await router.set_routes(changed, Routes(95, 10))


@pytest.mark.usefixtures("canary_crd")
async def test_promotion_rolls_the_new_image_onto_the_primary(
    lab: Lab, api: client.ApiClient, aio_api: ApiClient, namespace: str
) -> None:
    create_target(api, namespace)
    canary = create_canary(api, namespace)
    await initialize(aio_api, canary, namespace)
    wait_rolled_out(lab, api, namespace, "podinfo-primary")
    client.AppsV1Api(api).patch_namespaced_deployment("podinfo", namespace, {"spec": {
        "template": {"spec": {"containers": [{"name": "podinfo", "image": "podinfo:6.9.1"}]}}}})
    target = await read_deployment(aio_api, namespace, "podinfo")
    primary = await read_deployment(aio_api, namespace, "podinfo-primary")

    promoted = await promote(aio_api, canary, target, primary)

    template = promoted["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "podinfo:6.9.1"
    assert template["metadata"]["labels"]["app"] == "podinfo-primary"
    old_id = primary["spec"]["template"]["metadata"]["annotations"][FLAGGER_ID]
    assert template["metadata"]["annotations"][FLAGGER_ID] != old_id
    wait_rolled_out(lab, api, namespace, "podinfo-primary")
    pods = client.CoreV1Api(api).list_namespaced_pod(
        namespace, label_selector="app=podinfo-primary").items
    assert {c.image for p in pods if p.spec for c in p.spec.containers} == {"podinfo:6.9.1"}

    settled = await read_deployment(aio_api, namespace, "podinfo-primary")
    again = await promote(aio_api, canary, target, settled)
    assert again["metadata"]["resourceVersion"] == settled["metadata"]["resourceVersion"]


@pytest.mark.usefixtures("canary_crd")
async def test_running_everything_twice_changes_nothing_the_second_time(
    lab: Lab, api: client.ApiClient, aio_api: ApiClient, namespace: str
) -> None:
    create_target(api, namespace)
    canary = create_canary(api, namespace)
    router = IstioRouter(aio_api)

    async def run_everything() -> None:
        await initialize(aio_api, canary, namespace)
        await scale(aio_api, namespace, "podinfo", 0)
        await router.set_routes(canary, Routes(90, 10))
        target = await read_deployment(aio_api, namespace, "podinfo")
        primary = await read_deployment(aio_api, namespace, "podinfo-primary")
        await promote(aio_api, canary, target, primary)

    await run_everything()
    wait_rolled_out(lab, api, namespace, "podinfo-primary")
    wait_rolled_out(lab, api, namespace, "podinfo")
    first = resource_versions(api, namespace)
    assert {"Deployment/podinfo-primary", "Service/podinfo", "Service/podinfo-primary",
            "Service/podinfo-canary", "DestinationRule/podinfo-primary",
            "DestinationRule/podinfo-canary", "VirtualService/podinfo"} <= set(first)

    await run_everything()
    assert await scale(aio_api, namespace, "podinfo", 0) is False
    assert resource_versions(api, namespace) == first


@pytest.mark.usefixtures("canary_crd")
async def test_deleting_the_canary_deletes_everything_it_owns(
    lab: Lab, api: client.ApiClient, aio_api: ApiClient, namespace: str
) -> None:
    create_target(api, namespace, replicas=1)
    canary = create_canary(api, namespace)
    await initialize(aio_api, canary, namespace)

    client.CustomObjectsApi(api).delete_namespaced_custom_object(
        "flagger.app", "v1beta1", namespace, "canaries", "podinfo")

    def owned_objects_gone() -> bool:
        left = set(resource_versions(api, namespace))
        return left <= {"Deployment/podinfo"}

    lab.wait_for(owned_objects_gone, "the garbage collector to delete what the Canary owned",
                 timeout=60)
    with pytest.raises(ApiException) as missing:
        client.AppsV1Api(api).read_namespaced_deployment("podinfo-primary", namespace)
    assert missing.value.status == 404
