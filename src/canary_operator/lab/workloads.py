"""Deployments for the lab demo and tests, and how to tell a rollout is done."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client import V1Deployment
from kubernetes.client.exceptions import ApiException

WaitFor = Callable[[Callable[[], bool], str, float], None]  # Lab.wait_for's shape


def deployment(name: str, image: str, replicas: int = 3,
               annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A plain Deployment; kwok plays its pods, so the image is never pulled."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": labels, "annotations": annotations or {}},
                "spec": {
                    "containers": [{
                        "name": name,
                        "image": image,
                        "ports": [{"name": "http", "containerPort": 9898}],
                    }],
                },
            },
        },
    }


def rollout_progress(d: V1Deployment) -> str:
    """One line in the spirit of `kubectl rollout status`."""
    spec = d.spec.replicas if d.spec and d.spec.replicas is not None else 1
    s = d.status
    updated = (s.updated_replicas or 0) if s else 0
    total = (s.replicas or 0) if s else 0
    available = (s.available_replicas or 0) if s else 0
    return (f"{updated}/{spec} updated, {available}/{spec} available, "
            f"{max(total - updated, 0)} old replicas left")


def rollout_complete(d: V1Deployment) -> bool:
    """The new template is fully rolled out: every replica updated and available, no old."""
    if d.metadata is None or d.spec is None or d.status is None:
        return False
    s = d.status
    wanted = d.spec.replicas if d.spec.replicas is not None else 1
    return (
        (s.observed_generation or 0) >= (d.metadata.generation or 0)
        and (s.updated_replicas or 0) == wanted
        and (s.replicas or 0) == wanted
        and (s.available_replicas or 0) == wanted
    )


def create_namespace(api: client.ApiClient, name: str, wait_for: WaitFor) -> None:
    """Create namespace `name` and wait until its `default` ServiceAccount exists (pods
    need it)."""
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))

    def default_service_account_exists() -> bool:
        try:
            core.read_namespaced_service_account("default", name)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    wait_for(default_service_account_exists, f"serviceaccount {name}/default", 60)
