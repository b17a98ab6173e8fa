"""Deployment readiness from the API's JSON, with the stuck-rollout deadline fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from canary_operator.analysis import deployment_readiness

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DEADLINE = 600


def stamp(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def deployment(replicas: int = 3, *, updated: int | None = None, total: int | None = None,
               available: int | None = None, generation: int = 2, observed: int = 2,
               conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    updated = replicas if updated is None else updated
    return {
        "metadata": {"name": "podinfo", "namespace": "test", "generation": generation},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": observed,
            "replicas": updated if total is None else total,
            "updatedReplicas": updated,
            "availableReplicas": updated if available is None else available,
            "conditions": conditions if conditions is not None else [
                progressing(seconds_ago=30), available_condition(True, seconds_ago=30)],
        },
    }


def progressing(seconds_ago: float, reason: str = "NewReplicaSetAvailable") -> dict[str, Any]:
    return {"type": "Progressing", "status": "True", "reason": reason,
            "lastUpdateTime": stamp(seconds_ago), "lastTransitionTime": stamp(seconds_ago + 3600)}


def available_condition(up: bool, seconds_ago: float) -> dict[str, Any]:
    return {"type": "Available", "status": "True" if up else "False",
            "reason": "MinimumReplicasAvailable" if up else "MinimumReplicasUnavailable",
            "lastUpdateTime": stamp(seconds_ago), "lastTransitionTime": stamp(seconds_ago)}


def readiness(body: dict[str, Any], threshold: int = 100) -> Any:
    return deployment_readiness(body, threshold, DEADLINE, NOW)


def test_a_rolled_out_deployment_is_ready() -> None:
    result = readiness(deployment())
    assert (result.ready, result.retriable, result.message) == (True, True, "")


def test_an_unobserved_generation_waits() -> None:
    result = readiness(deployment(generation=3, observed=2))
    assert (result.ready, result.retriable) == (False, True)
    assert result.message == ("waiting for rollout to finish: observed deployment generation "
                              "less than desired generation")


def test_kubernetes_own_progress_deadline_is_final() -> None:
    body = deployment(updated=1, conditions=[progressing(10, "ProgressDeadlineExceeded")])
    result = readiness(body)
    assert (result.ready, result.retriable) == (False, False)
    assert result.message == 'deployment "podinfo" exceeded its progress deadline'


def test_updating_replicas_within_the_deadline_waits() -> None:
    result = readiness(deployment(updated=1, conditions=[progressing(60)]))
    assert (result.ready, result.retriable) == (False, True)
    assert result.message == ("waiting for rollout to finish: 1 out of 3 new replicas have "
                              "been updated")


def test_a_rollout_stuck_on_updated_replicas_ends_at_the_deadline() -> None:
    # Flagger waits forever here (fluxcd/flagger#1247, #523, #1578).
    body = deployment(updated=1, conditions=[progressing(DEADLINE + 1, "ReplicaSetUpdated"),
                                             available_condition(True, 7200)])
    result = readiness(body)
    assert (result.ready, result.retriable) == (False, False)
    assert result.message.startswith(
        "waiting for rollout to finish: 1 out of 3 new replicas have been updated")
    assert "progressDeadlineSeconds 600" in result.message


def test_old_replicas_pending_termination_also_end_at_the_deadline() -> None:
    body = deployment(total=4, conditions=[progressing(DEADLINE + 60)])
    result = readiness(body)
    assert (result.ready, result.retriable) == (False, False)
    assert "1 old replicas are pending termination" in result.message


def test_unavailable_replicas_wait_then_end_at_the_deadline() -> None:
    fresh = deployment(available=1, conditions=[progressing(DEADLINE * 2),
                                                available_condition(False, 60)])
    stale = deployment(available=1, conditions=[progressing(DEADLINE * 2),
                                                available_condition(False, DEADLINE + 1)])
    assert readiness(fresh).retriable
    assert not readiness(fresh).ready
    assert readiness(fresh).message == ("waiting for rollout to finish: 1 of 3 (readyThreshold "
                                        "100%) updated replicas are available")
    assert not readiness(stale).retriable


def test_recent_progress_keeps_a_long_unavailable_rollout_alive() -> None:
    body = deployment(available=2, conditions=[progressing(30, "ReplicaSetUpdated"),
                                               available_condition(False, DEADLINE * 3)])
    result = readiness(body)
    assert (result.ready, result.retriable) == (False, True)


def test_ready_threshold_rounds_up() -> None:
    body = deployment(available=1)
    assert not readiness(body, threshold=50).ready  # needs 2 of 3
    assert readiness(deployment(available=2), threshold=50).ready


def test_a_deployment_scaled_to_zero_cannot_take_traffic() -> None:
    result = readiness(deployment(replicas=0))
    assert (result.ready, result.retriable) == (False, True)
    assert result.message == "deployment is scaled to zero"


def test_without_conditions_there_is_no_deadline_to_end_the_wait() -> None:
    result = readiness(deployment(updated=0, conditions=[]))
    assert (result.ready, result.retriable) == (False, True)


def test_datetime_objects_and_unset_replicas_are_understood() -> None:
    body = deployment(replicas=1, updated=0, conditions=[
        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
         "lastUpdateTime": NOW - timedelta(seconds=DEADLINE + 5)}])
    del body["spec"]["replicas"]  # the API default is 1
    assert not readiness(body).retriable


def test_odd_json_never_raises() -> None:
    result = deployment_readiness({"status": {"conditions": ["x", {"type": 3}],
                                              "updatedReplicas": "many"}}, 100, 600, NOW)
    assert (result.ready, result.retriable) == (False, True)
