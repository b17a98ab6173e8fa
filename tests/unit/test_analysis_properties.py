"""Property tests of the invariants in DESIGN.md §4, over random specs and random worlds:
readiness that flips, metrics that pass, fail, go missing or error, new revisions at any
moment, and a loop that sometimes wakes up early."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from canary_operator.analysis import (
    Decision,
    InitializeTargets,
    Observation,
    PromoteTemplate,
    Readiness,
    SetWeights,
    decide,
    needs_metrics,
    seconds_until_next_tick,
)
from canary_operator.analysis.phases import IDLE
from canary_operator.analysis.steps import max_weight
from canary_operator.api import CanarySpec, CanaryStatus, Phase
from tests.unit.test_analysis_helpers import (
    DURATION,
    READY,
    ROLLING,
    STUCK,
    SUCCESS_RATE,
    Cluster,
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


moments = st.builds(
    Moment,
    canary=st.sampled_from(["ready"] * 6 + ["rolling", "stuck"]),
    primary=st.sampled_from(["ready"] * 8 + ["rolling", "stuck"]),
    metrics=st.sampled_from(["pass"] * 5 + ["fail", "nodata", "error"]),
    new_revision=st.sampled_from([False] * 10 + [True]),
    early=st.sampled_from([0.0] * 4 + [0.1, 0.5, 0.99]),
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
    return world


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
        seen = world.observation()
        if needs_metrics(spec, before, seen):
            seen = replace(seen, metrics=world.metrics(world))
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
    # Every decision explains itself; every status write carries the reason.
    assert decision.reason.strip()
    if status != before:
        assert status.message == decision.reason
        assert status.reason
    # Route weights: integers 0..100 summing to 100, within maxWeight while analysing.
    for action in decision.actions:
        if isinstance(action, SetWeights):
            assert 0 <= action.canary <= 100 and action.primary + action.canary == 100
            if status.phase is Phase.PROGRESSING:
                assert action.canary <= ceiling
    if status.phase is Phase.PROGRESSING:
        assert 0 <= status.canary_weight <= ceiling
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
    if world.phase is Phase.PROGRESSING and world.weights is not None:
        assert world.weights[1] <= max_weight(spec.analysis)
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
    world.moment = Moment("ready", "ready", "pass", False, 0.0)
    revision += 1
    world.target_hash = f"v{revision}"
    world.run_until(lambda c: c.phase is Phase.SUCCEEDED and c.primary_hash == c.target_hash,
                    limit=400)
    assert world.weights == (100, 0)
    assert world.target_replicas == 0
