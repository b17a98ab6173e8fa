"""The Istio CRDs are installed and validate like a real mesh's API."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException


def _virtual_service(weight_primary: Any, weight_canary: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": "backend"},
        "spec": {
            "hosts": ["backend"],
            "http": [{"route": [
                {"destination": {"host": "backend-primary"}, "weight": weight_primary},
                {"destination": {"host": "backend-canary"}, "weight": weight_canary},
            ]}],
        },
    }


def _create(api: client.ApiClient, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = client.CustomObjectsApi(api).create_namespaced_custom_object(
        "networking.istio.io", "v1beta1", namespace, "virtualservices", body)
    return created


def test_a_valid_virtual_service_is_accepted(api: client.ApiClient, namespace: str) -> None:
    created = _create(api, namespace, _virtual_service(90, 10))
    routes = created["spec"]["http"][0]["route"]
    assert [r["weight"] for r in routes] == [90, 10]


def test_an_invalid_virtual_service_is_rejected_naming_the_field(
    api: client.ApiClient, namespace: str
) -> None:
    with pytest.raises(ApiException) as rejected:
        _create(api, namespace, _virtual_service("ninety", 10))
    assert rejected.value.status == 422
    assert "spec.http[0].route[0].weight" in str(rejected.value.body)
