"""Progressing: one step of the analysis per interval (flagger.md §2.2, 16-25).

A tick that reaches the metric checks returns `ChecksDue`; `judge` finishes it with the
results, and `step_after_checks` takes the strategy's next step: a weight step for a
canary, an iteration for blue/green and A/B testing, or the promotion.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from canary_operator.analysis import events
from canary_operator.analysis.affinity import with_affinity
from canary_operator.analysis.checks import CheckResult, Outcome, run_checks
from canary_operator.analysis.decision import Decision, Event, SetWeights
from canary_operator.analysis.gates import muted, refused
from canary_operator.analysis.history import with_history
from canary_operator.analysis.lifecycle import primary_not_ready, strategy_not_supported
from canary_operator.analysis.observation import HookResult, MetricObservation
from canary_operator.analysis.promotion import skip_analysis, start_promotion
from canary_operator.analysis.reasons import Reason
from canary_operator.analysis.rollback import (
    canary_deadline_exceeded,
    checks_unavailable_too_long,
    manual_rollback,
    threshold_reached,
)
from canary_operator.analysis.schedule import due_in
from canary_operator.analysis.steps import Strategy, has_schedule, next_canary_weight, strategy_of
from canary_operator.analysis.strategies import ab_testing_step, blue_green_step
from canary_operator.analysis.tick import Tick
from canary_operator.api.canary import WebhookType
from canary_operator.api.status import CanaryStatus, Phase


@dataclass(frozen=True)
class ChecksDue:
    """The tick has reached the metric checks; `judge` finishes it with the results
    (and `events` before its own)."""

    tick: Tick
    events: tuple[Event, ...] = ()


def analyse(tick: Tick) -> Decision | ChecksDue:
    """One tick of the analysis, in Flagger's order. With `tick.approval` (a promote
    command) the step is taken without waiting for the interval and without checks,
    but only where the checks would have run: a new revision restarts, the threshold
    rolls back, and an unready canary or primary is waited for as on any tick."""
    seen, status = tick.seen, tick.status
    if seen.target_hash != status.last_applied_spec:
        return restart(tick)
    wait = due_in(tick.spec, status, seen.now)
    if wait > 0 and tick.approval is None:
        return tick.hold(f"next step of {tick.canary} is due in {wait:.0f}s")
    if status.failed_checks >= tick.threshold:
        return threshold_reached(tick)
    if not tick.skipped and not (seen.primary_exists and seen.primary.ready):
        return primary_not_ready(tick, f"analysis of {tick.target}")
    if not seen.canary.ready:
        if not seen.canary.retriable:
            return canary_deadline_exceeded(tick)
        why = events.canary_not_ready_text(tick.target, seen.canary.message)
        return tick.record(status, why, Reason.CANARY_NOT_READY, events=(events.warning(why),))
    if tick.skipped:
        return skip_analysis(tick)
    # After the readiness checks (Flagger's step 19), so they are not called on every
    # poll while a rollout is awaited.
    if any(result.ok for result in tick.hooks(WebhookType.ROLLBACK, _payload_phase(tick))):
        return manual_rollback(tick)
    if not has_schedule(tick.analysis):
        return strategy_not_supported(tick)
    approval = tick.approval
    if approval is not None and approval.full:
        return start_promotion(tick, status, current_weight(tick), f"promoted by {approval.by}",
                               confirmed=True)
    if _first_step(tick):
        return first_step(tick)
    if approval is not None:
        return step_after_checks(tick, status, f"promoted by {approval.by}")
    return ChecksDue(tick)


def _first_step(tick: Tick) -> bool:
    """Flagger's first step: no canary traffic to measure yet, so no metric checks
    (with mirroring, the step that turned mirroring on was the first)."""
    analysis = tick.analysis
    mirroring = bool(analysis and analysis.mirror) and tick.seen.mirrored
    return current_weight(tick) == 0 and tick.status.iterations == 0 and not mirroring


def first_step(tick: Tick) -> Decision:
    """Start the analysis: the traffic-increase gate first (so a closed gate does not
    run the pre-rollout hooks again on every tick, fluxcd/flagger#1248), then the
    pre-rollout and rollout hooks, then the strategy's first step."""
    strategy = strategy_of(tick.analysis)
    if strategy is Strategy.CANARY:
        waiting = _traffic_increase_refused(tick, tick.status, "starting the analysis")
        if waiting is not None:
            return waiting
    pre_rollout = tick.hooks(WebhookType.PRE_ROLLOUT, Phase.PROGRESSING)
    # A refusing pre-rollout hook ends the path: the rollout hooks are not called then.
    rollout = () if refused(pre_rollout) else tick.hooks(WebhookType.ROLLOUT, Phase.PROGRESSING)
    halts = [events.pre_rollout_failed(tick.canary, result.name, result.message)
             for result in refused(pre_rollout)]
    halts += [events.external_check_failed(tick.canary, result.name, result.message)
              for result in refused(rollout)]
    if halts:
        count = tick.status.failed_checks + 1
        return tick.record(
            tick.enter(Phase.PROGRESSING, tick.with_fields(failed_checks=count)),
            f"{_hook_summary(refused(pre_rollout) + refused(rollout))}: failed check "
            f"{count}/{tick.threshold}", Reason.PRE_ROLLOUT_FAILED, events=halts, step=True)
    started = (events.analysis_started(tick.target),
               *(events.hook_passed("pre-rollout", result.name) for result in pre_rollout))
    passed = f"starting the analysis of {tick.target}"
    if strategy is Strategy.BLUE_GREEN:
        return blue_green_step(tick, tick.status, passed, started)
    if strategy is Strategy.AB_TESTING:
        return ab_testing_step(tick, tick.status, passed, started)
    if tick.analysis is not None and tick.analysis.mirror:
        return advance(tick, tick.status, 0, f"{passed}: mirroring traffic to the canary",
                       started, mirror=True)
    return advance(tick, tick.status, 0, passed, started)


def judge(tick: Tick, measured: Sequence[MetricObservation] | None) -> Decision:
    """Finish a tick at the checks: count a failed check, hold on provider errors, or
    take the next step."""
    metrics = tick.analysis.metrics if tick.analysis and tick.analysis.metrics else []
    results = run_checks(metrics, measured or ())
    hooks = refused(tick.hooks(WebhookType.ROLLOUT, Phase.PROGRESSING))
    errors = [result for result in results if result.outcome is Outcome.ERROR]
    now = tick.seen.now
    unavailable = (tick.status.checks_unavailable_since or now) if errors else None
    status = with_history(tick.with_fields(checks=[result.to_status() for result in results],
                                           checks_unavailable_since=unavailable),
                          results, now, tick.seen.history_limit)
    halts = [events.external_check_failed(tick.canary, hook.name, hook.message)
             for hook in hooks]
    halts += [events.check_halted(tick.canary, tick.target, result)
              for result in results if result.outcome is not Outcome.PASS]
    failed = [result.summary for result in results if result.counts_as_failed]
    if failed or hooks:
        count = status.failed_checks + 1
        return tick.record(
            status.model_copy(update={"failed_checks": count}),
            f"{'; '.join([*failed, _hook_summary(hooks)] if hooks else failed)}: "
            f"failed check {count}/{tick.threshold}",
            Reason.CHECKS_FAILED, events=halts, step=True,
        )
    if unavailable is not None:
        held = (now - unavailable).total_seconds()
        deadline = tick.spec.progress_deadline_seconds
        if held > deadline:
            return checks_unavailable_too_long(
                dataclasses.replace(tick, status=status), _summaries(errors), held, deadline)
        return tick.record(
            status, f"{_summaries(errors)}: holding, not counted as a failed check "
                    f"(unavailable for {held:.0f}s of the {deadline}s progressDeadlineSeconds "
                    "allows)",
            Reason.CHECKS_UNAVAILABLE, events=halts, step=True,
        )
    return step_after_checks(tick, status, _summaries(results) if results
                             else "no metrics to check")


def step_after_checks(tick: Tick, status: CanaryStatus, passed: str) -> Decision:
    strategy = strategy_of(tick.analysis)
    if strategy is Strategy.BLUE_GREEN:
        return blue_green_step(tick, status, passed)
    if strategy is Strategy.AB_TESTING:
        return ab_testing_step(tick, status, passed)
    weight = current_weight(tick)
    if weight >= tick.max_weight:
        return start_promotion(tick, status, weight, passed)
    if not (tick.analysis is not None and tick.analysis.mirror and weight == 0):
        waiting = _traffic_increase_refused(tick, status, passed)
        if waiting is not None:
            return waiting
    return advance(tick, status, weight, passed)


def _traffic_increase_refused(tick: Tick, status: CanaryStatus, passed: str
                              ) -> Decision | None:
    answers = tick.hooks(WebhookType.CONFIRM_TRAFFIC_INCREASE, Phase.PROGRESSING)
    closed = refused(answers)
    if not closed:
        return None
    entering = tick.status.phase is not Phase.WAITING_TRAFFIC_INCREASE
    alerts = ((events.WAITING_TRAFFIC_ALERT,) if entering and not muted(
        tick.spec, WebhookType.CONFIRM_TRAFFIC_INCREASE, closed) else ())
    return tick.record(
        tick.enter(Phase.WAITING_TRAFFIC_INCREASE, status),
        f"{passed}; waiting for traffic increase approval: {_hook_summary(closed)}",
        Reason.WAITING_FOR_TRAFFIC_INCREASE,
        events=(events.waiting_for_traffic_increase(tick.canary, closed[0].name),),
        alerts=alerts, step=True,
    )


def _payload_phase(tick: Tick) -> Phase:
    """The phase hooks are told: WaitingTrafficIncrease is ours, Flagger says Progressing."""
    phase = tick.status.phase
    return Phase.PROGRESSING if phase is Phase.WAITING_TRAFFIC_INCREASE else phase


def restart(tick: Tick) -> Decision:
    """A new revision during the analysis: back to weight 0 and start over.

    Any change of the target's template restarts, even one back to the primary's spec
    (analysing it again is harmless; abandoning the analysis half-way would leave the
    traffic split without an owner).
    """
    status = tick.enter(Phase.PROGRESSING, tick.with_fields(
        **tick.revision(), failed_checks=0, canary_weight=0, iterations=0, checks=[],
        checks_unavailable_since=None))
    return tick.record(
        with_affinity(tick.analysis, status, 0),
        f"new revision of {tick.target} during the analysis: restarting at weight 0",
        Reason.ANALYSIS_RESTARTED, actions=(SetWeights(100, 0),),
        events=(events.analysis_restarted(tick.target),), step=True,
    )


def advance(tick: Tick, status: CanaryStatus, weight: int, passed: str,
            started: Sequence[Event] = (), *, mirror: bool = False) -> Decision:
    """The next weight step (or, with `mirror`, the step that only shadows traffic)."""
    weight_after = weight if mirror else next_weight(tick, weight)
    moved = tick.enter(Phase.PROGRESSING, status.model_copy(
        update={"canary_weight": weight_after}))
    return tick.record(
        with_affinity(tick.analysis, moved, weight_after),
        f"{passed}; canary weight {weight} -> {weight_after}" + (" mirrored" if mirror else ""),
        Reason.ANALYSIS_STARTED if started else Reason.ADVANCED,
        actions=(SetWeights(100 - weight_after, weight_after, mirror=mirror),),
        events=(*started, events.canary_weight_advanced(tick.canary, weight_after)),
        step=True,
    )


def current_weight(tick: Tick) -> int:
    """The canary weight the analysis is at. WaitingPromotion is reached only at
    maxWeight (a status written by Flagger, or by us before, has 0 there)."""
    if (tick.status.phase is Phase.WAITING_PROMOTION
            and strategy_of(tick.analysis) is Strategy.CANARY):
        return max(tick.status.canary_weight, tick.max_weight)
    return tick.status.canary_weight


def next_weight(tick: Tick, weight: int) -> int:
    return next_canary_weight(tick.analysis, weight) if tick.analysis else weight


def _summaries(results: Sequence[CheckResult]) -> str:
    return "; ".join(result.summary for result in results)


def _hook_summary(results: Sequence[HookResult]) -> str:
    return "; ".join(f"webhook {result.name} refused ({result.message})" for result in results)
