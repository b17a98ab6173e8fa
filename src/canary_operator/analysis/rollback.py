"""Ending an analysis badly: rollback to the primary, or a promotion that cannot finish."""

from __future__ import annotations

from collections.abc import Iterable

from canary_operator.analysis import events
from canary_operator.analysis.affinity import with_affinity
from canary_operator.analysis.decision import (
    Action,
    Alert,
    Decision,
    Event,
    ScaleTargetToZero,
    SetWeights,
)
from canary_operator.analysis.reasons import Reason
from canary_operator.analysis.tick import Tick
from canary_operator.api.status import Phase


def rollback(tick: Tick, reason: str, code: Reason, why: Iterable[Event],
             alert: Alert) -> Decision:
    """All traffic to the primary, the target to zero, phase Failed (flagger.md §2.2
    step 27). failedChecks is kept, so the status still says how it ended."""
    return tick.record(
        with_affinity(tick.analysis, tick.enter(Phase.FAILED), 0), reason, code,
        actions=(SetWeights(100, 0), ScaleTargetToZero(), *tick.post_rollout(Phase.FAILED)),
        events=(*why, events.canary_failed(tick.target)), step=True, alerts=(alert,),
    )


def threshold_reached(tick: Tick) -> Decision:
    failed = tick.status.failed_checks
    return rollback(
        tick, f"{failed} failed checks reached the threshold of {tick.threshold}: rolling back",
        Reason.FAILED_CHECKS_THRESHOLD, (events.threshold_reached(tick.canary, failed),),
        events.alert_threshold(failed),
    )


def canary_deadline_exceeded(tick: Tick) -> Decision:
    message = events.canary_not_ready_text(tick.target, tick.seen.canary.message)
    return rollback(
        tick, f"{message}: progress deadline exceeded, rolling back",
        Reason.PROGRESS_DEADLINE_EXCEEDED, (events.deadline_exceeded(tick.canary, message),),
        events.alert_deadline(message),
    )


def checks_unavailable_too_long(tick: Tick, errors: str, held: float,
                                deadline: int) -> Decision:
    """The metric provider has not answered for longer than progressDeadlineSeconds: the
    canary is neither promoted blind nor left holding its weight for ever."""
    message = (f"the metric checks have been unavailable for {held:.0f}s, longer than "
               f"progressDeadlineSeconds ({deadline}s): {errors}")
    return rollback(
        tick, f"{message}: rolling back", Reason.CHECKS_UNAVAILABLE_TOO_LONG,
        (events.deadline_exceeded(tick.canary, message),), events.alert_deadline(message),
    )


def manual_rollback(tick: Tick) -> Decision:
    """A rollback hook answered 2xx: roll back now (Flagger's `rollback` webhook)."""
    return rollback(
        tick, "a rollback webhook asked for it: rolling back", Reason.MANUAL_ROLLBACK,
        (events.manual_rollback(tick.canary),), events.MANUAL_ROLLBACK_ALERT,
    )


def promotion_failed(tick: Tick) -> Decision:
    """The primary did not finish its rollout in time while promoting.

    Flagger 1.44 routes all traffic to the canary. We do that only when the canary is
    ready: it runs the analysed spec at full size and is the side that can serve. When
    the canary is not ready either, the routes are left as they are, since moving
    traffic between two unready sides cannot help. The canary is never scaled down here.
    """
    seen = tick.seen
    why = events.primary_not_ready_text(tick.primary, seen.primary.message)
    failed = tick.enter(Phase.FAILED)
    halt = events.promotion_failed(tick.canary, seen.primary.message)
    if seen.canary.ready:
        actions: tuple[Action, ...] = (SetWeights(0, 100),)
        return tick.record(
            failed.model_copy(update={"canary_weight": 100}),
            f"{why}: promotion failed, routing all traffic to the ready canary {tick.target}",
            Reason.PROMOTION_FAILED, actions=(*actions, *tick.post_rollout(Phase.FAILED)),
            events=(halt, events.normal(events.ROUTING_ALL_TO_CANARY)), step=True,
            alerts=(events.alert_promotion_failed(seen.primary.message),),
        )
    weight = seen.weights[1] if seen.weights is not None else tick.status.canary_weight
    return tick.record(
        failed.model_copy(update={"canary_weight": weight}),
        f"{why}: promotion failed; the canary is not ready either, the routes stay as they are",
        Reason.PROMOTION_FAILED, events=(halt,), step=True,
        actions=tick.post_rollout(Phase.FAILED),
        alerts=(events.alert_promotion_failed(seen.primary.message),),
    )
