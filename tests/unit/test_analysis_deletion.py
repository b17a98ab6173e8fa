from canary_operator.analysis import plan_revert
from canary_operator.analysis.deletion import REVERT_ATTEMPTS
from tests.unit.test_analysis_helpers import READY, ROLLING, observe


def test_deletion_scales_the_target_to_the_primarys_replicas_and_waits_for_it() -> None:
    step = plan_revert(observe(canary=ROLLING, primary_replicas=3), attempt=0)
    assert (step.target_replicas, step.done) == (3, False)
    assert [e.message for e in step.events] == ["Terminating canary podinfo.test"]
    assert "waiting for the target" in step.reason


def test_deletion_finishes_once_the_target_is_ready() -> None:
    step = plan_revert(observe(canary=READY, primary_replicas=3), attempt=2)
    assert (step.target_replicas, step.done) == (3, True)
    assert [e.message for e in step.events] == ["Terminated canary podinfo.test"]


def test_without_a_primary_the_target_gets_one_replica() -> None:
    assert plan_revert(observe(primary_exists=False, primary_replicas=None), 0).target_replicas == 1


def test_a_missing_target_has_nothing_to_revert() -> None:
    step = plan_revert(observe(target_exists=False, target_hash=None), attempt=0)
    assert (step.target_replicas, step.done) == (None, True)


def test_deletion_stops_waiting_after_the_last_attempt_and_says_so() -> None:
    step = plan_revert(observe(canary=ROLLING), attempt=REVERT_ATTEMPTS - 1)
    assert step.done
    assert step.events[-1].type == "Warning"
    assert "before its target was ready" in step.events[-1].message
