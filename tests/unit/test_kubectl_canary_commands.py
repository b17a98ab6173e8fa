"""The command annotations `kubectl canary` writes, and how the operator parses them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from canary_operator.api.commands import (
    ANNOTATION_COMMAND,
    ANNOTATION_PAUSED,
    ANNOTATION_PAUSED_BY,
    ANNOTATION_RESUMED_BY,
    CanaryCommand,
)
from canary_operator.cli.canary_commands import (
    command_annotations,
    pause_annotations,
    resume_annotations,
)

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def test_a_command_is_one_annotation_with_a_fresh_id_the_user_and_utc_time() -> None:
    first = command_annotations("promote-full", "alice", NOW)
    second = command_annotations("promote-full", "alice", NOW)
    assert list(first) == [ANNOTATION_COMMAND]
    payload = json.loads(first[ANNOTATION_COMMAND] or "")
    assert payload["action"] == "promote-full" and payload["user"] == "alice"
    assert payload["time"] == "2025-06-01T12:00:00Z"
    assert uuid.UUID(payload["id"]).version == 4
    assert payload["id"] != json.loads(second[ANNOTATION_COMMAND] or "")["id"]


def test_the_time_is_written_in_utc_whatever_the_local_zone() -> None:
    local = NOW.astimezone(timezone(timedelta(hours=2)))
    payload = json.loads(command_annotations("abort", "bob", local)[ANNOTATION_COMMAND] or "")
    assert payload["time"] == "2025-06-01T12:00:00Z"


def test_what_is_written_parses_back() -> None:
    text = command_annotations("retry", "alice (kubeconfig)", NOW, command_id="c-1")
    parsed = CanaryCommand.parse(text[ANNOTATION_COMMAND])
    assert parsed == CanaryCommand(action="retry", id="c-1", user="alice (kubeconfig)",
                                   time=NOW)


def test_pause_and_resume() -> None:
    assert pause_annotations("alice") == {ANNOTATION_PAUSED: "true",
                                          ANNOTATION_PAUSED_BY: "alice"}
    assert resume_annotations("bob") == {ANNOTATION_PAUSED: None, ANNOTATION_PAUSED_BY: None,
                                         ANNOTATION_RESUMED_BY: "bob"}


@pytest.mark.parametrize("text", [None, "", "   "])
def test_no_annotation_is_no_command(text: str | None) -> None:
    assert CanaryCommand.parse(text) is None


def test_user_and_time_are_optional() -> None:
    assert CanaryCommand.parse('{"action": "abort", "id": "x"}') == CanaryCommand(
        action="abort", id="x", user=None, time=None)


@pytest.mark.parametrize(("text", "says"), [
    ("promote", "is not JSON"),
    ('["promote"]', "must be a JSON object"),
    ('{"action": "rollback", "id": "x"}', "unknown action 'rollback'"),
    ('{"id": "x"}', "unknown action None"),
    ('{"action": "abort"}', "has no id"),
    ('{"action": "abort", "id": "  "}', "has no id"),
    ('{"action": "abort", "id": "x", "time": "yesterday"}', "time"),
])
def test_bad_annotations_name_the_annotation_and_the_fix(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=r"annotation canary-operator\.dev/command") as error:
        CanaryCommand.parse(text)
    assert says in str(error.value)
    assert "kubectl canary promote|abort|retry" in str(error.value)
    assert "promote, promote-full, abort, retry" in str(error.value)
