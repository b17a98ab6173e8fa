"""Reads, writes and waits shared by the operator's integration and end-to-end tests."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from canary_operator.lab import Lab
from canary_operator.lab.workloads import deployment

NAME = "backend-service"


T = TypeVar("T")


class Cluster:
    """The few reads and writes the scenarios need, with the lab's waiting."""

    def __init__(self, lab: Lab, api: client.ApiClient, namespace: str,
                 name: str = NAME) -> None:
        """`name` is the Canary's, its target's and its apex Service's."""
        self.lab, self.namespace, self.name = lab, namespace, name
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def create_target(self, image: str = "podinfo:6.9.0", replicas: int = 2,
                      body: dict[str, Any] | None = None) -> None:
        body = body or deployment(self.name, image, replicas=replicas)
        self.apps.create_namespaced_deployment(
            self.namespace, client.V1Deployment.model_validate(body))

    def set_image(self, image: str, annotations: dict[str, str] | None = None,
                  labels: dict[str, str] | None = None) -> None:
        """A new release: the image, plus pod-template annotations or labels if given."""
        template: dict[str, Any] = {"spec": {"containers": [{"name": self.name, "image": image}]}}
        metadata = {k: v for k, v in (("annotations", annotations), ("labels", labels)) if v}
        if metadata:
            template["metadata"] = metadata
        self.apps.patch_namespaced_deployment(self.name, self.namespace,
                                              {"spec": {"template": template}})

    def apply_canary(self, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(
            "flagger.app", "v1beta1", self.namespace, "canaries", body)

    def canary(self, name: str | None = None) -> dict[str, Any]:
        got: dict[str, Any] = self.custom.get_namespaced_custom_object(
            "flagger.app", "v1beta1", self.namespace, "canaries", name or self.name)
        return got

    def phase(self, name: str | None = None) -> str:
        return str(self.canary(name).get("status", {}).get("phase", ""))

    def weights(self, apex: str | None = None) -> tuple[int, int] | None:
        apex = apex or self.name
        try:
            vs = self.custom.get_namespaced_custom_object(
                "networking.istio.io", "v1beta1", self.namespace, "virtualservices", apex)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        route = vs["spec"]["http"][0]["route"]
        routes = {r["destination"]["host"]: r.get("weight", 0) for r in route}
        return routes.get(f"{apex}-primary", 0), routes.get(f"{apex}-canary", 0)

    def events(self, name: str | None = None) -> list[str]:
        selector = f"involvedObject.name={name or self.name},involvedObject.kind=Canary"
        return [e.message or "" for e in self.core.list_namespaced_event(
            self.namespace, field_selector=selector).items]

    def wait_event(self, fragment: str, timeout: float = 30,
                   name: str | None = None) -> list[str]:
        """The Canary's events once one of them contains `fragment`: the events of a
        transition are posted after its status is written, so they may follow the phase."""
        self.lab.wait_for(lambda: any(fragment in m for m in self.events(name)),
                          f"an event saying {fragment!r}", timeout)
        return self.events(name)

    def wait_phase(self, phase: str, timeout: float = 120, name: str | None = None) -> None:
        self.lab.wait_for(lambda: self.phase(name) == phase,
                          f"Canary {name or self.name} to be {phase}", timeout)

    def deployment(self, name: str) -> client.V1Deployment:
        return self.apps.read_namespaced_deployment(name, self.namespace)


class Sampler(Generic[T]):
    """Samples `read()` in the background (every 0.1 s); keeps each change."""

    def __init__(self, read: Callable[[], T | None]) -> None:
        self.read = read
        self.seen: list[T] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        current = self.read()
        if current is not None and (not self.seen or self.seen[-1] != current):
            self.seen.append(current)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sample()
            except Exception:  # the lab is going away under a failed test
                return
            self._stop.wait(0.1)

    def stop(self) -> list[T]:
        """Stop sampling, after one last sample: the state the test waited for."""
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(Exception):  # never hide why a failing test failed
            self._sample()
        return self.seen


class WeightSampler(Sampler[int]):
    """The canary's weight on the VirtualService, from `read()`'s (primary, canary)."""

    def __init__(self, read: Callable[[], tuple[int, int] | None]) -> None:
        super().__init__(lambda: None if (weights := read()) is None else weights[1])


def dedupe(values: list[int]) -> list[int]:
    out: list[int] = []
    for value in values:
        if not out or out[-1] != value:
            out.append(value)
    return out


