"""The shell's tick at its API seam: the real controller, router and adapters over a fake
API server (`tests.fake_api`), a watch cache that is the fake's store, and a fixed clock.

What is proven here: the written status is the decided status (cleared fields leave the
API), writes are fenced by resourceVersion and a conflict is decided again on the fresh
Canary, memory never overrides a newer status, events and post-rollout hooks go out only
after the write, and a promotion copies the analysed revision or nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from canary_operator.analysis import Event
from canary_operator.api import Canary
from canary_operator.controller import CanaryController
from canary_operator.kube.workloads import pod_template_hash
from canary_operator.routers.istio import build_virtual_service
from canary_operator.routers.istio_routes import read_routes
from canary_operator.routers.protocol import Routes
from canary_operator.settings import OperatorSettings
from tests.fake_api import FakeApi

NS = "test"
NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
CANARY = f"/apis/flagger.app/v1beta1/namespaces/{NS}/canaries/podinfo"
VS = f"/apis/networking.istio.io/v1beta1/namespaces/{NS}/virtualservices/podinfo"
TARGET = f"/apis/apps/v1/namespaces/{NS}/deployments/podinfo"
PRIMARY = f"/apis/apps/v1/namespaces/{NS}/deployments/podinfo-primary"


def deployment(name: str, image: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "generation": 1, "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "app", "image": image}]}}},
        "status": {"observedGeneration": 1, "replicas": replicas,
                   "updatedReplicas": replicas, "availableReplicas": replicas},
    }


V1, V2 = deployment("podinfo", "podinfo:1"), deployment("podinfo", "podinfo:2")
REVISION_1, REVISION_2 = pod_template_hash(V1), pod_template_hash(V2)
SPEC = {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "service": {"port": 9898},
        "analysis": {"interval": "1m", "threshold": 2, "stepWeight": 10, "maxWeight": 20}}


def progressing(weight: int, **fields: Any) -> dict[str, Any]:
    return {"phase": "Progressing", "canaryWeight": weight, "failedChecks": 0, "iterations": 0,
            "lastAppliedSpec": REVISION_1, "lastPromotedSpec": "r0",
            "lastStepTime": (NOW - dt.timedelta(seconds=61)).isoformat(), **fields}


class View:
    """The watch cache: the fake's store as it is, or a queue of bodies per object that
    successive reads take in turn (the cache moving on in the middle of a tick)."""

    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self.moving: dict[str, list[dict[str, Any]]] = {}
        self.templates: dict[str, dict[str, Any]] = {}

    def _read(self, path: str) -> dict[str, Any] | None:
        queue = self.moving.get(path)
        if queue:
            return queue.pop(0) if len(queue) > 1 else queue[0]
        found = self.api.objects.get(path)
        return copy.deepcopy(found) if found is not None else None

    def deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._read(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")

    def virtual_service(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._read(
            f"/apis/networking.istio.io/v1beta1/namespaces/{namespace}/virtualservices/{name}")

    def metric_template(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.templates.get(f"{namespace}/{name}")

    def autoscaler(self, namespace: str, name: str) -> None:
        return None

    def alert_provider(self, namespace: str, name: str) -> None:
        return None


class World:
    def __init__(self, status: dict[str, Any], target: dict[str, Any] = V1,
                 weights: tuple[int, int] = (90, 10), spec: dict[str, Any] = SPEC) -> None:
        self.api = FakeApi()
        self.events: list[Event] = []
        self.client = self.api.client()
        self.now = NOW
        self.controller = CanaryController(
            self.client, OperatorSettings(), post_event=lambda _b, e: self.events.append(e),
            clock=lambda: self.now)
        body = {"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
                "metadata": {"name": "podinfo", "namespace": NS, "uid": "u1"},
                "spec": spec, "status": status}
        self.api.put(CANARY, body)
        self.api.put(TARGET, target)
        self.api.put(PRIMARY, deployment("podinfo-primary", "podinfo:0"))
        canary = Canary.model_validate(body)
        self.api.put(VS, build_virtual_service(canary, Routes(*weights)))
        self.view = View(self.api)

    def body(self) -> dict[str, Any]:
        """The Canary as the watch last delivered it."""
        return self.api.get(CANARY)

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.api.get(CANARY)["status"]
        return status

    def weights(self) -> tuple[int, int]:
        canary = Canary.model_validate(self.body())
        routes = read_routes(self.api.get(VS), canary)
        assert routes is not None
        return routes.primary, routes.canary

    def status_writes(self) -> list[Any]:
        return [r for r in self.api.requests if r.path == f"{CANARY}/status"]


@pytest.fixture
async def world_factory() -> AsyncIterator[list[World]]:
    made: list[World] = []
    yield made
    for world in made:
        await world.controller.aclose()
        await world.client.close()


def make(made: list[World], *args: Any, **kwargs: Any) -> World:
    world = World(*args, **kwargs)
    made.append(world)
    return world


async def test_a_step_is_written_fenced_by_the_version_read_and_then_announced(
        world_factory: list[World]) -> None:
    world = make(world_factory, progressing(10))
    body = world.body()
    seen_at_write: list[int] = []
    world.api.before_write = (lambda _m, path: seen_at_write.append(len(world.events))
                              if path.endswith("/status") else None)
    result = await world.controller.tick(body, world.view)
    assert result.problem is None
    assert world.weights() == (80, 20)
    (write,) = world.status_writes()
    assert write.body["metadata"] == {"resourceVersion": body["metadata"]["resourceVersion"]}
    assert world.status()["canaryWeight"] == 20
    assert seen_at_write == [0]  # nothing was announced before the write
    assert [e.message for e in world.events] == ["Advance podinfo.test canary weight 20"]


async def test_a_field_the_core_clears_leaves_the_api(world_factory: list[World]) -> None:
    # An outage that ended: the checks ran (there are none) and the mark is cleared.
    world = make(world_factory, progressing(
        10, checksUnavailableSince=(NOW - dt.timedelta(minutes=3)).isoformat(),
        lastCommand={"id": "c1", "action": "promote", "outcome": "Done"}))
    await world.controller.tick(world.body(), world.view)
    status = world.status()
    assert "checksUnavailableSince" not in status
    assert status["lastCommand"] == {"id": "c1", "action": "promote", "outcome": "Done"}
    assert status["canaryWeight"] == 20


async def test_a_config_that_left_the_template_leaves_tracked_configs(
        world_factory: list[World]) -> None:
    # Succeeded on a revision that used a ConfigMap; the template no longer mounts it.
    world = make(world_factory, {
        "phase": "Succeeded", "lastAppliedSpec": "with-config", "lastPromotedSpec": "with-config",
        "trackedConfigs": {"configmap/settings": "abc"}}, weights=(100, 0))
    await world.controller.tick(world.body(), world.view)
    status = world.status()
    assert status["phase"] == "Progressing"
    assert status["trackedConfigs"] == {}
    assert status["lastAppliedSpec"] == REVISION_1


async def test_a_conflict_is_decided_again_on_the_canary_as_the_api_has_it(
        world_factory: list[World]) -> None:
    world = make(world_factory, progressing(10, failedChecks=1))
    stale = world.body()
    # A user resets failedChecks after the watch delivered `stale`.
    edited = world.body()
    edited["status"]["failedChecks"] = 0
    edited["status"]["message"] = "reset by hand"
    world.api.put(CANARY, edited)
    result = await world.controller.tick(stale, world.view)
    assert result.problem is None
    statuses = [r.status for r in world.status_writes()]
    assert statuses == [409, 200]
    assert [r.method for r in world.api.requests if r.path == CANARY] == ["GET"]
    assert world.status()["failedChecks"] == 0
    assert world.status()["canaryWeight"] == 20
    assert world.weights() == (80, 20)
    # The step was announced once, by the decision that was written.
    assert [e.message for e in world.events] == ["Advance podinfo.test canary weight 20"]


async def test_memory_skips_only_a_stale_watch_event(world_factory: list[World]) -> None:
    world = make(world_factory, progressing(10))
    before = world.body()
    await world.controller.tick(before, world.view)
    # The watch has not delivered our write yet: the next tick must not step again.
    result = await world.controller.tick(before, world.view)
    assert result.decision is not None and "due in" in result.decision.reason
    assert len(world.api.writes(VS)) == 1
    assert len([r for r in world.status_writes() if r.status == 200]) == 1
    # A user edits the status after our write: the edit wins over what we remember.
    edited = world.body()
    edited["status"]["failedChecks"] = 2
    world.api.put(CANARY, edited)
    result = await world.controller.tick(world.body(), world.view)
    assert world.status()["failedChecks"] == 2
    assert result.decision is not None and "due in" in result.decision.reason


async def test_no_event_before_the_status_is_durable(world_factory: list[World]) -> None:
    world = make(world_factory, progressing(10))
    world.api.fail_next("PATCH", f"{CANARY}/status", 500)
    with pytest.raises(Exception, match="500"):
        await world.controller.tick(world.body(), world.view)
    assert world.events == []
    assert "canaryWeight" in world.status() and world.status()["canaryWeight"] == 10
    await world.controller.tick(world.body(), world.view)
    assert [e.message for e in world.events] == ["Advance podinfo.test canary weight 20"]
    assert world.status()["canaryWeight"] == 20


async def test_a_failed_action_is_reported_in_the_status_and_the_step_tried_again(
        world_factory: list[World]) -> None:
    world = make(world_factory, progressing(10))
    world.api.fail_next("PATCH", VS, 500)
    result = await world.controller.tick(world.body(), world.view)
    assert result.problem == "SetWeights failed for test/podinfo: HTTP 500 Error"
    status = world.status()
    assert (status["reason"], status["message"], status["canaryWeight"]) == (
        "Blocked", result.problem, 10)
    assert [e.message for e in world.events] == [result.problem]
    result = await world.controller.tick(world.body(), world.view)
    assert result.problem is None
    status = world.status()
    assert (status["reason"], status["canaryWeight"]) == ("Advanced", 20)
    assert world.weights() == (80, 20)


async def test_a_problem_that_went_away_leaves_the_status_of_an_idle_canary(
        world_factory: list[World]) -> None:
    world = make(world_factory, {
        "phase": "Succeeded", "lastAppliedSpec": REVISION_1, "lastPromotedSpec": REVISION_1,
        "reason": "Blocked", "message": "reading the routes: HTTP 503"}, weights=(100, 0))
    result = await world.controller.tick(world.body(), world.view)
    assert result.decision is not None
    status = world.status()
    assert (status["reason"], status["message"]) == ("Unblocked", result.decision.reason)
    assert result.decision.reason == "no new revision of podinfo.test (Succeeded)"
    # Idle from then on: nothing more to write.
    await world.controller.tick(world.body(), world.view)
    assert len(world.status_writes()) == 1


async def test_an_image_bump_during_the_promotion_tick_is_not_promoted(
        world_factory: list[World]) -> None:
    world = make(world_factory, progressing(20), weights=(80, 20))
    # The tick looks at the target twice (configs, observation) and sees v1; the watch
    # delivers v2 before the promotion is carried out.
    world.view.moving[TARGET] = [V1, V1, V2]
    result = await world.controller.tick(world.body(), world.view)
    assert result.problem == (
        f"not promoting {NS}/podinfo: it changed since revision {REVISION_1} was analysed "
        f"(now {REVISION_2}); the new revision gets its own analysis")
    assert world.api.writes(PRIMARY) == []
    status = world.status()
    assert (status["phase"], status["reason"], status["lastPromotedSpec"]) == (
        "Progressing", "Blocked", "r0")
    # The next tick sees v2 and starts over.
    world.api.put(TARGET, V2)
    world.view.moving.clear()
    await world.controller.tick(world.body(), world.view)
    status = world.status()
    assert (status["reason"], status["lastAppliedSpec"], status["canaryWeight"]) == (
        "AnalysisRestarted", REVISION_2, 0)
    assert world.weights() == (100, 0)
    assert world.api.writes(PRIMARY) == []


async def test_the_analysed_revision_is_promoted(world_factory: list[World]) -> None:
    world = make(world_factory, progressing(20), weights=(80, 20))
    result = await world.controller.tick(world.body(), world.view)
    assert result.problem is None
    assert len(world.api.writes(PRIMARY)) == 1
    primary = world.api.get(PRIMARY)
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:1"
    assert world.status()["phase"] == "Promoting"


async def test_a_persistent_problem_is_retried_with_backoff_up_to_the_interval(
        world_factory: list[World]) -> None:
    spec = {**SPEC, "analysis": {**SPEC["analysis"], "maxWeight": 50}}
    world = make(world_factory, progressing(10), spec=spec)
    world.api.fail_next("PATCH", VS, 500, 500, 500, 500, 500)
    delays = []
    for _ in range(5):
        result = await world.controller.tick(world.body(), world.view)
        assert result.problem == "SetWeights failed for test/podinfo: HTTP 500 Error"
        delays.append(result.next_tick_seconds)
    # The operator's shortest interval (10 s) doubling, up to the analysis interval (1m).
    assert delays == [10, 20, 40, 60, 60]
    result = await world.controller.tick(world.body(), world.view)
    assert result.problem is None
    assert world.weights() == (80, 20)
    # After a tick that got through, the next problem starts from the shortest again.
    world.now += dt.timedelta(seconds=61)
    world.api.fail_next("PATCH", VS, 500)
    assert (await world.controller.tick(world.body(), world.view)).next_tick_seconds == 10


async def test_the_routes_follow_the_spec_on_every_tick_with_no_request_when_in_sync(
        world_factory: list[World]) -> None:
    idle = {"phase": "Succeeded", "lastAppliedSpec": REVISION_1,
            "lastPromotedSpec": REVISION_1, "lastStepTime": NOW.isoformat()}
    world = make(world_factory, idle, weights=(100, 0))
    await world.controller.tick(world.body(), world.view)
    assert world.api.writes(VS) == []
    assert [r.method for r in world.api.requests if r.path == VS] == []  # from the cache
    # The user adds a host and a timeout to the Canary: the next tick applies them.
    changed = world.body()
    changed["spec"]["service"] = {"port": 9898, "hosts": ["app.example.com"], "timeout": "5s"}
    world.api.put(CANARY, changed)
    await world.controller.tick(world.body(), world.view)
    assert len(world.api.writes(VS)) == 1
    spec = world.api.get(VS)["spec"]
    assert spec["hosts"] == ["app.example.com", "podinfo"]
    assert spec["http"][0]["timeout"] == "5s"
    assert world.weights() == (100, 0)


async def test_weights_changed_by_hand_on_an_idle_canary_are_put_back(
        world_factory: list[World]) -> None:
    idle = {"phase": "Succeeded", "lastAppliedSpec": REVISION_1,
            "lastPromotedSpec": REVISION_1,
            "lastStepTime": (NOW - dt.timedelta(minutes=5)).isoformat()}
    world = make(world_factory, idle, weights=(50, 50))
    result = await world.controller.tick(world.body(), world.view)
    assert world.weights() == (100, 0)
    assert world.status()["reason"] == "RoutesRepaired"
    assert result.decision is not None
    assert result.decision.reason == ("the routes of podinfo.test were 50/50 while nothing "
                                      "runs: back to 100/0")
    await world.controller.tick(world.body(), world.view)
    assert len(world.api.writes(VS)) == 1


async def test_a_metric_template_field_not_acted_on_is_named_once(
        world_factory: list[World]) -> None:
    spec = {**SPEC, "analysis": {**SPEC["analysis"], "metrics": [
        {"name": "errors", "templateRef": {"name": "errors"}, "thresholdRange": {"max": 1}}]}}
    idle = {"phase": "Succeeded", "lastAppliedSpec": REVISION_1,
            "lastPromotedSpec": REVISION_1, "lastStepTime": NOW.isoformat()}
    world = make(world_factory, idle, weights=(100, 0), spec=spec)
    world.view.templates["test/errors"] = {
        "metadata": {"name": "errors", "namespace": NS, "uid": "t1", "generation": 1},
        "spec": {"provider": {"type": "prometheus", "secretRef": {"name": "prom-auth"}},
                 "query": "sum(errors)"}}
    for _ in range(2):
        await world.controller.tick(world.body(), world.view)
    assert [e.message for e in world.events] == [
        "MetricTemplate test/errors: not supported yet, accepted and ignored: "
        "spec.provider.secretRef"]


async def test_a_missing_template_or_alert_provider_is_named_at_the_first_tick_once(
        world_factory: list[World]) -> None:
    spec = {**SPEC, "analysis": {**SPEC["analysis"], "metrics": [
        {"name": "errors", "templateRef": {"name": "errors"}, "thresholdRange": {"max": 1}}],
        "alerts": [{"name": "on-call", "providerRef": {"name": "pager", "namespace": "ops"}}]}}
    idle = {"phase": "Succeeded", "lastAppliedSpec": REVISION_1,
            "lastPromotedSpec": REVISION_1, "lastStepTime": NOW.isoformat()}
    world = make(world_factory, idle, weights=(100, 0), spec=spec)
    for _ in range(2):
        await world.controller.tick(world.body(), world.view)
    assert [e.message for e in world.events] == [
        "spec.analysis.alerts[0].providerRef: AlertProvider ops/pager not found: create it "
        "or fix providerRef (its alerts are not sent)",
        "spec.analysis.metrics[0].templateRef: MetricTemplate test/errors not found: create "
        "it or fix templateRef (each check of it fails until it exists)"]
