"""kubectl canary commands in the core: each carried out once, by id, with the user named;
pause holds everything; the decision history and the reason of the last transition."""

from __future__ import annotations

from datetime import timedelta

from canary_operator.analysis import PromoteTemplate, SetWeights, decide
from canary_operator.analysis.observation import Command
from canary_operator.api import Phase
from canary_operator.api.canary import WebhookType
from tests.unit.test_analysis_helpers import (
    READY,
    ROLLING,
    Cluster,
    in_phase,
    initialized,
    make_spec,
    measured,
    messages,
    observe,
    refusing,
    status_in,
)


def progressing(cluster: Cluster, weight: int) -> Cluster:
    cluster.target_hash = "v2"
    cluster.run_until(lambda c: c.phase is Phase.PROGRESSING and c.state.canary_weight == weight)
    return cluster


def test_promote_takes_the_next_step_at_once_without_checks() -> None:
    cluster = progressing(initialized(Cluster(make_spec())), 20)
    cluster.metrics = lambda c: measured(success_rate=10)  # would fail a check
    cluster.command = Command("promote", "id-1", "alice")
    decision = cluster.tick()
    assert cluster.state.canary_weight == 30
    assert cluster.state.failed_checks == 0
    assert cluster.state.last_command is not None
    assert (cluster.state.last_command.id, cluster.state.last_command.outcome) == ("id-1", "Done")
    assert any(m.startswith("Promoted by alice") for m in messages([decision]))
    # Handled once: the same id again is not a new step.
    cluster.metrics = lambda c: measured()
    again = decide(cluster.spec, cluster.status, cluster.observation())
    assert again.status.canary_weight in (30, 40)  # the normal schedule, not a second promote
    assert not any("Promoted by" in m for m in messages([again]))


def test_promote_full_skips_the_remaining_steps_and_the_gate() -> None:
    spec = make_spec(webhooks=[{"name": "gate", "type": "confirm-promotion",
                                "url": "http://gate/"}])
    cluster = progressing(initialized(Cluster(spec, hooks=refusing(
        WebhookType.CONFIRM_PROMOTION))), 10)
    cluster.command = Command("promote-full", "id-2", "bob")
    cluster.tick()
    assert cluster.phase is Phase.PROMOTING
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert cluster.primary_hash == "v2"


def test_promote_waits_for_a_ready_canary_then_takes_the_step() -> None:
    cluster = progressing(initialized(Cluster(make_spec())), 20)
    ready = {"now": False}
    cluster.canary_ready = lambda c: READY if ready["now"] else ROLLING
    cluster.command = Command("promote", "id-7", "grace")
    for _ in range(3):
        decision = cluster.tick()
        assert cluster.state.reason == "CanaryNotReady"
        assert cluster.state.canary_weight == 20
        assert cluster.state.last_command is None  # still pending
        assert decision.actions == ()
    ready["now"] = True
    cluster.tick()
    assert cluster.state.canary_weight == 30
    assert cluster.state.last_command is not None
    assert (cluster.state.last_command.id, cluster.state.last_command.outcome) == ("id-7", "Done")


def test_promote_full_never_promotes_an_unready_canary() -> None:
    cluster = progressing(initialized(Cluster(make_spec())), 10)
    cluster.canary_ready = lambda c: ROLLING
    cluster.command = Command("promote-full", "id-8", "heidi")
    for _ in range(5):
        decision = cluster.tick()
        assert not any(isinstance(a, PromoteTemplate) for a in decision.actions)
    assert cluster.phase is Phase.PROGRESSING
    assert cluster.primary_hash == "v1"


def test_promote_at_the_failure_threshold_rolls_back_and_is_ignored() -> None:
    cluster = initialized(Cluster(make_spec(threshold=2)))
    cluster.target_hash = "v2"
    cluster.metrics = lambda c: measured(success_rate=10)
    cluster.run_until(lambda c: c.status is not None and c.state.failed_checks == 2)
    assert cluster.phase is Phase.PROGRESSING
    weight = cluster.state.canary_weight
    cluster.command = Command("promote", "id-9", "ivan")
    decision = cluster.tick()
    assert cluster.phase is Phase.FAILED
    assert cluster.state.reason == "FailedChecksThreshold"
    assert cluster.state.last_command is not None
    assert cluster.state.last_command.outcome == "Ignored"
    assert not any(isinstance(a, SetWeights) and a.canary > weight for a in decision.actions)
    assert cluster.weights == (100, 0)


