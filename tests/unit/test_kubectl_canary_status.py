"""`kubectl canary status`: the exit code over a sequence of observed statuses."""

from __future__ import annotations

from canary_operator.cli.rollout_status import Observed, Verdict, exit_code, follow


def seen(phase: str, applied: str | None = "v2", target: str | None = "v2",
         message: str = "") -> Observed:
    return Observed(phase=phase, message=message or phase.lower(), applied_revision=applied,
                    target_revision=target)


def test_an_idle_succeeded_canary_with_nothing_pending_is_done_at_once() -> None:
    assert exit_code([seen("Succeeded")]) == 0
    assert exit_code([seen("Initialized")]) == 0


def test_an_idle_failed_canary_is_its_failure() -> None:
    assert exit_code([seen("Failed")]) == 1


def test_a_promotion_ends_at_succeeded() -> None:
    observations = [seen("Progressing"), seen("Progressing", message="weight 20"),
                    seen("Promoting"), seen("Finalising"), seen("Succeeded")]
    assert exit_code(observations) == 0
    lines = [line.text for line in follow(observations)]
    assert lines == ["Progressing: progressing", "Progressing: weight 20",
                     "Promoting: promoting", "Finalising: finalising",
                     "Succeeded: succeeded", "rollout finished: Succeeded"]


def test_a_rollback_ends_at_failed_with_its_message() -> None:
    lines = list(follow([seen("Progressing"),
                         seen("Failed", message="Canary failed! success rate 80 < 99")]))
    assert lines[-1].verdict is Verdict.FAILED
    assert lines[-1].text == "rollout failed: Canary failed! success rate 80 < 99"


def test_succeeded_for_the_old_revision_waits_for_the_new_one() -> None:
    # `kubectl set image` just happened: the operator has not taken v3 up yet.
    observations = [seen("Succeeded", applied="v2", target="v3"),
                    seen("Succeeded", applied="v2", target="v3"),
                    seen("Progressing", applied="v3", target="v3"),
                    seen("Failed", applied="v3", target="v3")]
    assert exit_code(observations) == 1
    first = next(iter(follow(observations)))
    assert first.text.endswith("(a new revision waits to be taken up)")
    assert first.verdict is None


def test_a_revision_never_taken_up_times_out() -> None:
    observations = [seen("Succeeded", applied="v2", target="v3")] * 3
    assert exit_code(observations) == 2
    assert list(follow(observations))[-1].text == (
        "timed out waiting for the rollout to end (phase Succeeded)")


def test_a_rollout_still_running_at_the_deadline_times_out() -> None:
    assert exit_code([seen("Progressing"), seen("WaitingPromotion")]) == 2
    assert exit_code([]) == 2


def test_waiting_and_initializing_are_not_ends() -> None:
    assert exit_code([seen(""), seen("Initializing"), seen("Waiting")]) == 2
    assert exit_code([seen(""), seen("Initializing"), seen("Initialized")]) == 0


def test_a_missing_target_or_unknown_applied_revision_does_not_block() -> None:
    assert exit_code([seen("Succeeded", target=None)]) == 0
    assert exit_code([seen("Failed", applied=None, target="v9")]) == 1


def test_only_the_first_end_counts() -> None:
    assert exit_code([seen("Failed"), seen("Succeeded")]) == 1
