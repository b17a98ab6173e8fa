"""`kubectl canary` commands: promote, promote --full, abort, retry, and pause.

A command is an annotation with an id; it is carried out once, and `status.lastCommand`
records its id, who gave it and what became of it, so a restart never repeats it. A
user's command stands in for the approval gates (they are the approver), never for
the readiness of the workloads nor for the failure threshold.

`promote` does not enter the state machine in the middle: it runs the tick's own
analysis (`progress.analyse`) with an `Approval`, which skips the interval and the checks
at the point where they would run. What that analysis decides settles the command: a
step (or, with `--full`, the promotion) is `Done`; waiting for a rollout keeps it pending,
so it is carried out as soon as the canary is ready; anything else (a rollback at the
threshold or the deadline, a new revision) stands, and the command is `Ignored` with why.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from canary_operator.analysis import events
from canary_operator.analysis.decision import Decision, Event
from canary_operator.analysis.lifecycle import idle
from canary_operator.analysis.observation import Command
from canary_operator.analysis.phases import ANALYSING
from canary_operator.analysis.progress import ChecksDue, analyse
from canary_operator.analysis.reasons import POLLING_REASONS, Reason
from canary_operator.analysis.rollback import rollback
from canary_operator.analysis.tick import Approval, Tick
from canary_operator.api.canary import WebhookType
from canary_operator.api.status import CommandStatus, Phase

_GATES = (WebhookType.CONFIRM_ROLLOUT, WebhookType.CONFIRM_TRAFFIC_INCREASE,
          WebhookType.CONFIRM_PROMOTION)
# What a promote is done with: the step it asked for was taken (or tried: a refusing
# pre-rollout hook counts a failed check, as on any first step).
_STEPPED = frozenset({Reason.ANALYSIS_STARTED, Reason.ADVANCED, Reason.ITERATION_ADVANCED,
                      Reason.ROUTED_TO_CANARY, Reason.PRE_ROLLOUT_FAILED, Reason.PROMOTING,
                      Reason.ANALYSIS_SKIPPED})
_PROMOTED = frozenset({Reason.PROMOTING, Reason.ANALYSIS_SKIPPED})


def pending_command(tick: Tick) -> Command | None:
    command = tick.seen.command
    last = tick.status.last_command
    if command is None or (last is not None and last.id == command.id):
        return None
    return command


def carry_out(tick: Tick, command: Command) -> Decision:
    """The Decision for a command not handled yet; `Ignored` when it does not apply."""
    who = command.user or "an unknown user"
    phase = tick.status.phase
    if command.action == "abort" and (phase in ANALYSING or phase is Phase.WAITING):
        decision = _abort(tick, who)
    elif command.action == "retry" and phase is Phase.FAILED:
        decision = _retry(tick, who)
    elif command.action in ("promote", "promote-full") and (
            phase in ANALYSING or phase is Phase.WAITING):
        return _promote(tick, command, who)
    else:
        return _ignored(tick, command, f"nothing to {command.action} in phase "
                                       f"{phase.value or 'new'}")
    if decision.status.reason == Reason.BACK_TO_PRIMARY_SPEC.value:
        return _ignored(tick, command, decision.reason)
    return _done(tick, command, decision)


def _outcome(tick: Tick, command: Command, outcome: Literal["Done", "Ignored"],
             message: str) -> CommandStatus:
    return CommandStatus(id=command.id, action=command.action, user=command.user,
                         outcome=outcome, message=message, time=tick.seen.now)


def _done(tick: Tick, command: Command, decision: Decision) -> Decision:
    done = _outcome(tick, command, "Done", decision.reason)
    return dataclasses.replace(
        decision, status=decision.status.model_copy(update={"last_command": done}))


def paused(tick: Tick) -> Decision:
    """Paused with `kubectl canary pause`: nothing moves until `resume`; the event is
    posted once, when the pause begins."""
    who = tick.seen.paused_by or "an unknown user"
    why = f"{tick.canary} paused by {who}: nothing moves until `kubectl canary resume`"
    first = tick.status.reason != Reason.PAUSED.value
    return tick.record(tick.status, why, Reason.PAUSED,
                       events=(events.normal(f"Paused {tick.canary} by {who}"),) if first else ())


def resumed(tick: Tick, plan: Decision | ChecksDue) -> Decision | ChecksDue:
    """The first tick after `resume`: whatever the tick decides anyway (on a status no
    longer marked Paused), with an event naming who resumed."""
    who = tick.seen.resumed_by or "an unknown user"
    event = events.normal(f"Resumed {tick.canary} by {who}")
    return dataclasses.replace(plan, events=(event, *plan.events))


def _gates_open(tick: Tick, approval: Approval | None = None) -> Tick:
    """The tick as if every approval gate had agreed: the user's command approves."""
    hooks = {**tick.seen.hooks, **{kind: () for kind in _GATES}}
    return dataclasses.replace(tick, seen=dataclasses.replace(tick.seen, hooks=hooks),
                               approval=approval)


