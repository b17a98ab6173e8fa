"""The Istio router's A/B, mirroring and session-affinity routes on the lab's real API
server: what it writes is what the server keeps (the Istio CRDs validate it), reads back
as the routes it set, survives reconciles, and a second identical write changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.aio.client import ApiClient, CustomObjectsApi
from kubernetes.aio.client.exceptions import ApiException

from canary_operator.api import Canary
from canary_operator.kube import read_json
from canary_operator.kube.client import JSON_PATCH
from canary_operator.routers import (
    AffinityCookies,
    IstioRouter,
    Routes,
    build_routes_patch,
)
from tests.integration.test_adapters_on_lab import (  # noqa: F401  (fixtures)
    ISTIO,
    aio_api,
    canary_crd,
    create_target,
    custom_object,
)

PRIMARY, CANARY = "podinfo-primary", "podinfo-canary"
INSIDERS = {"headers": {"x-canary": {"exact": "insider"}}}
API = {"uri": {"prefix": "/api"}}
CANARY_COOKIE, PRIMARY_COOKIE = "flagger-cookie=abcdefghij", "primary-cookie=KLMNOPQRST"

pytestmark = pytest.mark.usefixtures("canary_crd")


def create_canary(api: client.ApiClient, namespace: str, analysis: dict[str, Any],
                  **service: Any) -> Canary:
    body = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898, **service},
            "analysis": {"interval": "10s", "threshold": 2, **analysis},
        },
    }
    created = client.CustomObjectsApi(api).create_namespaced_custom_object(
        "flagger.app", "v1beta1", namespace, "canaries", body)
    return Canary.model_validate(created)


def live_http(api: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    http: list[dict[str, Any]] = custom_object(api, namespace, "virtualservices",
                                               "podinfo")["spec"]["http"]
    return http


def resource_version(api: client.ApiClient, namespace: str) -> str:
    version: str = custom_object(api, namespace, "virtualservices",
                                 "podinfo")["metadata"]["resourceVersion"]
    return version


def split(primary: int, canary: int) -> list[dict[str, Any]]:
    return [{"destination": {"host": PRIMARY}, "weight": primary},
            {"destination": {"host": CANARY}, "weight": canary}]


async def test_an_ab_test_routes_only_the_matching_requests_to_the_canary(
    api: client.ApiClient, aio_api: ApiClient, namespace: str  # noqa: F811
) -> None:
    create_target(api, namespace, replicas=1)
    canary = create_canary(api, namespace, {"iterations": 5, "match": [INSIDERS]},
                           match=[API], timeout="5s")
    router = IstioRouter(aio_api)
    await router.reconcile(canary)
    assert live_http(api, namespace) == [
        {"match": [{**API, **INSIDERS}], "timeout": "5s", "route": split(100, 0)},
        {"match": [API], "timeout": "5s",
         "route": [{"destination": {"host": PRIMARY}, "weight": 100}]},
    ]
    assert await router.get_routes(canary) == Routes(100, 0)

    await router.set_routes(canary, Routes(0, 100))

    first, default = live_http(api, namespace)
    assert first["route"] == split(0, 100)
    assert default["route"] == [{"destination": {"host": PRIMARY}, "weight": 100}]
    assert await router.get_routes(canary) == Routes(0, 100)
    settled = resource_version(api, namespace)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(0, 100))
    assert resource_version(api, namespace) == settled


async def test_mirroring_is_written_with_its_percentage_and_removed_again(
    api: client.ApiClient, aio_api: ApiClient, namespace: str  # noqa: F811
) -> None:
    create_target(api, namespace, replicas=1)
    canary = create_canary(api, namespace, {"iterations": 5, "mirror": True,
                                            "mirrorWeight": 25})
    router = IstioRouter(aio_api)
    await router.reconcile(canary)

    await router.set_routes(canary, Routes(100, 0, mirrored=True))

    (rule,) = live_http(api, namespace)
    assert rule["mirror"] == {"host": CANARY}
    assert rule["mirrorPercentage"] == {"value": 25}
    assert await router.get_routes(canary) == Routes(100, 0, mirrored=True)
    settled = resource_version(api, namespace)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(100, 0, mirrored=True))
    assert resource_version(api, namespace) == settled

    await router.set_routes(canary, Routes(0, 100))
    assert live_http(api, namespace) == [{"route": split(0, 100)}]
    assert await router.get_routes(canary) == Routes(0, 100)


async def test_session_affinity_routes_by_cookie_and_expires_the_old_one(
    api: client.ApiClient, aio_api: ApiClient, namespace: str  # noqa: F811
) -> None:
    create_target(api, namespace, replicas=1)
    canary = create_canary(api, namespace, {"stepWeight": 10, "sessionAffinity": {
        "cookieName": "flagger-cookie", "primaryCookieName": "primary-cookie",
        "maxAge": 600, "path": "/", "secure": True}})
    router = IstioRouter(aio_api)
    await router.reconcile(canary)

    await router.set_routes(canary, Routes(90, 10),
                            AffinityCookies(CANARY_COOKIE, PRIMARY_COOKIE))

    sticky_canary, sticky_primary, weighted = live_http(api, namespace)
    assert sticky_canary == {"match": [{"headers": {"Cookie": {
        "regex": ".*flagger-cookie.*abcdefghij.*"}}}], "route": split(0, 100)}
    assert sticky_primary == {"match": [{"headers": {"Cookie": {
        "regex": ".*primary-cookie.*KLMNOPQRST.*"}}}], "route": split(100, 0)}
    assert [d["headers"]["response"]["add"]["Set-Cookie"] for d in weighted["route"]] == [
        f"{PRIMARY_COOKIE}; Max-Age=10; Path=/; Secure",
        f"{CANARY_COOKIE}; Max-Age=600; Path=/; Secure"]
    assert await router.get_routes(canary) == Routes(90, 10)
    settled = resource_version(api, namespace)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(90, 10),
                            AffinityCookies(CANARY_COOKIE, PRIMARY_COOKIE))
    assert resource_version(api, namespace) == settled

    await router.set_routes(canary, Routes(100, 0), AffinityCookies(None,
                                                                    previous=CANARY_COOKIE))

    expiry, weighted = live_http(api, namespace)
    assert expiry == {
        "match": [{"headers": {"Cookie": {"regex": ".*flagger-cookie.*abcdefghij.*"}}}],
        "headers": {"response": {"add": {"Set-Cookie": f"{CANARY_COOKIE}; Max-Age=-1"}}},
        "route": split(100, 0)}
    assert weighted == {"route": split(100, 0)}
    assert await router.get_routes(canary) == Routes(100, 0)


async def test_a_route_patch_computed_before_another_change_is_refused(
    api: client.ApiClient, aio_api: ApiClient, namespace: str  # noqa: F811
) -> None:
    create_target(api, namespace, replicas=1)
    canary = create_canary(api, namespace, {"stepWeight": 10})
    router = IstioRouter(aio_api)
    await router.reconcile(canary)
    stale = custom_object(api, namespace, "virtualservices", "podinfo")
    await router.set_routes(canary, Routes(80, 20))

    operations = build_routes_patch(canary, stale, Routes(90, 10))
    with pytest.raises(ApiException) as refused:
        await read_json(CustomObjectsApi(aio_api)
                        .patch_namespaced_custom_object_without_preload_content(
                            *ISTIO, namespace, "virtualservices", "podinfo", operations,
                            _content_type=JSON_PATCH))
    assert refused.value.status in (409, 422)
    assert await router.get_routes(canary) == Routes(80, 20)
