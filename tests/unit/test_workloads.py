from typing import Any

from kubernetes.client import V1Deployment

from canary_operator.lab.workloads import deployment, rollout_complete, rollout_progress


def _with_status(generation: int, **status: Any) -> V1Deployment:
    body = deployment("podinfo", "podinfo:1", replicas=3)
    body["metadata"]["generation"] = generation
    body["status"] = status
    return V1Deployment.model_validate(body)


def test_rollout_is_complete_when_all_replicas_are_new_and_available() -> None:
    done = _with_status(2, observedGeneration=2, replicas=3, updatedReplicas=3,
                        availableReplicas=3)
    assert rollout_complete(done)


def test_rollout_is_not_complete_while_old_replicas_remain() -> None:
    midway = _with_status(2, observedGeneration=2, replicas=4, updatedReplicas=3,
                          availableReplicas=3)
    assert not rollout_complete(midway)
    assert rollout_progress(midway) == "3/3 updated, 3/3 available, 1 old replicas left"


def test_rollout_is_not_complete_before_the_controller_saw_the_new_spec() -> None:
    stale = _with_status(3, observedGeneration=2, replicas=3, updatedReplicas=3,
                         availableReplicas=3)
    assert not rollout_complete(stale)
