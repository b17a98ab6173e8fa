"""Progressing: one step of the canary analysis per interval (flagger.md §2.2, 16-25)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from canary_operator.analysis import events
from canary_operator.analysis.checks import CheckResult, Outcome, run_checks
from canary_operator.analysis.decision import Decision, SetWeights
from canary_operator.analysis.lifecycle import primary_not_ready, strategy_not_supported
from canary_operator.analysis.observation import MetricObservation
from canary_operator.analysis.promotion import skip_analysis, start_promotion
from canary_operator.analysis.reasons import Reason
from canary_operator.analysis.rollback import canary_deadline_exceeded, threshold_reached
from canary_operator.analysis.schedule import due_in
from canary_operator.analysis.steps import has_schedule, next_canary_weight
from canary_operator.analysis.tick import Tick
from canary_operator.api.status import CanaryStatus, Phase


@dataclass(frozen=True)
class ChecksDue:
    """The tick has reached the metric checks; `judge` finishes it with the results."""

    tick: Tick


def analyse(tick: Tick) -> Decision | ChecksDue:
    seen, status = tick.seen, tick.status
    if seen.target_hash != status.last_applied_spec:
        return restart(tick)
    wait = due_in(tick.spec, status, seen.now)
    if wait > 0:
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
    if not has_schedule(tick.analysis):
        return strategy_not_supported(tick)
    weight = current_weight(tick)
    if weight == 0 and status.iterations == 0 and next_weight(tick, 0) > 0:
        # Flagger's first step: traffic moves without metric checks (there is no
        # canary traffic to measure yet).
        return advance(tick, status, 0, f"starting the analysis of {tick.target}",
                       first=True)
    return ChecksDue(tick)


def judge(tick: Tick, measured: Sequence[MetricObservation] | None) -> Decision:
    """Finish a tick at the checks: count a failed check, hold on provider errors, or
    take the next step."""
    metrics = tick.analysis.metrics if tick.analysis and tick.analysis.metrics else []
    results = run_checks(metrics, measured or ())
    status = tick.with_fields(checks=[result.to_status() for result in results])
    halts = [events.check_halted(tick.canary, tick.target, result)
             for result in results if result.outcome is not Outcome.PASS]
    failed = [result for result in results if result.counts_as_failed]
    if failed:
        count = status.failed_checks + 1
        return tick.record(
            status.model_copy(update={"failed_checks": count}),
            f"{_summaries(failed)}: failed check {count}/{tick.threshold}",
            Reason.CHECKS_FAILED, events=halts, step=True,
        )
    errors = [result for result in results if result.outcome is Outcome.ERROR]
    if errors:
        return tick.record(
            status, f"{_summaries(errors)}: holding, not counted as a failed check",
            Reason.CHECKS_UNAVAILABLE, events=halts, step=True,
        )
    passed = _summaries(results) if results else "no metrics to check"
    weight = current_weight(tick)
    if weight >= tick.max_weight:
        return start_promotion(tick, status, weight, passed)
    return advance(tick, status, weight, passed)


def restart(tick: Tick) -> Decision:
    """A new revision during the analysis: back to weight 0 and start over.

    Any change of the target's template restarts, even one back to the primary's spec
    (analysing it again is harmless; abandoning the analysis half-way would leave the
    traffic split without an owner).
    """
    status = tick.enter(Phase.PROGRESSING, tick.with_fields(
        last_applied_spec=tick.seen.target_hash, failed_checks=0, canary_weight=0,
        iterations=0, checks=[]))
    return tick.record(
        status, f"new revision of {tick.target} during the analysis: restarting at weight 0",
        Reason.ANALYSIS_RESTARTED, actions=(SetWeights(100, 0),),
        events=(events.analysis_restarted(tick.target),), step=True,
    )


def advance(tick: Tick, status: CanaryStatus, weight: int, passed: str, *,
            first: bool = False) -> Decision:
    weight_after = next_weight(tick, weight)
    started = (events.analysis_started(tick.target),) if first else ()
    return tick.record(
        status.model_copy(update={"canary_weight": weight_after}),
        f"{passed}; canary weight {weight} -> {weight_after}",
        Reason.ANALYSIS_STARTED if first else Reason.ADVANCED,
        actions=(SetWeights(100 - weight_after, weight_after),),
        events=(*started, events.canary_weight_advanced(tick.canary, weight_after)),
        step=True,
    )


def current_weight(tick: Tick) -> int:
    """The canary weight the analysis is at. WaitingPromotion is reached only at
    maxWeight, although Flagger zeroes the status weight there."""
    if tick.status.phase is Phase.WAITING_PROMOTION:
        return max(tick.status.canary_weight, tick.max_weight)
    return tick.status.canary_weight


def next_weight(tick: Tick, weight: int) -> int:
    return next_canary_weight(tick.analysis, weight) if tick.analysis else weight


def _summaries(results: Sequence[CheckResult]) -> str:
    return "; ".join(result.summary for result in results)
