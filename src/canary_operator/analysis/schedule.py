"""When the next tick is due: the analysis interval after the last step, sooner while a
rollout is awaited. Time always comes from the caller; nothing here reads a clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from canary_operator.analysis.phases import ACTIVE, INITIALIZING
from canary_operator.analysis.reasons import POLLING_REASONS, Reason
from canary_operator.api.base import parse_duration
from canary_operator.api.canary import DEFAULT_INTERVAL, CanarySpec
from canary_operator.api.status import CanaryStatus

# How soon to look again while waiting for a Deployment to become ready, at the latest:
# the operator wakes the Canary as soon as the watch shows the Deployment change, so this
# only bounds a missed event.
READINESS_POLL_SECONDS = 10.0
# Holds that took no step: overdue means "keep the cadence", not "run at once".
_HOLDING_REASONS = frozenset({
    Reason.PRIMARY_STUCK, Reason.STRATEGY_NOT_SUPPORTED, Reason.TARGET_NOT_FOUND,
    Reason.PAUSED,
})


def problem_backoff(spec: CanarySpec | None, problems: int, floor: float) -> float:
    """When to look again after `problems` ticks in a row ended on a problem: `floor` at
    first, doubling with each, up to the analysis interval, so a persistent problem is
    neither retried nor reported every second."""
    ceiling = max(floor, analysis_interval(spec) if spec is not None
                  else parse_duration(DEFAULT_INTERVAL))
    return float(min(ceiling, floor * 2 ** min(max(problems, 1) - 1, 30)))


def awaits_rollout(status: CanaryStatus) -> bool:
    """True while the Canary waits for its primary or canary Deployment to roll out
    (initialising included): a change of either is worth an immediate look."""
    return status.phase in INITIALIZING or status.reason in POLLING_REASONS


def analysis_interval(spec: CanarySpec) -> float:
    """The spec's analysis interval in seconds, unfloored (default 1m)."""
    return spec.analysis.interval_seconds if spec.analysis else parse_duration(DEFAULT_INTERVAL)


# A step taken late keeps its slot in the cadence, so that a busy moment (hundreds of
# Canaries stepping in the same second) does not push every later step back. Later than
# this fraction of the interval, the cadence starts again from the step's own time.
CADENCE_SLACK = 0.5


def step_time(spec: CanarySpec, status: CanaryStatus, now: datetime) -> datetime:
    """The time a step taken at `now` is recorded at: its slot, one interval after the
    last step, when it comes at most `CADENCE_SLACK` of an interval late; else `now`."""
    if status.last_step_time is None:
        return now
    interval = analysis_interval(spec)
    slot = status.last_step_time + timedelta(seconds=interval)
    late = (now - slot).total_seconds()
    return slot if 0 <= late <= interval * CADENCE_SLACK else now


def due_in(spec: CanarySpec, status: CanaryStatus, now: datetime) -> float:
    """Seconds until the next step is due (<= 0: due now).

    A tick that comes a little early (timer jitter) still counts: the tolerance is a
    tenth of the interval, at most one second.
    """
    if status.last_step_time is None:
        return 0.0
    interval = analysis_interval(spec)
    tolerance = min(1.0, interval / 10)
    return interval - tolerance - (now - status.last_step_time).total_seconds()


def seconds_until_next_tick(
    spec: CanarySpec, status: CanaryStatus | None, now: datetime, min_interval_seconds: float
) -> float:
    """How long the per-Canary loop sleeps before the next tick.

    One interval (floored at `min_interval_seconds`) after the last step; a short poll
    while initialising or waiting for a rollout; at once when a step is overdue (after
    a restart); the interval's cadence while idle or holding.
    """
    interval = max(analysis_interval(spec), min_interval_seconds)
    if spec.suspend:
        return interval
    if status is None or awaits_rollout(status):
        return min(interval, READINESS_POLL_SECONDS)
    active = status.phase in ACTIVE and status.reason not in _HOLDING_REASONS
    if status.last_step_time is None:
        return 0.0 if active else interval
    elapsed = max(0.0, (now - status.last_step_time).total_seconds())
    if elapsed < interval:
        return interval - elapsed
    if active:
        return 0.0
    return interval - (elapsed % interval)
