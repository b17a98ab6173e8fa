"""Before and between analyses: initialisation and new-revision detection."""

from __future__ import annotations

from canary_operator.analysis import events
from canary_operator.analysis.decision import (
    Action,
    Decision,
    InitializeTargets,
    ScaleTargetToZero,
    ScaleTargetUp,
    SetWeights,
)
from canary_operator.analysis.gates import muted, refused
from canary_operator.analysis.observation import HookResult
from canary_operator.analysis.reasons import Reason
from canary_operator.analysis.schedule import due_in
from canary_operator.analysis.steps import has_schedule
from canary_operator.analysis.tick import Tick
from canary_operator.api.canary import WebhookType
from canary_operator.api.status import CanaryStatus, Phase


def initialize(tick: Tick) -> Decision:
    """Phase "" or Initializing: clone the primary; once it is ready (or the analysis is
    skipped), route to it and scale the target to zero.

    Unlike Flagger, the apex Service and the routes are switched to the primary only
    once it is ready, and a primary past its deadline is waited for rather than rolled
    back: during initialisation the target is the only thing serving, so giving up
    would scale the application to zero.

    The hash of the template the primary is cloned from is kept in lastPromotedSpec
    from the tick that creates it. Should the target change before initialisation
    ends, the new template is then a new revision, analysed like any other, instead
    of being taken for the primary's.
    """
    seen = tick.seen
    if not seen.target_exists or seen.target_hash is None:
        return target_missing(tick, tick.enter(Phase.INITIALIZING))
    if seen.primary_exists and (tick.skipped or seen.primary.ready):
        cloned = tick.status.last_promoted_spec or seen.target_hash
        status = tick.enter(Phase.INITIALIZED, tick.with_fields(
            **tick.revision(), failed_checks=0))
        status = status.model_copy(update={"last_applied_spec": cloned,
                                           "last_promoted_spec": cloned})
        return tick.record(
            status, f"{tick.primary} is ready: routing to it and scaling {tick.target} to zero",
            Reason.INITIALIZED,
            actions=(InitializeTargets(with_routing=True), ScaleTargetToZero()),
            events=(events.initialization_done(tick.canary),), step=True,
            alerts=(events.alert_initialized(tick.kind),),
        )
    creating = (InitializeTargets(with_routing=False),)
    if not seen.primary_exists:
        status = tick.enter(Phase.INITIALIZING, tick.with_fields(
            last_promoted_spec=seen.target_hash))
        return tick.record(status, f"creating {tick.primary}", Reason.INITIALIZING,
                           actions=creating)
    status = tick.enter(Phase.INITIALIZING)
    why = events.primary_not_ready_text(tick.primary, seen.primary.message)
    if not seen.primary.retriable:
        why += f"; {tick.target} keeps serving until the primary is ready"
    return tick.record(status, why, Reason.INITIALIZING, actions=creating,
                       events=(events.warning(why),))


def idle(tick: Tick) -> Decision:
    """Initialized, Succeeded, Failed or Waiting: start an analysis on a new revision.

    A revision is new when its hash is neither the last applied spec nor the primary's.
    Returning the target to the primary's spec starts nothing, but is remembered as the
    applied spec, so re-applying the spec that was left starts an analysis again.
    """
    seen, status = tick.seen, tick.status
    if seen.target_hash == status.last_applied_spec:
        if status.phase is Phase.WAITING:
            return _withdrawn(tick)
        repaired = _routes_repaired(tick)
        if repaired is not None:
            return repaired
        return tick.hold(f"no new revision of {tick.target} ({status.phase.value or 'new'})")
    if seen.target_hash == status.last_promoted_spec:
        back = tick.with_fields(**tick.revision())
        if status.phase is Phase.WAITING:
            back = tick.enter(Phase.SUCCEEDED, back)
        return tick.record(back, f"{tick.target} is back at the spec of {tick.primary}: "
                                 "nothing to analyse", Reason.BACK_TO_PRIMARY_SPEC)
    if not tick.skipped and not has_schedule(tick.analysis):
        return strategy_not_supported(tick)
    if not tick.skipped and not (seen.primary_exists and seen.primary.ready):
        return primary_not_ready(tick, f"a new revision of {tick.target} waits")
    closed = refused(tick.hooks(WebhookType.CONFIRM_ROLLOUT))
    if closed:
        return _waiting_for_approval(tick, closed)

    actions: list[Action] = []
    if seen.weights != (100, 0):
        actions.append(SetWeights(100, 0))
    actions.append(ScaleTargetUp(canary_replicas(tick)))
    progressing = tick.enter(Phase.PROGRESSING, tick.with_fields(
        **tick.revision(), failed_checks=0, canary_weight=0, iterations=0, checks=[],
        checks_unavailable_since=None))
    approved = [events.hook_passed("confirm-rollout", hook.name)
                for hook in tick.hooks(WebhookType.CONFIRM_ROLLOUT)]
    return tick.record(
        progressing, f"new revision of {tick.target}: scaling it up to analyse it",
        Reason.NEW_REVISION, actions=actions,
        events=(*approved, events.new_revision(tick.target)), step=True,
        alerts=(events.NEW_REVISION_ALERT,),
    )