def test_promote_on_a_mirrored_canary_does_not_repeat_the_first_step() -> None:
    spec = make_spec(mirror=True, webhooks=[{"name": "pre", "type": "pre-rollout",
                                             "url": "http://pre/"}])
    cluster = initialized(Cluster(spec))
    cluster.target_hash = "v2"
    cluster.run_until(lambda c: c.mirrored)  # the first step: mirroring only, weight 0
    pre_rollouts = sum(call.type is WebhookType.PRE_ROLLOUT
                       for calls in cluster.hook_calls for call in calls)
    assert pre_rollouts == 1
    cluster.command = Command("promote", "id-10", "judy")
    cluster.tick()
    assert cluster.weights == (90, 10)
    assert not cluster.mirrored
    assert sum(call.type is WebhookType.PRE_ROLLOUT
               for calls in cluster.hook_calls for call in calls) == 1
    assert cluster.state.last_command is not None
    assert cluster.state.last_command.outcome == "Done"


def test_promote_full_from_waiting_rolls_the_canary_out_then_promotes() -> None:
    spec = make_spec(webhooks=[{"name": "gate", "type": "confirm-rollout", "url": "http://g/"}])
    cluster = initialized(Cluster(spec, hooks=refusing(WebhookType.CONFIRM_ROLLOUT)))
    cluster.target_hash = "v2"
    cluster.run_until(in_phase(Phase.WAITING))
    ready = {"now": False}
    cluster.canary_ready = lambda c: READY if ready["now"] and c.target_replicas else ROLLING
    cluster.command = Command("promote-full", "id-11", "ken")
    cluster.tick()
    assert cluster.phase is Phase.PROGRESSING
    assert cluster.target_replicas > 0
    assert cluster.state.last_command is None
    cluster.tick()
    assert cluster.phase is Phase.PROGRESSING
    assert cluster.state.last_command is None
    ready["now"] = True
    cluster.tick()
    assert cluster.phase is Phase.PROMOTING
    assert cluster.state.last_command is not None
    assert cluster.state.last_command.outcome == "Done"
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert cluster.primary_hash == "v2"


def test_promote_approves_a_refused_rollout() -> None:
    spec = make_spec(webhooks=[{"name": "gate", "type": "confirm-rollout", "url": "http://g/"}])
    cluster = initialized(Cluster(spec, hooks=refusing(WebhookType.CONFIRM_ROLLOUT)))
    cluster.target_hash = "v2"
    cluster.run_until(in_phase(Phase.WAITING))
    cluster.command = Command("promote", "id-3", "carol")
    cluster.tick()
    assert cluster.phase is Phase.PROGRESSING
    assert cluster.target_replicas > 0


def test_abort_rolls_back_now_and_names_the_user() -> None:
    cluster = progressing(initialized(Cluster(make_spec())), 30)
    cluster.command = Command("abort", "id-4", "dave")
    decision = cluster.tick()
    assert cluster.phase is Phase.FAILED
    assert cluster.weights == (100, 0)
    assert cluster.target_replicas == 0
    assert cluster.state.reason == "Aborted"
    assert any("aborted by dave" in m for m in messages([decision]))
    assert [a.severity for a in decision.alerts] == ["warn"]


def test_retry_runs_the_failed_revision_again_without_a_template_change() -> None:
    cluster = initialized(Cluster(make_spec(threshold=1)))
    cluster.metrics = lambda c: measured(success_rate=10)
    cluster.target_hash = "v2"
    cluster.run_until(in_phase(Phase.FAILED))
    cluster.metrics = lambda c: measured()
    cluster.command = Command("retry", "id-5", "erin")
    decision = cluster.tick()
    assert cluster.phase is Phase.PROGRESSING
    assert any(m == "Retrying podinfo.test by erin" for m in messages([decision]))
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert cluster.primary_hash == "v2"


