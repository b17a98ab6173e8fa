"""The Canary's status: Flagger's fields, plus ours for restart-safe analysis.

All analysis state lives here, so a restarted operator resumes from it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from canary_operator.api.base import ApiModel


class Phase(StrEnum):
    NONE = ""
    INITIALIZING = "Initializing"
    INITIALIZED = "Initialized"
    WAITING = "Waiting"
    PROGRESSING = "Progressing"
    WAITING_PROMOTION = "WaitingPromotion"
    # Ours: a confirm-traffic-increase hook holds the next weight step (Flagger stays in
    # Progressing and says so only in an event).
    WAITING_TRAFFIC_INCREASE = "WaitingTrafficIncrease"
    PROMOTING = "Promoting"
    FINALISING = "Finalising"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"


class CanaryCondition(ApiModel):
    """Flagger keeps exactly one condition, `Promoted`; its reason is the phase."""

    type: Literal["Promoted"] = "Promoted"
    status: Literal["True", "False", "Unknown"]
    reason: str | None = None
    message: str | None = None
    last_update_time: datetime | None = None
    last_transition_time: datetime | None = None


class MetricCheckStatus(ApiModel):
    """One metric check of the last analysis tick that ran them (ours, not Flagger's)."""

    name: str
    outcome: Literal["Pass", "Fail", "NoData", "Invalid", "Error"]
    value: float | None = None
    threshold: str | None = None
    window: str | None = None
    query: str | None = None
    error: str | None = None


class CheckRecord(ApiModel):
    """One metric check in the decision history (ours): what was measured, against what,
    over which window, with which outcome, and when."""

    time: datetime
    name: str
    outcome: Literal["Pass", "Fail", "NoData", "Invalid", "Error"]
    value: float | None = None
    threshold: str | None = None
    window: str | None = None


class CommandStatus(ApiModel):
    """The last command given with `kubectl canary` (ours): handled once, by its id."""

    id: str
    action: str
    user: str | None = None
    outcome: Literal["Done", "Ignored"]
    message: str | None = None
    time: datetime | None = None


class CanaryStatus(ApiModel):
    phase: Phase = Phase.NONE
    failed_checks: int = 0
    canary_weight: int = 0
    iterations: int = 0
    tracked_configs: dict[str, str] | None = None
    last_applied_spec: str | None = None
    last_promoted_spec: str | None = None
    last_transition_time: datetime | None = None
    session_affinity_cookie: str | None = None
    primary_session_affinity_cookie: str | None = None
    previous_session_affinity_cookie: str | None = None
    conditions: list[CanaryCondition] | None = None
    # Ours, for restart-safe analysis and explained decisions (Flagger has none of these).
    # When the analysis last took a step: the next step is due one interval later.
    last_step_time: datetime | None = None
    # The last decision: a short CamelCase code and the one-line reason with its numbers.
    reason: str | None = None
    message: str | None = None
    # The metric checks of the last tick that ran them: value, threshold, window, query.
    checks: list[MetricCheckStatus] | None = None
    # The last checks, newest last, bounded (the operator's HISTORY_LIMIT, default 20).
    history: list[CheckRecord] | None = None
    # Why the phase last changed: the decision's code and sentence at that moment.
    last_transition_reason: str | None = None
    last_transition_message: str | None = None
    # The last promote, abort, retry command and what became of it.
    last_command: CommandStatus | None = None
    # Since when the metric checks have failed for an outage only (the provider down, a
    # timeout): the analysis holds, and rolls back once this is older than
    # progressDeadlineSeconds. Cleared by the first checks the provider answers.
    checks_unavailable_since: datetime | None = None
