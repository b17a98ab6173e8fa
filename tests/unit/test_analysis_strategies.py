"""Deployment strategies (flagger.md §1.3 `iterations`, §2.2 step 25): blue/green counts
iterations with all traffic on the primary (optionally mirrored to the canary), then
routes all traffic to the canary for a last checked interval; A/B testing counts
iterations with the `match` requests on the canary; a canary with `mirror` first only
shadows traffic, then shifts weight."""

from __future__ import annotations

from typing import Any

import pytest

from canary_operator.analysis import (
    HookCall,
    PromoteTemplate,
    SetWeights,
    Strategy,
    decide,
    strategy_of,
)
from canary_operator.api import CanarySpec, Phase
from canary_operator.api.canary import WebhookType
from tests.unit.test_analysis_helpers import (
    Cluster,
    everyone_ok,
    hook,
    in_phase,
    initialized,
    make_spec,
    measured,
    messages,
    observe,
    refusing,
    status_in,
)

MATCH = [{"headers": {"x-canary": {"exact": "insider"}}}]


def blue_green(iterations: int = 3, **analysis: Any) -> CanarySpec:
    return make_spec(iterations=iterations, stepWeight=None, maxWeight=None, **analysis)


def ab_testing(iterations: int = 3, **analysis: Any) -> CanarySpec:
    return blue_green(iterations, match=MATCH, **analysis)


def started(spec: CanarySpec, **fields: Any) -> Cluster:
    cluster = initialized(Cluster(spec, **fields))
    cluster.target_hash = "v2"
    return cluster


def routes(cluster: Cluster, run_length: int) -> list[tuple[Phase, tuple[int, int] | None,
                                                           bool]]:
    """(phase, route weights, mirrored) after each of the last `run_length` ticks, as
    replayed from the decisions' SetWeights."""
    weights: tuple[int, int] | None = (100, 0)
    mirrored = False
    seen = []
    for decision in cluster.decisions[-run_length:]:
        for action in decision.actions:
            if isinstance(action, SetWeights):
                weights, mirrored = (action.primary, action.canary), action.mirror
        seen.append((decision.status.phase, weights, mirrored))
    return seen


# -- which strategy ------------------------------------------------------------------------


@pytest.mark.parametrize(("analysis", "strategy"), [
    ({}, Strategy.CANARY),
    ({"stepWeights": [5, 10, 50], "stepWeight": None}, Strategy.CANARY),
    ({"mirror": True}, Strategy.CANARY),
    ({"match": MATCH}, Strategy.CANARY),  # match without iterations: still a canary
    ({"iterations": 0}, Strategy.CANARY),
    ({"iterations": 4}, Strategy.BLUE_GREEN),  # even beside the default stepWeight
    ({"iterations": 4, "mirror": True}, Strategy.BLUE_GREEN),
    ({"iterations": 4, "match": MATCH}, Strategy.AB_TESTING),
])
def test_the_strategy_follows_flaggers_dispatch(analysis: dict[str, Any],
                                                strategy: Strategy) -> None:
    assert strategy_of(make_spec(**analysis).analysis) is strategy


def test_no_analysis_is_a_canary() -> None:
    assert strategy_of(None) is Strategy.CANARY


def test_iterations_alone_are_a_schedule() -> None:
    cluster = started(make_spec(iterations=2, stepWeight=None, maxWeight=None))
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert not any(d.status.reason == "StrategyNotSupported" for d in cluster.decisions)


# -- blue/green ---------------------------------------------------------------------------


