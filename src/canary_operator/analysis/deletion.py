"""revertOnDeletion: what deleting a Canary gives back to its target (Flagger §2.5)."""

from __future__ import annotations

from dataclasses import dataclass

from canary_operator.analysis.decision import Event
from canary_operator.analysis.events import normal, warning
from canary_operator.analysis.observation import Observation

# How long the finalizer waits for the target to serve again before letting go anyway:
# a Canary stuck in deletion would be worse than a short gap.
REVERT_ATTEMPTS = 15


@dataclass(frozen=True)
class RevertStep:
    """One attempt of the deletion handler: scale the target, then wait for it."""

    target_replicas: int | None  # None: nothing to scale (the target is gone)
    done: bool  # the finalizer may be removed
    events: tuple[Event, ...]
    reason: str


def plan_revert(observation: Observation, attempt: int) -> RevertStep:
    """Scale the target back to the primary's replicas (1 without a primary), then wait
    until it is ready; give up waiting after REVERT_ATTEMPTS attempts."""
    canary = f"{observation.name}.{observation.namespace}"
    if not observation.target_exists:
        return RevertStep(None, True, (normal(f"Terminated canary {canary}"),),
                          "the target is gone: nothing to revert")
    replicas = observation.primary_replicas or 1
    events = (normal(f"Terminating canary {canary}"),) if attempt == 0 else ()
    if observation.canary.ready:
        return RevertStep(replicas, True, (*events, normal(f"Terminated canary {canary}")),
                          f"target ready with {replicas} replicas")
    if attempt + 1 >= REVERT_ATTEMPTS:
        return RevertStep(replicas, True, (*events, warning(
            f"Terminated canary {canary} before its target was ready: "
            f"{observation.canary.message}")), "gave up waiting for the target")
    return RevertStep(replicas, False, events,
                      f"waiting for the target to serve: {observation.canary.message}")
