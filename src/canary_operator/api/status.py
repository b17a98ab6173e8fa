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
