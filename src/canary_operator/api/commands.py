"""`kubectl canary` commands as the operator reads them: annotations on the Canary.

- `canary-operator.dev/command`: one command, JSON `{"action", "id", "user", "time"}`,
  carried out once per id; the operator answers in `status.lastCommand` with the same id.
- `canary-operator.dev/paused` = "true" and `canary-operator.dev/paused-by` = who: nothing
  moves until both are removed (`kubectl canary resume`, which leaves
  `canary-operator.dev/resumed-by` = who, for the event).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, ValidationError

ANNOTATION_COMMAND = "canary-operator.dev/command"
ANNOTATION_PAUSED = "canary-operator.dev/paused"
ANNOTATION_PAUSED_BY = "canary-operator.dev/paused-by"
ANNOTATION_RESUMED_BY = "canary-operator.dev/resumed-by"

Action = Literal["promote", "promote-full", "abort", "retry"]
ACTIONS: tuple[str, ...] = get_args(Action)

_FIX = (f"write it with `kubectl canary promote|abort|retry`, or set it to JSON like "
        f'{{"action": "promote", "id": "<uuid>"}} (actions: {", ".join(ACTIONS)})')


class CanaryCommand(BaseModel):
    """One command; `id` makes it happen once, `user` is named in the events."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    action: Action
    id: str
    user: str | None = None
    time: datetime | None = None

    @classmethod
    def parse(cls, annotation_text: str | None) -> CanaryCommand | None:
        """The command in the annotation's text; None when there is none.

        Raises ValueError naming the annotation and the fix when the text is not JSON, the
        action is unknown or the id is missing.
        """
        if annotation_text is None or not annotation_text.strip():
            return None
        try:
            payload = json.loads(annotation_text)
        except ValueError as error:
            raise ValueError(
                f"annotation {ANNOTATION_COMMAND} is not JSON ({error}): {_shown(annotation_text)}"
                f"; {_FIX}") from None
        if not isinstance(payload, dict):
            raise ValueError(f"annotation {ANNOTATION_COMMAND} must be a JSON object, got "
                             f"{_shown(annotation_text)}; {_FIX}")
        action = payload.get("action")
        if action not in ACTIONS:
            raise ValueError(f"annotation {ANNOTATION_COMMAND} has unknown action "
                             f"{action!r}; {_FIX}")
        if not isinstance(payload.get("id"), str) or not payload["id"].strip():
            raise ValueError(f"annotation {ANNOTATION_COMMAND} has no id (a unique string); "
                             f"{_FIX}")
        try:
            return cls.model_validate(payload)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in error.errors(include_url=False))
            raise ValueError(f"annotation {ANNOTATION_COMMAND}: {problems}; {_FIX}") from None

    def to_annotation(self) -> str:
        """The annotation's text: compact JSON, time in RFC 3339 UTC."""
        payload: dict[str, str | None] = {"action": self.action, "id": self.id,
                                          "user": self.user}
        if self.time is not None:
            moment = self.time if self.time.tzinfo is None else self.time.astimezone(UTC)
            payload["time"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        return json.dumps(payload, separators=(",", ":"))


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")
