"""Promoting -> Finalising -> Succeeded, and promotions that cannot finish."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from canary_operator.analysis import (
    Observation,
    PromoteTemplate,
    ScaleTargetToZero,
    SetWeights,
    decide,
    needs_metrics,
)
from canary_operator.api import CanaryStatus, Phase
from tests.unit.test_analysis_helpers import ROLLING, STUCK, T0, make_spec, observe, status_in


def promoting(weight: int = 50, **fields: Any) -> CanaryStatus:
    return status_in(Phase.PROMOTING, weight=weight, **fields)


def seen(weights: tuple[int, int] = (50, 50), **fields: Any) -> Observation:
    return observe(**{"target_hash": "v2", "target_replicas": 2, "weights": weights, **fields})


def test_ready_primary_gets_all_traffic_back() -> None:
    decision = decide(make_spec(), promoting(), seen())
    assert decision.actions == (SetWeights(100, 0),)
    assert [event.message for event in decision.events] == ["Routing all traffic to primary"]
    assert decision.status.phase is Phase.FINALISING
    assert decision.status.canary_weight == 0
    (condition,) = decision.status.conditions or []
    assert condition.message == "Canary analysis completed, routing all traffic to primary."


def test_promoting_never_measures_metrics() -> None:
    assert not needs_metrics(make_spec(), promoting(), seen())


def test_promoting_waits_for_the_primary_rollout() -> None:
    decision = decide(make_spec(), promoting(), seen(primary=ROLLING))
    assert decision.actions == ()
    assert decision.status.phase is Phase.PROMOTING
    assert decision.status.reason == "PrimaryNotReady"
    assert decision.events[0].type == "Warning"


def test_finalising_scales_the_canary_down_and_succeeds() -> None:
    status = status_in(Phase.FINALISING, applied="v2", promoted="v1")
    decision = decide(make_spec(), status, seen(weights=(100, 0)))
    assert decision.actions == (ScaleTargetToZero(),)
    assert [event.message for event in decision.events] == [
        "Promotion completed! Scaling down podinfo.test"]
    assert decision.status.phase is Phase.SUCCEEDED
    assert decision.status.last_promoted_spec == "v2"
    (condition,) = decision.status.conditions or []
    assert (condition.status, condition.message) == (
        "True", "Canary analysis completed successfully, promotion finished.")


def test_stuck_primary_with_a_ready_canary_routes_everything_to_the_canary() -> None:
    decision = decide(make_spec(), promoting(), seen(primary=STUCK))
    assert decision.actions == (SetWeights(0, 100),)
    assert decision.status.phase is Phase.FAILED
    assert decision.status.canary_weight == 100
    assert [event.message for event in decision.events] == [
        f"Promotion of podinfo.test failed, primary not ready: {STUCK.message}",
        "Routing all traffic to canary",
    ]
    assert not any(isinstance(action, ScaleTargetToZero) for action in decision.actions)


def test_stuck_primary_beside_an_unready_canary_leaves_the_routes_alone() -> None:
    decision = decide(make_spec(), promoting(), seen(primary=STUCK, canary=ROLLING))
    assert decision.actions == ()
    assert decision.status.phase is Phase.FAILED
    assert decision.status.canary_weight == 50


def test_failed_finalising_routes_to_the_ready_canary_too() -> None:
    status = status_in(Phase.FINALISING)
    decision = decide(make_spec(), status, seen(weights=(100, 0), primary=STUCK))
    assert decision.actions == (SetWeights(0, 100),)


def test_step_weight_promotion_moves_traffic_back_in_steps() -> None:
    spec = make_spec(stepWeight=100, maxWeight=None, stepWeightPromotion=50)
    first = decide(spec, promoting(100), seen(weights=(0, 100)))
    assert first.actions == (SetWeights(50, 50),)
    assert [event.message for event in first.events] == ["Advance podinfo.test primary weight 50"]
    assert (first.status.phase, first.status.canary_weight) == (Phase.PROMOTING, 50)
    later = observe(T0 + timedelta(minutes=1), target_hash="v2", weights=(50, 50))
    second = decide(spec, first.status, later)
    assert second.actions == (SetWeights(100, 0),)
    assert [event.message for event in second.events] == [
        "Advance podinfo.test primary weight 100"]
    assert (second.status.phase, second.status.canary_weight) == (Phase.FINALISING, 0)


def test_promotion_steps_wait_an_interval() -> None:
    status = promoting(last_step=T0)
    decision = decide(make_spec(), status, seen())
    assert decision.status == status
    assert decision.actions == ()


def test_a_restart_in_promoting_never_copies_the_template_again() -> None:
    for primary in (ROLLING, STUCK, observe().primary):
        decision = decide(make_spec(), promoting(), seen(primary=primary))
        assert PromoteTemplate("v2") not in decision.actions


def test_a_new_revision_while_promoting_waits_for_the_promotion_to_finish() -> None:
    decision = decide(make_spec(), promoting(), seen(target_hash="v3"))
    assert decision.status.phase is Phase.FINALISING
    done = decide(make_spec(), status_in(Phase.FINALISING),
                  seen(target_hash="v3", weights=(100, 0)))
    assert done.status.phase is Phase.SUCCEEDED
    assert done.status.last_promoted_spec == "v2"
    next_run = decide(make_spec(), done.status,
                      observe(T0 + timedelta(minutes=1), target_hash="v3"))
    assert next_run.status.phase is Phase.PROGRESSING
    assert next_run.status.last_applied_spec == "v3"
