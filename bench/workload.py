"""The manifests every scenario applies, the same for both operators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from canary_operator.lab.meshsim import ERROR_RATE
from canary_operator.lab.workloads import deployment

IMAGE = "ghcr.io/stefanprodan/podinfo:6.9.0"
GOOD_IMAGE = "ghcr.io/stefanprodan/podinfo:6.9.1"
BAD_IMAGE = "ghcr.io/stefanprodan/podinfo:6.9.2"


@dataclass(frozen=True)
class Spec:
    """The analysis under test: Flagger's floor is a 10 s interval."""

    interval_seconds: float = 10.0
    step_weight: int = 10
    max_weight: int = 50
    threshold: int = 5
    metric_window: str = "30s"

    @property
    def steps(self) -> int:
        return self.max_weight // self.step_weight

    def interval(self) -> str:
        seconds = self.interval_seconds
        return f"{int(seconds)}s" if seconds == int(seconds) else f"{int(seconds * 1000)}ms"


def target(name: str, replicas: int = 1) -> dict[str, Any]:
    return deployment(name, IMAGE, replicas=replicas)


def canary(name: str, spec: Spec) -> dict[str, Any]:
    """A Canary in Flagger's format (no field of ours), the same for both operators."""
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": name},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "progressDeadlineSeconds": 600,
            "service": {"port": 9898, "hosts": [f"{name}.example.com"]},
            "analysis": {
                "interval": spec.interval(),
                "threshold": spec.threshold,
                "maxWeight": spec.max_weight,
                "stepWeight": spec.step_weight,
                "metrics": [
                    {"name": "request-success-rate", "thresholdRange": {"min": 99},
                     "interval": spec.metric_window},
                    {"name": "request-duration", "thresholdRange": {"max": 500},
                     "interval": spec.metric_window},
                ],
            },
        },
    }


def release(name: str, image: str, error_rate: float | None = None) -> dict[str, Any]:
    """The patch of a new release: an image, and for a bad one an error rate the mesh
    simulator answers with."""
    template: dict[str, Any] = {"spec": {"containers": [{"name": name, "image": image}]}}
    if error_rate is not None:
        template["metadata"] = {"annotations": {ERROR_RATE: str(error_rate)}}
    return {"spec": {"template": template}}
