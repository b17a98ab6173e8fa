"""Whether a Deployment may take traffic, from its JSON (flagger.md §2.2 step 17).

Our fix to Flagger: the Canary's `progressDeadlineSeconds` ends every kind of stuck
rollout, not only `Available=False/MinimumReplicasUnavailable`. A rollout stuck on
"N out of M new replicas have been updated", on old replicas pending termination or on
too few available replicas becomes non-retriable once nothing has moved for longer than
the deadline. "Moved" is the latest of the Progressing condition's `lastUpdateTime`
(the deployment controller refreshes it on every bit of progress) and, while Available
is False, that condition's `lastTransitionTime`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from canary_operator.analysis.observation import Readiness

WAITING = "waiting for rollout to finish"


def deployment_readiness(
    deployment: Mapping[str, Any],
    ready_threshold_percent: int,
    progress_deadline_seconds: int,
    now: datetime,
) -> Readiness:
    metadata = _mapping(deployment.get("metadata"))
    spec = _mapping(deployment.get("spec"))
    status = _mapping(deployment.get("status"))

    if _int(metadata.get("generation")) > _int(status.get("observedGeneration")):
        return Readiness(False, True, f"{WAITING}: observed deployment generation less than "
                                      "desired generation")
    conditions = _conditions(status)
    progressing = conditions.get("Progressing", {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        name = metadata.get("name", "")
        return Readiness(False, False, f'deployment "{name}" exceeded its progress deadline')

    desired = _int(spec.get("replicas"), default=1)
    replicas = _int(status.get("replicas"))
    updated = _int(status.get("updatedReplicas"))
    available = _int(status.get("availableReplicas"))
    needed = math.ceil(updated * ready_threshold_percent / 100)

    if desired == 0:
        return Readiness(False, True, "deployment is scaled to zero")
    if updated < desired:
        waiting = f"{WAITING}: {updated} out of {desired} new replicas have been updated"
    elif replicas > updated:
        waiting = f"{WAITING}: {replicas - updated} old replicas are pending termination"
    elif available < needed:
        waiting = (f"{WAITING}: {available} of {needed} (readyThreshold "
                   f"{ready_threshold_percent}%) updated replicas are available")
    else:
        return Readiness(True, True, "")

    moved = _last_progress(conditions)
    if moved is not None and now - moved > timedelta(seconds=progress_deadline_seconds):
        return Readiness(False, False, f"{waiting} (no progress for longer than "
                                       f"progressDeadlineSeconds {progress_deadline_seconds})")
    return Readiness(False, True, waiting)


def _last_progress(conditions: Mapping[str, Mapping[str, Any]]) -> datetime | None:
    times = [_time(conditions.get("Progressing", {}).get(key))
             for key in ("lastUpdateTime", "lastTransitionTime")]
    available = conditions.get("Available", {})
    if available.get("status") == "False":
        times += [_time(available.get(key)) for key in ("lastTransitionTime", "lastUpdateTime")]
    known = [time for time in times if time is not None]
    return max(known) if known else None


def _conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for condition in status.get("conditions") or []:
        if isinstance(condition, Mapping) and isinstance(condition.get("type"), str):
            found[condition["type"]] = condition
    return found


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: object, default: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    try:
        return int(value)
    except (ValueError, OverflowError):
        return default