def test_blue_green_iterates_on_the_primary_then_routes_all_to_the_canary() -> None:
    cluster = started(blue_green(3))
    run = cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert routes(cluster, len(run)) == [
        (Phase.PROGRESSING, (100, 0), False),  # new revision, canary scaled up
        (Phase.PROGRESSING, (100, 0), False),  # iteration 1 (no checks yet)
        (Phase.PROGRESSING, (100, 0), False),  # iteration 2
        (Phase.PROGRESSING, (100, 0), False),  # iteration 3
        (Phase.PROGRESSING, (0, 100), False),  # all traffic to the canary
        (Phase.PROMOTING, (0, 100), False),    # checked on full traffic, then promoted
        (Phase.FINALISING, (100, 0), False),
        (Phase.SUCCEEDED, (100, 0), False),
    ]
    assert [d.status.iterations for d in run[:5]] == [0, 1, 2, 3, 4]
    assert [m for m in messages(run) if "Advance" in m or "Routing" in m or "Copying" in m] == [
        "Advance podinfo.test canary iteration 1/3",
        "Advance podinfo.test canary iteration 2/3",
        "Advance podinfo.test canary iteration 3/3",
        "Routing all traffic to canary",
        "Copying podinfo.test template spec to podinfo-primary.test",
        "Routing all traffic to primary",
    ]
    assert [d.status.reason for d in run] == [
        "NewRevision", "AnalysisStarted", "IterationAdvanced", "IterationAdvanced",
        "RoutedToCanary", "Promoting", "Finalising", "Succeeded"]
    # Metrics checked on iterations 2 and 3, after routing, and before promoting.
    assert cluster.queried[-len(run):] == [False, False, True, True, True, True, False, False]
    # Routes change only twice during the analysis: to the canary, back to the primary.
    assert sum(isinstance(a, SetWeights) for d in run for a in d.actions) == 2
    assert run[5].status.message is not None
    assert "3 iterations done" in run[5].status.message
    assert cluster.primary_hash == "v2"
    assert cluster.target_replicas == 0
    assert cluster.weights == (100, 0)


def test_blue_green_shows_the_canary_at_full_weight_while_it_has_all_traffic() -> None:
    cluster = started(blue_green(2))
    cluster.run_until(lambda c: c.state.reason == "RoutedToCanary")
    assert cluster.state.canary_weight == 100
    assert cluster.weights == (0, 100)
    assert cluster.state.phase is Phase.PROGRESSING


def test_blue_green_with_mirror_shadows_traffic_during_the_iterations() -> None:
    cluster = started(blue_green(3, mirror=True, mirrorWeight=50))
    run = cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert routes(cluster, len(run))[:6] == [
        (Phase.PROGRESSING, (100, 0), False),
        (Phase.PROGRESSING, (100, 0), True),
        (Phase.PROGRESSING, (100, 0), True),
        (Phase.PROGRESSING, (100, 0), True),
        (Phase.PROGRESSING, (0, 100), False),
        (Phase.PROMOTING, (0, 100), False),
    ]
    # Mirroring is turned on once and stays on: no route write per iteration.
    assert run[1].actions == (SetWeights(100, 0, mirror=True),)
    assert run[2].actions == run[3].actions == ()
    assert "Stop traffic mirroring and route all traffic to canary" in messages(run)
    assert "Routing all traffic to canary" not in messages(run)
    assert not cluster.mirrored


def test_blue_green_mirroring_is_turned_back_on_when_the_route_lost_it() -> None:
    spec = blue_green(3, mirror=True)
    status = status_in(Phase.PROGRESSING, iterations=1)
    seen = observe(target_hash="v2", target_replicas=2, mirrored=False, metrics=measured())
    decision = decide(spec, status, seen)
    assert decision.actions == (SetWeights(100, 0, mirror=True),)
    assert decision.status.iterations == 2


@pytest.mark.parametrize("mirror", [False, True])
def test_failed_checks_during_blue_green_iterations_roll_back(mirror: bool) -> None:
    cluster = started(blue_green(10, mirror=mirror, threshold=2),
                      metrics=lambda _: measured(success_rate=80.0))
    run = cluster.run_until(in_phase(Phase.FAILED))
    assert run[-1].status.reason == "FailedChecksThreshold"
    assert [d.status.failed_checks for d in run if d.status.reason == "ChecksFailed"] == [1, 2]
    assert cluster.weights == (100, 0)
    assert not cluster.mirrored
    assert cluster.target_replicas == 0
    assert cluster.primary_hash == "v1"
    assert not any(isinstance(a, PromoteTemplate) for d in run for a in d.actions)


