"""Phase groups and the one way a phase is entered (Flagger's `SetStatusPhase`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from canary_operator.analysis.conditions import promoted_conditions
from canary_operator.api.status import CanaryStatus, Phase

INITIALIZING = frozenset({Phase.NONE, Phase.INITIALIZING})
# Nothing runs until the target gets a new revision.
IDLE = frozenset({Phase.INITIALIZED, Phase.SUCCEEDED, Phase.FAILED, Phase.WAITING})
ANALYSING = frozenset({Phase.PROGRESSING, Phase.WAITING_PROMOTION,
                       Phase.WAITING_TRAFFIC_INCREASE})
PROMOTING = frozenset({Phase.PROMOTING, Phase.FINALISING})
TERMINATING = frozenset({Phase.TERMINATING, Phase.TERMINATED})
# Steps on a schedule: the next one is due an analysis interval after the last.
ACTIVE = ANALYSING | PROMOTING

# Flagger zeroes the status weight (and iterations) on entering any other phase. We keep
# them while waiting for an approval too, so `kubectl get` shows where the canary stands
# (Flagger shows 0 in WaitingPromotion while the routes keep the weight).
_KEEPS_WEIGHT = frozenset({Phase.PROGRESSING, Phase.WAITING, Phase.PROMOTING,
                           Phase.WAITING_PROMOTION, Phase.WAITING_TRAFFIC_INCREASE})
# Entering these records the applied spec as the one the primary runs.
_PROMOTED = frozenset({Phase.INITIALIZED, Phase.SUCCEEDED})


def enter_phase(status: CanaryStatus, phase: Phase, *, now: datetime, kind: str) -> CanaryStatus:
    """`status` in `phase`: lastTransitionTime moves only when the phase changes, and the
    Promoted condition follows the phase."""
    update: dict[str, Any] = {
        "phase": phase,
        "conditions": promoted_conditions(status.conditions, phase, kind, now),
    }
    if phase != status.phase or status.last_transition_time is None:
        update["last_transition_time"] = now
    if phase not in _KEEPS_WEIGHT:
        update["canary_weight"] = 0
        update["iterations"] = 0
    if phase in _PROMOTED:
        update["last_promoted_spec"] = status.last_applied_spec
    return status.model_copy(update=update)
