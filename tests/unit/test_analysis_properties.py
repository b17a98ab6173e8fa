"""Property tests of the invariants in DESIGN.md §4, over random specs and random worlds:
readiness that flips, metrics that pass, fail, go missing or error, webhooks that agree,
refuse or ask for a rollback, new revisions at any moment, and a loop that sometimes
wakes up early. Specs cover every strategy: canary (with or without mirror), blue/green
(with or without mirror) and A/B testing, each with its own route invariant."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from canary_operator.analysis import (
    Decision,
    HookCall,
    HookResult,
    InitializeTargets,
    Observation,
    PromoteTemplate,
    Readiness,
    SetWeights,
    Strategy,
    decide,
    seconds_until_next_tick,
    strategy_of,
)
from canary_operator.analysis.phases import ANALYSING, IDLE
from canary_operator.analysis.steps import max_weight
from canary_operator.api import CanarySpec, CanaryStatus, Phase
from canary_operator.api.canary import WebhookType
from tests.unit.test_analysis_helpers import (
    DURATION,
    READY,
    ROLLING,
    STUCK,
    SUCCESS_RATE,
    Cluster,
    hook,
    hook_names,
    measured,
)

READINESS = {"ready": READY, "rolling": ROLLING, "stuck": STUCK}
METRICS = {
    "pass": measured(),
    "fail": measured(success_rate=42.0),
    "nodata": measured(success_rate=None),
    "error": measured(error="connection refused"),
}
RESETS = {"NewRevision", "AnalysisRestarted"}
GATE_REASONS = {"WaitingForApproval", "WaitingForTrafficIncrease", "WaitingForPromotion"}
GATING_TYPES = [kind for kind in WebhookType
                if kind not in (WebhookType.POST_ROLLOUT, WebhookType.EVENT)]


@st.composite
def specs(draw: st.DrawFn) -> CanarySpec:
    analysis: dict[str, Any] = {
        "interval": draw(st.sampled_from(["30s", "1m", "5m"])),
        "threshold": draw(st.integers(-1, 6)),
        "metrics": [SUCCESS_RATE, DURATION],
        "stepWeightPromotion": draw(st.none() | st.integers(0, 100)),
    }
    if draw(st.booleans()):
        steps = draw(st.sets(st.integers(1, 100), min_size=1, max_size=6))
        analysis["stepWeights"] = sorted(steps)
    else:
        analysis["stepWeight"] = draw(st.integers(1, 100))
        analysis["maxWeight"] = draw(st.none() | st.integers(0, 100))
    strategy = draw(st.sampled_from(["canary"] * 3 + ["blue-green", "ab-testing"]))
    if strategy != "canary":
        analysis["iterations"] = draw(st.integers(1, 4))
    if strategy == "ab-testing":
        analysis["match"] = [{"headers": {"x-canary": {"exact": "insider"}}}]
    analysis["mirror"] = draw(st.sampled_from([None, None, True]))
    kinds = draw(st.sets(st.sampled_from(list(WebhookType)), max_size=4))
    analysis["webhooks"] = [hook(f"{kind.value}-hook", kind.value) for kind in sorted(kinds)]
    return CanarySpec.model_validate({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "service": {"port": 9898},
        "analysis": analysis,
        "skipAnalysis": draw(st.sampled_from([False] * 9 + [True])),
    })


@dataclass(frozen=True)
class Moment:
    canary: str
    primary: str
    metrics: str
    new_revision: bool
    early: float  # 0: the loop sleeps as told; else the fraction of the sleep it waits
    hooks: str = "ok"  # ok: every hook agrees; refuse: every gate refuses; rollback: asked


moments = st.builds(
    Moment,
    canary=st.sampled_from(["ready"] * 6 + ["rolling", "stuck"]),
    primary=st.sampled_from(["ready"] * 8 + ["rolling", "stuck"]),
    metrics=st.sampled_from(["pass"] * 5 + ["fail", "nodata", "error"]),
    new_revision=st.sampled_from([False] * 10 + [True]),
    early=st.sampled_from([0.0] * 4 + [0.1, 0.5, 0.99]),
    hooks=st.sampled_from(["ok"] * 8 + ["refuse", "rollback"]),
)


class World(Cluster):
    moment: Moment = Moment("ready", "ready", "pass", False, 0.0)


def build_world(spec: CanarySpec) -> World:
    world = World(spec)
    world.canary_ready = lambda c: (READINESS[c.moment.canary]  # type: ignore[attr-defined]
                                    if c.target_replicas > 0
                                    else Readiness(False, True, "scaled to zero"))
    world.primary_ready = lambda c: READINESS[c.moment.primary]  # type: ignore[attr-defined]
    world.metrics = lambda c: METRICS[c.moment.metrics]  # type: ignore[attr-defined]
    world.hooks = answer_hooks
    return world


def answer_hooks(world: Cluster, call: HookCall) -> tuple[HookResult, ...]:
    """Gates agree unless the moment refuses; a rollback hook asks only when told to."""
    mood = world.moment.hooks  # type: ignore[attr-defined]
    ok = mood == "rollback" if call.type is WebhookType.ROLLBACK else mood != "refuse"
    return tuple(HookResult(name, ok, "" if ok else "HTTP 403")
                 for name in hook_names(world.spec, call.type))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), script=st.lists(moments, min_size=10, max_size=120))
def test_invariants_hold_over_any_run(spec: CanarySpec, script: list[Moment]) -> None:
    world = build_world(spec)
    promotions: dict[str | None, int] = {}
    revision = 1
    for moment in script:
        world.moment = moment
        if moment.new_revision and world.phase not in (Phase.NONE, Phase.INITIALIZING):
            revision += 1
            world.target_hash = f"v{revision}"
        before = world.status
        seen, calls = world.complete(world.observation())
        assert all(call.type in GATING_TYPES for call in calls)
        decision = decide(spec, before, seen)
        check_decision(spec, before, decision, promotions)
        check_restart(spec, decision.status, seen)

        world.act(decision)
        world.status = decision.status
        world.decisions.append(decision)
        check_cluster(spec, world)
        event(f"reached {decision.status.reason}")
        sleep = seconds_until_next_tick(spec, world.status, world.now, world.min_interval_seconds)
        assert sleep >= 0
        world.now += timedelta(seconds=sleep * moment.early if moment.early else sleep)


def check_decision(spec: CanarySpec, before: CanaryStatus | None, decision: Decision,
                   promotions: dict[str | None, int]) -> None:
    status = decision.status
    ceiling = max_weight(spec.analysis)
    strategy = strategy_of(spec.analysis)
    # Every decision explains itself; every status write carries the reason.
    assert decision.reason.strip()
    if status != before:
        assert status.message == decision.reason
        assert status.reason
    # Route weights: integers 0..100 summing to 100; while analysing, within maxWeight for
    # a canary, all or nothing for blue/green and A/B testing. Only a canary at weight 0
    # and blue/green iterations mirror, and only when the spec says so.
    for action in decision.actions:
        if isinstance(action, SetWeights):
            assert 0 <= action.canary <= 100 and action.primary + action.canary == 100
            if status.phase in ANALYSING:
                if strategy is Strategy.CANARY:
                    assert action.canary <= ceiling
                else:
                    assert (action.primary, action.canary) in ((100, 0), (0, 100))
            if action.mirror:
                assert spec.analysis is not None and spec.analysis.mirror
                assert (action.primary, action.canary) == (100, 0)
                assert strategy is not Strategy.AB_TESTING
    if status.phase in ANALYSING:
        assert status.canary_weight in (
            range(ceiling + 1) if strategy is Strategy.CANARY else (0, 100))
    # A closed confirm-* gate never counts a failed check.
    if before is not None and status.reason in GATE_REASONS:
        assert status.failed_checks == before.failed_checks
    # failedChecks only grows, except when a new revision resets it.
    if before is not None and status.reason not in RESETS:
        assert status.failed_checks >= before.failed_checks
    # One promotion per analysed revision, at most.
    if any(isinstance(action, PromoteTemplate) for action in decision.actions):
        promotions[status.last_applied_spec] = promotions.get(status.last_applied_spec, 0) + 1
        assert promotions[status.last_applied_spec] == 1


def check_restart(spec: CanarySpec, status: CanaryStatus, seen: Observation) -> None:
    """A restart right now (the same observation, the persisted status) repeats nothing:
    no second promotion, no count lost or added, no step. Only a revision that came in
    while the last one was being promoted or rolled back may be taken up at once."""
    again = decide(spec, status, seen)
    assert not any(isinstance(action, PromoteTemplate) for action in again.actions)
    pending = status.phase in IDLE and seen.target_hash != status.last_applied_spec
    if not pending:
        assert again.status == status
        assert all(isinstance(action, InitializeTargets) for action in again.actions)
    elif again.status.reason not in RESETS:
        assert again.status.failed_checks == status.failed_checks


def check_cluster(spec: CanarySpec, world: World) -> None:
    status = world.status
    assert status is not None
    if world.phase in ANALYSING and world.weights is not None:
        if strategy_of(spec.analysis) is Strategy.CANARY:
            assert world.weights[1] <= max_weight(spec.analysis)
        else:
            assert world.weights in ((100, 0), (0, 100))
        assert not world.mirrored or world.weights == (100, 0)
    if world.phase is Phase.SUCCEEDED and status.reason in ("Succeeded", "AnalysisSkipped"):
        assert world.primary_hash == status.last_promoted_spec == status.last_applied_spec


@settings(max_examples=150, deadline=None)
@given(spec=specs(), script=st.lists(moments, min_size=1, max_size=60))
def test_a_healthy_world_always_reaches_succeeded(spec: CanarySpec, script: list[Moment]) -> None:
    """Whatever happened before, once everything is healthy the newest revision is
    promoted: nothing gets stuck."""
    world = build_world(spec)
    revision = 1
    for moment in script:
        world.moment = replace(moment, new_revision=False)
        if moment.new_revision and world.phase not in (Phase.NONE, Phase.INITIALIZING):
            revision += 1
            world.target_hash = f"v{revision}"
        world.tick()
    world.moment = Moment("ready", "ready", "pass", False, 0.0, "ok")
    revision += 1
    world.target_hash = f"v{revision}"
    world.run_until(lambda c: c.phase is Phase.SUCCEEDED and c.primary_hash == c.target_hash,
                    limit=400)
    assert world.weights == (100, 0)
    assert world.target_replicas == 0
