"""Ending an analysis well: copy the template, move traffic back, scale the canary down."""

from __future__ import annotations

from canary_operator.analysis import events
from canary_operator.analysis.affinity import with_affinity
from canary_operator.analysis.decision import (
    Decision,
    Event,
    PromoteTemplate,
    ScaleTargetToZero,
    SetWeights,
)
from canary_operator.analysis.gates import muted, refused
from canary_operator.analysis.lifecycle import primary_not_ready
from canary_operator.analysis.reasons import Reason
from canary_operator.analysis.rollback import promotion_failed
from canary_operator.analysis.schedule import due_in
from canary_operator.analysis.steps import next_promotion_weight
from canary_operator.analysis.tick import Tick
from canary_operator.api.canary import WebhookType
from canary_operator.api.status import CanaryStatus, Phase


def start_promotion(tick: Tick, status: CanaryStatus, weight: int, passed: str, *,
                    confirmed: bool = False) -> Decision:
    """The analysis is done (maxWeight reached, or the iterations): once the
    confirm-promotion hooks agree, copy the target's template to the primary."""
    approved: list[Event] = []
    if not confirmed:
        waiting = promotion_refused(tick, status, passed)
        if waiting is not None:
            return waiting
        approved = [events.hook_passed("confirm-promotion", hook.name) for hook in
                    tick.hooks(WebhookType.CONFIRM_PROMOTION, Phase.PROGRESSING)]
    promoting = tick.enter(Phase.PROMOTING, status.model_copy(update={"canary_weight": weight}))
    iterations = tick.analysis.iterations if tick.analysis else None
    done = (f"{iterations} iterations done" if iterations
            else f"canary weight {weight} reached maxWeight {tick.max_weight}")
    return tick.record(
        promoting, f"{passed}; {done}: promoting {tick.target} to {tick.primary}",
        Reason.PROMOTING, actions=(PromoteTemplate(tick.seen.target_hash),),
        events=(*approved, events.copying_template(tick.target, tick.primary)), step=True,
    )


def promotion_refused(tick: Tick, status: CanaryStatus, passed: str) -> Decision | None:
    """WaitingPromotion while a confirm-promotion hook refuses; None once all agree.
    The analysis goes on meanwhile: each interval runs the checks again."""
    closed = refused(tick.hooks(WebhookType.CONFIRM_PROMOTION, Phase.PROGRESSING))
    if not closed:
        return None
    entering = tick.status.phase is not Phase.WAITING_PROMOTION
    alerts = ((events.WAITING_PROMOTION_ALERT,) if entering and not muted(
        tick.spec, WebhookType.CONFIRM_PROMOTION, closed) else ())
    names = ", ".join(f"{hook.name} ({hook.message})" for hook in closed)
    return tick.record(
        tick.enter(Phase.WAITING_PROMOTION, status),
        f"{passed}; waiting for promotion approval: {names}", Reason.WAITING_FOR_PROMOTION,
        events=(events.waiting_for_promotion(tick.canary, closed[0].name),),
        alerts=alerts, step=True,
    )


def finish(tick: Tick) -> Decision:
    """Promoting: once the primary runs the new template, move traffic back to it.
    Finalising: scale the canary down; Succeeded."""
    wait = due_in(tick.spec, tick.status, tick.seen.now)
    if wait > 0:
        return tick.hold(f"next step of {tick.canary} is due in {wait:.0f}s")
    seen = tick.seen
    if not (seen.primary_exists and seen.primary.ready):
        if seen.primary_exists and not seen.primary.retriable:
            return promotion_failed(tick)
        return primary_not_ready(tick, f"promotion of {tick.target}")
    if tick.status.phase is Phase.FINALISING:
        return tick.record(
            tick.enter(Phase.SUCCEEDED), f"promotion of {tick.target} finished: scaling it down",
            Reason.SUCCEEDED, actions=(ScaleTargetToZero(), *tick.post_rollout(Phase.SUCCEEDED)),
            events=(events.promotion_completed(tick.target),), step=True,
            alerts=(events.SUCCEEDED_ALERT,),
        )
    weight = next_promotion_weight(tick.analysis, tick.status.canary_weight)
    if weight > 0:
        return tick.record(
            with_affinity(tick.analysis, tick.with_fields(canary_weight=weight), weight),
            f"{tick.primary} is ready: moving traffic back, canary weight {weight}",
            Reason.PRIMARY_WEIGHT_ADVANCED, actions=(SetWeights(100 - weight, weight),),
            events=(events.primary_weight_advanced(tick.canary, 100 - weight),), step=True,
        )
    event = (events.primary_weight_advanced(tick.canary, 100)
             if tick.analysis is not None and tick.analysis.step_weight_promotion
             else events.normal(events.ROUTING_ALL_TO_PRIMARY))
    return tick.record(
        with_affinity(tick.analysis, tick.enter(Phase.FINALISING), 0),
        f"{tick.primary} is ready: routing all traffic to it",
        Reason.FINALISING, actions=(SetWeights(100, 0),), events=(event,), step=True,
    )


def skip_analysis(tick: Tick) -> Decision:
    """skipAnalysis (or no analysis): promote at once, once the canary is ready."""
    return tick.record(
        tick.enter(Phase.SUCCEEDED),
        f"analysis skipped: promoting {tick.target} to {tick.primary} and scaling it down",
        Reason.ANALYSIS_SKIPPED,
        actions=(SetWeights(100, 0), PromoteTemplate(tick.seen.target_hash), ScaleTargetToZero(),
                 *tick.post_rollout(Phase.SUCCEEDED)),
        events=(events.analysis_skipped(tick.target),), step=True,
        alerts=(events.SKIPPED_ALERT,),
    )