def test_a_command_that_does_not_apply_is_ignored_once_and_says_why() -> None:
    cluster = initialized(Cluster(make_spec()))
    cluster.command = Command("abort", "id-6", "frank")
    decision = cluster.tick()
    assert cluster.phase is Phase.INITIALIZED
    assert cluster.state.last_command is not None
    assert cluster.state.last_command.outcome == "Ignored"
    assert "nothing to abort in phase Initialized" in (cluster.state.last_command.message or "")
    assert decision.actions == ()
    assert not messages([cluster.tick()])


def test_pause_holds_the_weight_and_resume_continues() -> None:
    cluster = progressing(initialized(Cluster(make_spec())), 20)
    cluster.paused_by = "grace"
    first = cluster.tick()
    later = [cluster.tick() for _ in range(3)]
    assert cluster.state.canary_weight == 20
    assert cluster.state.reason == "Paused"
    assert messages([first]) == ["Paused podinfo.test by grace"]
    assert messages(later) == []
    cluster.paused_by, cluster.resumed_by = None, "heidi"
    resumed = cluster.tick()
    assert messages([resumed])[0] == "Resumed podinfo.test by heidi"
    assert cluster.state.reason != "Paused"
    assert cluster.state.canary_weight == 30  # the step was overdue: taken at once
    assert not any("Resumed" in m for m in messages([cluster.tick()]))
    cluster.run_until(in_phase(Phase.SUCCEEDED))


def test_history_keeps_the_last_checks_with_values_thresholds_and_times() -> None:
    status = status_in(Phase.PROGRESSING, weight=10)
    seen = observe(target_hash="v2", weights=(90, 10), metrics=measured(success_rate=97.5),
                   history_limit=3)
    decision = decide(make_spec(), status, seen)
    history = decision.status.history or []
    assert [(h.name, h.outcome) for h in history] == [
        ("request-success-rate", "Fail"), ("request-duration", "Pass")]
    assert history[0].value == 97.5 and history[0].window == "1m"
    assert history[0].threshold and "99" in history[0].threshold
    later = decide(make_spec(), decision.status,
                   observe(now=seen.now + timedelta(minutes=1), target_hash="v2", weights=(90, 10),
                           metrics=measured(), history_limit=3))
    assert len(later.status.history or []) == 3
    assert (later.status.history or [])[-1].time == seen.now + timedelta(minutes=1)


def test_the_reason_of_the_last_transition_is_kept_until_the_next_one() -> None:
    cluster = initialized(Cluster(make_spec(threshold=1)))
    cluster.metrics = lambda c: measured(success_rate=10)
    cluster.target_hash = "v2"
    cluster.run_until(in_phase(Phase.FAILED))
    assert cluster.state.last_transition_reason == "FailedChecksThreshold"
    assert "threshold" in (cluster.state.last_transition_message or "")


def test_a_withdrawn_revision_leaves_waiting() -> None:
    spec = make_spec(webhooks=[{"name": "gate", "type": "confirm-rollout", "url": "http://g/"}])
    cluster = initialized(Cluster(spec, hooks=refusing(WebhookType.CONFIRM_ROLLOUT)))
    cluster.target_hash = "v2"
    cluster.run_until(in_phase(Phase.WAITING))
    cluster.target_hash = "v1"  # the user reverts the change nobody approved
    cluster.tick()
    assert cluster.phase is Phase.SUCCEEDED
    assert cluster.state.reason == "BackToPrimarySpec"


def test_a_retried_revision_gets_a_new_session_cookie() -> None:
    spec = make_spec(threshold=1, sessionAffinity={"cookieName": "canary"})
    cluster = initialized(Cluster(spec))
    cluster.target_hash = "v2"
    cluster.run_until(lambda c: bool(c.status and c.status.session_affinity_cookie))
    first = cluster.state.session_affinity_cookie
    cluster.metrics = lambda c: measured(success_rate=10)
    cluster.run_until(in_phase(Phase.FAILED))
    cluster.metrics = lambda c: measured()
    cluster.command = Command("retry", "id-7", "heidi")
    cluster.run_until(lambda c: bool(c.status and c.status.session_affinity_cookie))
    assert cluster.state.session_affinity_cookie != first
    assert cluster.state.previous_session_affinity_cookie == first
