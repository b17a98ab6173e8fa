"""`decide`: one tick of one Canary, from its spec, its status and what was seen.

The order follows Flagger's `advanceCanary` (flagger.md §2.2): suspend, initialise,
detect a new revision, then per phase. All state lives in the status, and every step
after initialisation is taken at most once per analysis interval (measured from
`status.lastStepTime`), so deciding again on the resulting status with the same
observation changes nothing: a restart never repeats a step, a promotion or a count.
"""

from __future__ import annotations

import dataclasses

from canary_operator.analysis import events
from canary_operator.analysis.commands import carry_out, paused, pending_command, resumed
from canary_operator.analysis.decision import Decision, InitializeTargets
from canary_operator.analysis.gates import HookCall, HooksNeeded
from canary_operator.analysis.lifecycle import idle, initialize, target_missing
from canary_operator.analysis.observation import Observation
from canary_operator.analysis.phases import ANALYSING, IDLE, INITIALIZING, PROMOTING
from canary_operator.analysis.progress import ChecksDue, analyse, judge
from canary_operator.analysis.promotion import finish
from canary_operator.analysis.reasons import Reason
from canary_operator.analysis.tick import Tick
from canary_operator.api.canary import CanarySpec
from canary_operator.api.status import CanaryStatus


def decide(spec: CanarySpec, status: CanaryStatus | None, observation: Observation) -> Decision:
    """The Decision for this tick. The Canary's name and namespace come in the
    Observation; time is `observation.now`; metric results are `observation.metrics`
    (measured only when `needs_metrics` said so) and hook answers `observation.hooks`
    (called only when `pending_hooks` asked for them)."""
    tick = Tick(spec, status or CanaryStatus(), observation)
    try:
        return _unblocked(tick, _decide(tick))
    except HooksNeeded as needed:
        return tick.hold(f"waiting for the {needed.call.type.value} webhooks of {tick.canary}",
                         )


def blocked(status: CanaryStatus | None, problem: str) -> CanaryStatus:
    """The status to write when the operator could not observe or act on a Canary (an API
    error, a missing object, a spec the operator cannot read): the reason `Blocked` and
    the problem, everything else as it was, so the next tick resumes from there."""
    return (status or CanaryStatus()).model_copy(
        update={"reason": Reason.BLOCKED.value, "message": problem})


def _unblocked(tick: Tick, decision: Decision) -> Decision:
    """The first tick that gets through after a problem says so, even when it only holds:
    a problem that went away must not stay in the status of an idle Canary."""
    if tick.status.reason != Reason.BLOCKED.value or decision.status.reason != tick.status.reason:
        return decision
    return dataclasses.replace(decision, status=decision.status.model_copy(
        update={"reason": Reason.UNBLOCKED.value, "message": decision.reason}))


def needs_metrics(
    spec: CanarySpec, status: CanaryStatus | None, observation_without_metrics: Observation
) -> bool:
    """Whether this tick runs the metric checks, so the provider is queried only then
    (hooks asked for before the checks are called first)."""
    try:
        plan = _plan(Tick(spec, status or CanaryStatus(), observation_without_metrics))
    except HooksNeeded:
        return False
    return isinstance(plan, ChecksDue) and bool(spec.analysis and spec.analysis.metrics)


def pending_hooks(spec: CanarySpec, status: CanaryStatus | None,
                  observation: Observation) -> HookCall | None:
    """The webhooks this tick must call before it can decide, one type at a time; None
    when the Observation holds every answer the decision needs."""
    try:
        _decide(Tick(spec, status or CanaryStatus(), observation))
    except HooksNeeded as needed:
        return needed.call
    return None


def _decide(tick: Tick) -> Decision:
    plan = _plan(tick)
    if not isinstance(plan, ChecksDue):
        return _with_repair(tick, plan)
    judged = judge(plan.tick, tick.seen.metrics)
    return _with_repair(tick, dataclasses.replace(judged, events=(*plan.events, *judged.events)))


def _plan(tick: Tick) -> Decision | ChecksDue:
    seen = tick.seen
    if tick.spec.suspend:
        return tick.hold(events.SUSPENDED, events=(events.normal(events.SUSPENDED),))
    phase = tick.status.phase
    if phase in INITIALIZING:
        return initialize(tick)
    if phase not in _RUNNING:
        return tick.hold(f"{tick.canary} is {phase.value}: the finalizer owns it")
    if not seen.target_exists or seen.target_hash is None:
        return target_missing(tick)
    command = pending_command(tick)
    if command is not None:
        return carry_out(tick, command)
    if seen.paused_by is not None:
        return paused(tick)
    if tick.status.reason == Reason.PAUSED.value:
        return resumed(tick, _plan(_unpaused(tick)))
    if phase in IDLE:
        return idle(tick)
    if phase in ANALYSING:
        return analyse(tick)
    return finish(tick)


def _with_repair(tick: Tick, decision: Decision) -> Decision:
    """Recreate the primary or the routes when they went missing after initialisation;
    InitializeTargets never changes existing weights, so this is safe on any tick."""
    seen = tick.seen
    if (tick.spec.suspend or tick.status.phase not in _RUNNING or not seen.target_exists
            or (seen.primary_exists and seen.weights is not None)):
        return decision
    gone = [name for name, missing in ((tick.primary, not seen.primary_exists),
                                       ("the routes", seen.weights is None)) if missing]
    return dataclasses.replace(
        decision, actions=(InitializeTargets(with_routing=True), *decision.actions),
        reason=f"{decision.reason}; recreating {' and '.join(gone)}",
    )


def _unpaused(tick: Tick) -> Tick:
    """The tick on a status no longer marked Paused (written even if nothing else moves)."""
    who = tick.seen.resumed_by or "an unknown user"
    return dataclasses.replace(tick, status=tick.status.model_copy(
        update={"reason": None, "message": f"resumed by {who}"}))


_RUNNING = IDLE | ANALYSING | PROMOTING
