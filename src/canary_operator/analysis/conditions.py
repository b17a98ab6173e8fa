"""The single `Promoted` condition (flagger.md §1.4): status and message per phase."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from canary_operator.api.status import CanaryCondition, Phase

ConditionStatus = Literal["True", "False", "Unknown"]


def promoted_text(phase: Phase, kind: str) -> tuple[ConditionStatus, str] | None:
    """The condition's status and message for a phase; None for phases without one."""
    texts: dict[Phase, tuple[ConditionStatus, str]] = {
        Phase.INITIALIZING: ("Unknown", f"New {kind} detected, starting initialization."),
        Phase.INITIALIZED: ("True", f"{kind} initialization completed."),
        Phase.WAITING: ("Unknown", "Waiting for approval."),
        Phase.WAITING_PROMOTION: ("Unknown", "Waiting for approval."),
        Phase.WAITING_TRAFFIC_INCREASE: ("Unknown", "Waiting for approval."),
        Phase.PROGRESSING: ("Unknown", "New revision detected, progressing canary analysis."),
        Phase.PROMOTING: (
            "Unknown", "Canary analysis completed, starting primary rolling update."),
        Phase.FINALISING: (
            "Unknown", "Canary analysis completed, routing all traffic to primary."),
        Phase.SUCCEEDED: (
            "True", "Canary analysis completed successfully, promotion finished."),
        Phase.FAILED: ("False", f"Canary analysis failed, {kind} scaled to zero."),
    }
    return texts.get(phase)


def promoted_conditions(
    current: list[CanaryCondition] | None, phase: Phase, kind: str, now: datetime
) -> list[CanaryCondition] | None:
    """The conditions after entering `phase`. The condition is rewritten only when its
    status or reason changes; `lastTransitionTime` moves only when the status does."""
    text = promoted_text(phase, kind)
    if text is None:
        return current
    status, message = text
    old = next((item for item in current or [] if item.type == "Promoted"), None)
    if old is not None and old.status == status and old.reason == phase.value:
        return current
    transition = old.last_transition_time if old is not None and old.status == status else now
    condition = CanaryCondition(
        type="Promoted", status=status, reason=phase.value, message=message,
        last_update_time=now, last_transition_time=transition or now,
    )
    return [condition]
