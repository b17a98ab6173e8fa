"""When the per-Canary loop comes back: `seconds_until_next_tick`."""

from __future__ import annotations

from datetime import timedelta

from canary_operator.analysis import Reason, seconds_until_next_tick
from canary_operator.analysis.schedule import READINESS_POLL_SECONDS, awaits_rollout, step_time
from canary_operator.api import CanaryStatus, Phase
from tests.unit.test_analysis_helpers import T0, make_spec, status_in

FLOOR = 10.0


def test_the_next_step_is_one_interval_after_the_last() -> None:
    status = status_in(Phase.PROGRESSING, last_step=T0)
    assert seconds_until_next_tick(make_spec(), status, T0, FLOOR) == 60
    assert seconds_until_next_tick(make_spec(), status, T0 + timedelta(seconds=45), FLOOR) == 15


def test_the_interval_is_floored() -> None:
    status = status_in(Phase.PROGRESSING, last_step=T0)
    assert seconds_until_next_tick(make_spec(interval="2s"), status, T0, FLOOR) == FLOOR
    assert seconds_until_next_tick(make_spec(interval="2s"), status, T0, 1.0) == 2


def test_a_new_canary_and_initialization_poll_soon() -> None:
    # Soon, not at once: a change of the Deployments wakes the loop (see the controller).
    assert seconds_until_next_tick(make_spec(), None, T0, FLOOR) == READINESS_POLL_SECONDS
    initializing = CanaryStatus(phase=Phase.INITIALIZING, last_step_time=T0)
    assert seconds_until_next_tick(make_spec(), initializing, T0, FLOOR) == 10
    assert seconds_until_next_tick(make_spec(interval="1s"), None, T0, 1.0) == 1
    assert awaits_rollout(initializing)


def test_waiting_for_a_rollout_polls_soon() -> None:
    for reason in (Reason.CANARY_NOT_READY, Reason.PRIMARY_NOT_READY):
        status = status_in(Phase.PROGRESSING, last_step=T0, reason=reason.value)
        assert seconds_until_next_tick(make_spec(), status, T0, FLOOR) == READINESS_POLL_SECONDS
        assert awaits_rollout(status)
    assert not awaits_rollout(status_in(Phase.PROGRESSING, reason=Reason.ADVANCED.value))


def test_an_overdue_step_runs_at_once_after_a_restart() -> None:
    status = status_in(Phase.PROGRESSING, last_step=T0, reason=Reason.ADVANCED.value)
    assert seconds_until_next_tick(make_spec(), status, T0 + timedelta(minutes=5), FLOOR) == 0
    migrated = status_in(Phase.PROMOTING).model_copy(update={"last_step_time": None})
    assert seconds_until_next_tick(make_spec(), migrated, T0, FLOOR) == 0


def test_idle_canaries_keep_the_interval_cadence() -> None:
    status = status_in(Phase.SUCCEEDED, last_step=T0)
    assert seconds_until_next_tick(make_spec(), status, T0 + timedelta(seconds=150), FLOOR) == 30
    never_stepped = status.model_copy(update={"last_step_time": None})
    assert seconds_until_next_tick(make_spec(), never_stepped, T0, FLOOR) == 60


def test_holds_keep_the_cadence_instead_of_spinning() -> None:
    status = status_in(Phase.PROGRESSING, last_step=T0, reason=Reason.PRIMARY_STUCK.value)
    assert seconds_until_next_tick(make_spec(), status, T0 + timedelta(seconds=61), FLOOR) == 59


def test_suspended_canaries_come_back_each_interval() -> None:
    status = status_in(Phase.PROGRESSING, last_step=T0 - timedelta(hours=1))
    assert seconds_until_next_tick(make_spec(suspend=True), status, T0, FLOOR) == 60


def test_without_an_analysis_the_interval_is_flaggers_default_minute() -> None:
    status = status_in(Phase.SUCCEEDED, last_step=T0)
    assert seconds_until_next_tick(make_spec(analysis=None), status, T0, FLOOR) == 60


def test_a_clock_behind_the_last_step_never_waits_longer_than_an_interval() -> None:
    status = status_in(Phase.PROGRESSING, last_step=T0)
    assert seconds_until_next_tick(make_spec(), status, T0 - timedelta(minutes=5), FLOOR) == 60


def test_a_step_taken_late_keeps_its_slot_in_the_cadence() -> None:
    status = status_in(Phase.PROGRESSING, last_step=T0)
    slot = T0 + timedelta(seconds=60)
    assert step_time(make_spec(), status, slot + timedelta(seconds=7)) == slot
    assert step_time(make_spec(), status, slot + timedelta(seconds=30)) == slot


def test_a_step_far_behind_or_early_starts_the_cadence_again() -> None:
    status = status_in(Phase.PROGRESSING, last_step=T0)
    late = T0 + timedelta(seconds=60 + 31)
    assert step_time(make_spec(), status, late) == late
    early = T0 + timedelta(seconds=59.5)  # within the tick tolerance of due_in
    assert step_time(make_spec(), status, early) == early
    first = status.model_copy(update={"last_step_time": None})
    assert step_time(make_spec(), first, late) == late