def _abort(tick: Tick, who: str) -> Decision:
    decision = rollback(
        tick, f"aborted by {who}: rolling back", Reason.ABORTED,
        (events.warning(f"Rolling back {tick.canary}: aborted by {who}"),),
        events.aborted_alert(who),
    )
    # From Waiting the revision was never applied: record it, so it does not start again.
    return dataclasses.replace(decision, status=decision.status.model_copy(
        update=tick.revision()))


def _retry(tick: Tick, who: str) -> Decision:
    """Run the failed revision again, without touching the pod template (Flagger needs a
    template change for that: fluxcd/flagger#862, #1152)."""
    fresh = dataclasses.replace(tick, status=tick.status.model_copy(
        update={"last_applied_spec": None}))
    decision = idle(fresh)
    return dataclasses.replace(
        decision, reason=f"retry by {who}: {decision.reason}",
        events=(events.normal(f"Retrying {tick.target} by {who}"), *decision.events))


def _promote(tick: Tick, command: Command, who: str) -> Decision:
    """Approve. From Waiting the rollout starts (the canary is scaled up); while
    analysing, the analysis takes its next step now (with `full`, the promotion), once the
    workloads are ready. `--full` from Waiting stays pending through the canary's rollout,
    then promotes."""
    full = command.action == "promote-full"
    opened = _gates_open(tick, Approval(who, full))
    if tick.status.phase is Phase.WAITING:
        decision = idle(opened)
        if decision.status.reason == Reason.BACK_TO_PRIMARY_SPEC.value:
            return _ignored(tick, command, decision.reason)
        return decision if full else _done(tick, command, _named(decision, who, full))
    planned = analyse(opened)
    if isinstance(planned, ChecksDue):  # an approval never reaches the checks
        raise AssertionError(f"{command.action} reached the metric checks")
    code = planned.status.reason
    if code in (_PROMOTED if full else _STEPPED):
        return _done(tick, command, _named(planned, who, full))
    if code in POLLING_REASONS or planned.status == tick.status:
        return planned  # waiting for a rollout: the command stays pending
    return dataclasses.replace(planned, status=planned.status.model_copy(
        update={"last_command": _outcome(tick, command, "Ignored", planned.reason)}),
        events=(*planned.events, _ignored_event(command, planned.reason)))


def _named(decision: Decision, who: str, full: bool) -> Decision:
    text = "Promoted fully" if full else "Promoted"
    return dataclasses.replace(decision, events=(
        events.normal(f"{text} by {who}: {decision.reason}"), *decision.events))


def _ignored(tick: Tick, command: Command, why: str) -> Decision:
    return tick.record(
        tick.status.model_copy(
            update={"last_command": _outcome(tick, command, "Ignored", why)}),
        f"{command.action} by {command.user or 'an unknown user'} ignored: {why}",
        Reason.COMMAND_IGNORED, events=(_ignored_event(command, why),),
    )


def _ignored_event(command: Command, why: str) -> Event:
    return events.warning(f"{command.action} by {command.user or 'an unknown user'} "
                          f"ignored: {why}")