def _routes_repaired(tick: Tick) -> Decision | None:
    """Nothing runs, yet the routes are not where the last rollout left them (edited by
    hand, or by another tool): put them back. The weights belong to the analysis. Only
    once the last step is an interval old: right after a step the watch may still show
    the routes from before it."""
    seen, weight = tick.seen, tick.status.canary_weight
    expected = (100 - weight, weight)
    if seen.weights is None or (seen.weights == expected and not seen.mirrored):
        return None
    if due_in(tick.spec, tick.status, seen.now) > 0:
        return None
    why = (f"the routes of {tick.canary} were {seen.weights[0]}/{seen.weights[1]}"
           f"{' mirrored' if seen.mirrored else ''} while nothing runs: back to "
           f"{expected[0]}/{expected[1]}")
    return tick.record(tick.status, why, Reason.ROUTES_REPAIRED,
                       actions=(SetWeights(*expected),), events=(events.warning(why),))


def _withdrawn(tick: Tick) -> Decision:
    """Waiting, and the target went back to the revision applied before the one waiting
    for approval: nothing waits any more. Back to how that revision ended."""
    status = tick.status
    ended = (Phase.FAILED if status.last_applied_spec != status.last_promoted_spec
             else Phase.SUCCEEDED)
    return tick.record(tick.enter(ended), f"the revision of {tick.target} waiting for "
                                          "approval was withdrawn: nothing to analyse",
                       Reason.BACK_TO_PRIMARY_SPEC)


def _waiting_for_approval(tick: Tick, closed: list[HookResult]) -> Decision:
    """Waiting: a confirm-rollout hook refuses the new revision; asked again each
    interval. Nothing is scaled up until it agrees."""
    entering = tick.status.phase is not Phase.WAITING
    alerts = ((events.WAITING_ALERT,) if entering and not muted(
        tick.spec, WebhookType.CONFIRM_ROLLOUT, closed) else ())
    names = ", ".join(f"{hook.name} ({hook.message})" for hook in closed)
    return tick.record(
        tick.enter(Phase.WAITING),
        f"new revision of {tick.target} waits for approval: {names}",
        Reason.WAITING_FOR_APPROVAL,
        events=(events.waiting_for_approval(tick.canary, closed[0].name),),
        alerts=alerts,
    )


def canary_replicas(tick: Tick) -> int:
    """Flagger's rule: the target's replicas if > 0; else the primary's when no
    autoscaler sizes it; else the autoscaler's minReplicas if > 1; else 1."""
    seen = tick.seen
    if seen.target_replicas:
        return seen.target_replicas
    if tick.spec.autoscaler_ref is None and seen.primary_replicas:
        return seen.primary_replicas
    if seen.autoscaler_min_replicas and seen.autoscaler_min_replicas > 1:
        return seen.autoscaler_min_replicas
    return 1


def target_missing(tick: Tick, status: CanaryStatus | None = None) -> Decision:
    why = f"Halt {tick.canary}: target {tick.kind} {tick.target} not found"
    return tick.record(tick.status if status is None else status, why,
                       Reason.TARGET_NOT_FOUND, events=(events.warning(why),))


def strategy_not_supported(tick: Tick) -> Decision:
    why = (f"Halt {tick.canary}: the analysis has neither analysis.stepWeight, "
           "analysis.stepWeights nor analysis.iterations; set stepWeight or stepWeights "
           "for a canary, iterations for blue/green (with analysis.match: A/B testing)")
    return tick.record(tick.status, why, Reason.STRATEGY_NOT_SUPPORTED,
                       events=(events.warning(why),))


def primary_not_ready(tick: Tick, what: str) -> Decision:
    """Wait for the primary: poll while it rolls out; past its deadline, hold and say so
    (an analysis never starts against, or scales down beside, a broken primary)."""
    seen = tick.seen
    message = seen.primary.message if seen.primary_exists else "not found"
    why = events.primary_not_ready_text(tick.primary, message)
    if seen.primary_exists and not seen.primary.retriable:
        return tick.record(tick.status, f"{what}: {why}; holding until it recovers",
                           Reason.PRIMARY_STUCK, events=(events.warning(why),))
    return tick.record(tick.status, f"{what}: {why}", Reason.PRIMARY_NOT_READY,
                       events=(events.warning(why),))