def test_failed_checks_on_full_canary_traffic_roll_back_to_the_primary() -> None:
    cluster = started(blue_green(2, threshold=1))
    cluster.run_until(lambda c: c.state.reason == "RoutedToCanary")
    cluster.metrics = lambda _: measured(duration=2000.0)
    cluster.run_until(in_phase(Phase.FAILED))
    assert cluster.weights == (100, 0)
    assert cluster.primary_hash == "v1"


def test_blue_green_restarts_on_a_new_revision() -> None:
    cluster = started(blue_green(3, mirror=True))
    cluster.run_until(lambda c: c.state.iterations == 2)
    cluster.target_hash = "v3"
    decision = cluster.tick()
    assert decision.status.reason == "AnalysisRestarted"
    assert decision.status.iterations == 0
    assert cluster.weights == (100, 0)
    assert not cluster.mirrored
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert cluster.primary_hash == "v3"


def test_blue_green_promotes_back_in_steps_with_step_weight_promotion() -> None:
    cluster = started(blue_green(1, stepWeightPromotion=50))
    run = cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert [w for _, w, _ in routes(cluster, len(run))][-4:] == [
        (0, 100), (50, 50), (100, 0), (100, 0)]


# -- A/B testing --------------------------------------------------------------------------


def test_ab_testing_routes_the_match_to_the_canary_for_n_iterations() -> None:
    cluster = started(ab_testing(3))
    run = cluster.run_until(in_phase(Phase.SUCCEEDED))
    set_weights = [a for d in run for a in d.actions if isinstance(a, SetWeights)]
    # SetWeights(0, 100) on an A/B route: the match rule goes to the canary, the rest
    # stays on the primary. Set once, then back to the primary when promoted.
    assert set_weights == [SetWeights(0, 100), SetWeights(100, 0)]
    assert [m for m in messages(run) if "Advance" in m or "Copying" in m] == [
        "Advance podinfo.test canary iteration 1/3",
        "Advance podinfo.test canary iteration 2/3",
        "Advance podinfo.test canary iteration 3/3",
        "Copying podinfo.test template spec to podinfo-primary.test",
    ]
    assert [d.status.phase for d in run] == [
        Phase.PROGRESSING, Phase.PROGRESSING, Phase.PROGRESSING, Phase.PROGRESSING,
        Phase.PROMOTING, Phase.FINALISING, Phase.SUCCEEDED]
    assert run[4].status.message is not None
    assert "3 iterations done" in run[4].status.message
    # Checked at iterations 2 and 3 and before promoting.
    assert cluster.queried[-len(run):] == [False, False, True, True, True, False, False]
    assert cluster.primary_hash == "v2"
    assert cluster.weights == (100, 0)


def test_ab_testing_failed_checks_roll_back() -> None:
    cluster = started(ab_testing(5, threshold=2),
                      metrics=lambda _: measured(success_rate=10.0))
    cluster.run_until(in_phase(Phase.FAILED))
    assert cluster.weights == (100, 0)
    assert cluster.primary_hash == "v1"


# -- confirm-promotion gates both ---------------------------------------------------------


@pytest.mark.parametrize(("spec", "waits_at"), [
    (blue_green(2, webhooks=[hook("promote", "confirm-promotion")]), (100, 0)),
    (ab_testing(2, webhooks=[hook("promote", "confirm-promotion")]), (0, 100)),
])
def test_confirm_promotion_gates_blue_green_and_ab_testing(
        spec: CanarySpec, waits_at: tuple[int, int]) -> None:
    cluster = started(spec, hooks=refusing(WebhookType.CONFIRM_PROMOTION))
    cluster.run_until(in_phase(Phase.WAITING_PROMOTION))
    assert cluster.hook_calls[-1] == [HookCall(WebhookType.CONFIRM_PROMOTION, Phase.PROGRESSING)]
    assert cluster.weights == waits_at
    assert cluster.state.iterations == 2  # kept while waiting
    for _ in range(3):
        decision = cluster.tick()
        assert decision.status.phase is Phase.WAITING_PROMOTION
        assert decision.status.iterations == 2
        assert decision.status.failed_checks == 0
        assert decision.actions == ()
        assert messages([decision]) == [
            "Halt podinfo.test advancement waiting for promotion approval promote"]
    assert cluster.weights == waits_at
    cluster.hooks = everyone_ok
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert cluster.primary_hash == "v2"
    # Asked once more when approved, not again afterwards.
    assert len(cluster.calls_of(WebhookType.CONFIRM_PROMOTION)) == 5


