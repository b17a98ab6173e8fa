"""`kubectl canary promote|abort|retry|pause|resume`: annotations the operator honours.

The annotations are built by pure functions (`command_annotations`, `pause_annotations`,
`resume_annotations`); `give_command` writes one and waits for the operator's answer in
`status.lastCommand`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kubernetes import client

from canary_operator.api.commands import (
    ANNOTATION_COMMAND,
    ANNOTATION_PAUSED,
    ANNOTATION_PAUSED_BY,
    ANNOTATION_RESUMED_BY,
    Action,
    CanaryCommand,
)
from canary_operator.cli.canary_api import get_canary, patch_annotations, wait_for

DEFAULT_WAIT_SECONDS = 30.0


class CommandExit:
    """The exit codes of the commands."""

    DONE = 0
    IGNORED = 1
    TIMED_OUT = 2


def command_annotations(action: Action, user: str, now: datetime,
                        command_id: str | None = None) -> dict[str, str | None]:
    """The annotation that asks the operator for `action` once (a fresh uuid4 id)."""
    command = CanaryCommand(action=action, id=command_id or str(uuid.uuid4()), user=user,
                            time=now.astimezone(UTC))
    return {ANNOTATION_COMMAND: command.to_annotation()}


def pause_annotations(user: str) -> dict[str, str | None]:
    return {ANNOTATION_PAUSED: "true", ANNOTATION_PAUSED_BY: user}


def resume_annotations(user: str) -> dict[str, str | None]:
    """Removes both pause annotations (null in a merge patch) and says who resumed."""
    return {ANNOTATION_PAUSED: None, ANNOTATION_PAUSED_BY: None, ANNOTATION_RESUMED_BY: user}


@dataclass(frozen=True)
class Answer:
    exit_code: int
    text: str


def give_command(api: client.ApiClient, namespace: str, name: str, action: Action, user: str,
                 *, wait: bool = True, timeout: float = DEFAULT_WAIT_SECONDS,
                 say: Callable[[str], None] = print) -> Answer:
    """Write the command; with `wait`, wait for `status.lastCommand` with its id."""
    current = get_canary(api, namespace, name)
    unanswered = _unanswered(current)
    if unanswered is not None:
        say(f"note: replacing {unanswered}, which the operator has not answered yet")
    annotations = command_annotations(action, user, datetime.now(UTC))
    command = CanaryCommand.parse(annotations[ANNOTATION_COMMAND])
    assert command is not None
    patch_annotations(api, namespace, name, annotations)
    say(f"{action} {namespace}/{name} requested by {user} (id {command.id})")
    if not wait:
        return Answer(CommandExit.DONE, "not waiting for the operator (--no-wait)")

    def answered(canary: dict[str, object]) -> bool:
        return _last_command_id(canary) == command.id

    seen = wait_for(api, namespace, name, answered, timeout)
    if seen is None:
        return Answer(CommandExit.TIMED_OUT,
                      f"the operator did not answer within {timeout:g}s; is it running and "
                      f"watching namespace {namespace}? (`kubectl canary get {name}` shows "
                      "the status)")
    last = (seen.get("status") or {}).get("lastCommand") or {}
    outcome, message = last.get("outcome", "?"), last.get("message") or ""
    text = f"{outcome}: {message}" if message else str(outcome)
    return Answer(CommandExit.DONE if outcome == "Done" else CommandExit.IGNORED, text)


def _last_command_id(canary: dict[str, object]) -> str | None:
    status = canary.get("status")
    last = status.get("lastCommand") if isinstance(status, dict) else None
    return last.get("id") if isinstance(last, dict) else None


def _unanswered(canary: dict[str, object]) -> str | None:
    metadata = canary.get("metadata")
    annotations = (metadata.get("annotations") if isinstance(metadata, dict) else None) or {}
    try:
        pending = CanaryCommand.parse(annotations.get(ANNOTATION_COMMAND))
    except ValueError:
        return None
    if pending is None or pending.id == _last_command_id(canary):
        return None
    return f"{pending.action} by {pending.user or 'an unknown user'} ({pending.id})"
