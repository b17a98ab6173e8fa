"""Shared builders for the analysis tests: specs, observations, and a small simulated
cluster that carries out a Decision's actions the way the controller would: it measures
the metrics and calls the webhooks a tick asks for (`needs_metrics`, `pending_hooks`),
then decides and acts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from canary_operator.analysis import (
    Decision,
    HookCall,
    HookResult,
    InitializeTargets,
    MetricObservation,
    Observation,
    PromoteTemplate,
    Readiness,
    RunHooks,
    ScaleTargetToZero,
    ScaleTargetUp,
    SetWeights,
    decide,
    needs_metrics,
    pending_hooks,
    seconds_until_next_tick,
)
from canary_operator.analysis.observation import Command
from canary_operator.api import CanarySpec, CanaryStatus, Phase
from canary_operator.api.canary import WebhookType

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
READY = Readiness(True)
ROLLING = Readiness(False, True, "waiting for rollout to finish: 0 of 1 (readyThreshold 100%) "
                                 "updated replicas are available")
STUCK = Readiness(False, False, "waiting for rollout to finish: 1 out of 2 new replicas have "
                                "been updated (no progress for longer than "
                                "progressDeadlineSeconds 600)")

SUCCESS_RATE = {"name": "request-success-rate", "interval": "1m", "thresholdRange": {"min": 99}}
DURATION = {"name": "request-duration", "interval": "1m", "thresholdRange": {"max": 500}}


def make_spec(**analysis: Any) -> CanarySpec:
    """The issue's canonical Canary: interval 1m, threshold 5, stepWeight 10, maxWeight 50,
    success rate >= 99% and p99 duration <= 500ms. Keyword arguments override analysis
    fields (camelCase); `analysis=None` removes the analysis."""
    body: dict[str, Any] = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "service": {"port": 9898},
    }
    if analysis.pop("analysis", True) is not None:
        body["analysis"] = {
            "interval": "1m", "threshold": 5, "stepWeight": 10, "maxWeight": 50,
            "metrics": [SUCCESS_RATE, DURATION], **analysis,
        }
    top = {key: body["analysis"].pop(key) for key in ("skipAnalysis", "suspend")
           if key in body.get("analysis", {})}
    return CanarySpec.model_validate({**body, **top})


def observe(now: datetime = T0, **fields: Any) -> Observation:
    values: dict[str, Any] = {
        "now": now, "name": "podinfo", "namespace": "test", "target_exists": True,
        "target_hash": "v1", "target_replicas": 0, "canary": READY, "primary_exists": True,
        "primary": READY, "weights": (100, 0), "metrics": None, "primary_replicas": 2,
    }
    values.update(fields)
    return Observation(**values)


def measured(success_rate: float | None = 99.9, duration: float | None = 120.0,
             error: str | None = None) -> tuple[MetricObservation, ...]:
    return (
        MetricObservation("request-success-rate", "sum(rate(ok[1m])) / sum(rate(all[1m]))",
                          "1m", success_rate, error),
        MetricObservation("request-duration", "histogram_quantile(0.99, ...)", "1m", duration,
                          error),
    )


def status_in(phase: Phase, *, weight: int = 0, failed_checks: int = 0,
              applied: str = "v2", promoted: str = "v1",
              last_step: datetime | None = None, **fields: Any) -> CanaryStatus:
    return CanaryStatus(
        phase=phase, canary_weight=weight, failed_checks=failed_checks,
        last_applied_spec=applied, last_promoted_spec=promoted,
        last_step_time=last_step if last_step is not None else T0 - timedelta(minutes=1),
        **fields,
    )


def hook(name: str, kind: str = "", **fields: Any) -> dict[str, Any]:
    """A webhook of the Canary spec (camelCase fields), e.g. hook("gate", "confirm-rollout")."""
    return {"name": name, "url": f"http://flagger-loadtester.test/{name}", "type": kind,
            **fields}


def hook_names(spec: CanarySpec, kind: WebhookType) -> list[str]:
    webhooks = spec.analysis.webhooks if spec.analysis else None
    return [webhook.name for webhook in webhooks or [] if webhook.kind is kind]


def everyone_ok(cluster: Cluster, call: HookCall) -> tuple[HookResult, ...]:
    """Every hook answers 2xx (a rollback hook answering 2xx asks for a rollback)."""
    return tuple(HookResult(name, True) for name in hook_names(cluster.spec, call.type))


def refusing(*kinds: WebhookType, message: str = "HTTP 403 Forbidden: closed") -> Hooks:
    """Hooks of `kinds` refuse, every other hook answers 2xx."""
    def answer(cluster: Cluster, call: HookCall) -> tuple[HookResult, ...]:
        ok = call.type not in kinds
        return tuple(HookResult(name, ok, "" if ok else message)
                     for name in hook_names(cluster.spec, call.type))
    return answer


Metrics = Callable[["Cluster"], tuple[MetricObservation, ...]]
Hooks = Callable[["Cluster", HookCall], tuple[HookResult, ...]]


@dataclass
class Cluster:
    """A target, its primary and one route, changed only by a Decision's actions."""

    spec: CanarySpec
    now: datetime = T0
    status: CanaryStatus | None = None
    target_hash: str = "v1"
    target_replicas: int = 2
    primary_hash: str | None = None
    primary_replicas: int = 2
    weights: tuple[int, int] | None = None
    primary_ready: Callable[[Cluster], Readiness] = lambda cluster: READY
    canary_ready: Callable[[Cluster], Readiness] = (
        lambda cluster: READY if cluster.target_replicas > 0 else ROLLING)
    metrics: Metrics = lambda cluster: measured()
    hooks: Hooks = everyone_ok
    mirrored: bool = False
    tracked_configs: dict[str, str] | None = None
    autoscaler_min_replicas: int | None = None
    command: Command | None = None
    paused_by: str | None = None
    resumed_by: str | None = None
    min_interval_seconds: float = 10.0
    decisions: list[Decision] = field(default_factory=list)
    queried: list[bool] = field(default_factory=list)
    # Per tick: the webhook calls made before deciding, and the RunHooks carried out.
    hook_calls: list[list[HookCall]] = field(default_factory=list)
    ran_hooks: list[list[RunHooks]] = field(default_factory=list)

    def observation(self) -> Observation:
        exists = self.primary_hash is not None
        return Observation(
            now=self.now, name="podinfo", namespace="test", target_exists=True,
            target_hash=self.target_hash, target_replicas=self.target_replicas,
            canary=self.canary_ready(self), primary_exists=exists,
            primary=self.primary_ready(self) if exists else Readiness(False, True, "not found"),
            weights=self.weights, primary_replicas=self.primary_replicas,
            mirrored=self.mirrored, tracked_configs=self.tracked_configs,
            autoscaler_min_replicas=self.autoscaler_min_replicas,
            command=self.command, paused_by=self.paused_by, resumed_by=self.resumed_by,
        )

    def complete(self, seen: Observation) -> tuple[Observation, list[HookCall]]:
        """As the controller does: measure when the tick reaches the checks, and call the
        hooks it asks for, one type at a time, until it can decide."""
        calls: list[HookCall] = []
        for _ in range(len(WebhookType) + 1):
            if seen.metrics is None and needs_metrics(self.spec, self.status, seen):
                seen = replace(seen, metrics=self.metrics(self))
            call = pending_hooks(self.spec, self.status, seen)
            if call is None:
                return seen, calls
            assert call.type not in seen.hooks, f"{call.type} asked for twice"
            calls.append(call)
            seen = replace(seen, hooks={**seen.hooks, call.type: self.hooks(self, call)})
        raise AssertionError(f"the hooks asked for never end: {calls}")

    def tick(self) -> Decision:
        """One loop iteration: observe, measure and call hooks if asked, decide, act, sleep."""
        seen, calls = self.complete(self.observation())
        self.queried.append(seen.metrics is not None)
        self.hook_calls.append(calls)
        decision = decide(self.spec, self.status, seen)
        self.act(decision)
        self.status = decision.status
        self.decisions.append(decision)
        self.now += timedelta(seconds=seconds_until_next_tick(
            self.spec, self.status, self.now, self.min_interval_seconds))
        return decision

    def act(self, decision: Decision) -> None:
        self.ran_hooks.append([a for a in decision.actions if isinstance(a, RunHooks)])
        for action in decision.actions:
            if isinstance(action, InitializeTargets):
                if self.primary_hash is None:
                    self.primary_hash = self.target_hash
                if action.with_routing and self.weights is None:
                    self.weights = (100, 0)
            elif isinstance(action, ScaleTargetToZero):
                self.target_replicas = 0
            elif isinstance(action, ScaleTargetUp):
                self.target_replicas = action.replicas
            elif isinstance(action, SetWeights):
                assert self.weights is not None, "SetWeights before the routes exist"
                self.weights = (action.primary, action.canary)
                self.mirrored = action.mirror
            elif isinstance(action, PromoteTemplate):
                assert action.revision == self.target_hash, "promoting another revision"
                self.primary_hash = action.revision

    def run_until(self, done: Callable[[Cluster], bool], limit: int = 200) -> list[Decision]:
        start = len(self.decisions)
        for _ in range(limit):
            self.tick()
            if done(self):
                return self.decisions[start:]
        raise AssertionError(f"not done after {limit} ticks: {self.status}")

    @property
    def phase(self) -> Phase:
        return self.status.phase if self.status is not None else Phase.NONE

    @property
    def state(self) -> CanaryStatus:
        assert self.status is not None
        return self.status

    def calls_of(self, kind: WebhookType, decisions: int | None = None) -> list[HookCall]:
        """The calls of hooks of `kind`, over the last `decisions` ticks (default all)."""
        ticks = self.hook_calls if decisions is None else self.hook_calls[-decisions:]
        return [call for calls in ticks for call in calls if call.type is kind]


def messages(decisions: list[Decision]) -> list[str]:
    return [event.message for decision in decisions for event in decision.events]


def alerts(decisions: list[Decision]) -> list[tuple[str, str]]:
    return [(alert.severity, alert.message) for decision in decisions
            for alert in decision.alerts]


def in_phase(phase: Phase) -> Callable[[Cluster], bool]:
    return lambda cluster: cluster.phase is phase


def initialized(cluster: Cluster) -> Cluster:
    """`cluster` run through initialisation: the primary serves, the target is at zero."""
    cluster.run_until(in_phase(Phase.INITIALIZED))
    assert cluster.target_replicas == 0
    assert cluster.weights == (100, 0)
    return cluster