def test_an_approved_blue_green_still_gets_its_checked_interval_on_full_traffic() -> None:
    cluster = started(blue_green(1, webhooks=[hook("promote", "confirm-promotion")]),
                      hooks=refusing(WebhookType.CONFIRM_PROMOTION))
    cluster.run_until(in_phase(Phase.WAITING_PROMOTION))
    cluster.hooks = everyone_ok
    decision = cluster.tick()
    assert decision.status.phase is Phase.PROGRESSING
    assert decision.actions == (SetWeights(0, 100),)
    assert messages([decision]) == ["Routing all traffic to canary"]
    assert cluster.tick().status.phase is Phase.PROMOTING


# -- canary with mirror --------------------------------------------------------------------


def test_a_mirrored_canary_first_shadows_traffic_then_shifts_weight() -> None:
    cluster = started(make_spec(mirror=True, mirrorWeight=100))
    run = cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert routes(cluster, len(run)) == [
        (Phase.PROGRESSING, (100, 0), False),  # new revision
        (Phase.PROGRESSING, (100, 0), True),   # the first step only mirrors
        (Phase.PROGRESSING, (90, 10), False),  # checked (on mirrored traffic), then shifted
        (Phase.PROGRESSING, (80, 20), False),
        (Phase.PROGRESSING, (70, 30), False),
        (Phase.PROGRESSING, (60, 40), False),
        (Phase.PROGRESSING, (50, 50), False),
        (Phase.PROMOTING, (50, 50), False),
        (Phase.FINALISING, (100, 0), False),
        (Phase.SUCCEEDED, (100, 0), False),
    ]
    assert run[1].actions == (SetWeights(100, 0, mirror=True),)
    assert run[1].status.canary_weight == 0
    assert messages(run[1:2]) == ["Starting canary analysis for podinfo.test",
                                  "Advance podinfo.test canary weight 0"]
    assert cluster.queried[-len(run):][:3] == [False, False, True]


def test_a_mirrored_canary_asks_the_traffic_gate_only_when_shifting_real_traffic() -> None:
    spec = make_spec(mirror=True, webhooks=[hook("traffic", "confirm-traffic-increase")])
    cluster = started(spec)
    cluster.tick()
    cluster.tick()  # mirror on: asked (not mirrored yet)
    assert cluster.calls_of(WebhookType.CONFIRM_TRAFFIC_INCREASE, decisions=1) != []
    cluster.tick()  # mirrored -> weight 10: not asked, as in Flagger
    assert cluster.calls_of(WebhookType.CONFIRM_TRAFFIC_INCREASE, decisions=1) == []
    assert cluster.weights == (90, 10)
    cluster.tick()  # 10 -> 20: asked again
    assert cluster.calls_of(WebhookType.CONFIRM_TRAFFIC_INCREASE, decisions=1) != []


def test_a_mirrored_canary_counts_failed_checks_on_shadowed_traffic() -> None:
    cluster = started(make_spec(mirror=True, threshold=1),
                      metrics=lambda _: measured(success_rate=12.0))
    cluster.run_until(in_phase(Phase.FAILED))
    assert cluster.weights == (100, 0)
    assert not cluster.mirrored
    assert max(d.status.canary_weight for d in cluster.decisions) == 0


def test_a_mirrored_canary_stays_within_max_weight() -> None:
    cluster = started(make_spec(mirror=True, stepWeight=30, maxWeight=50))
    run = cluster.run_until(in_phase(Phase.PROMOTING))
    weights = [a.canary for d in run for a in d.actions if isinstance(a, SetWeights)]
    assert weights == [0, 30, 50]
