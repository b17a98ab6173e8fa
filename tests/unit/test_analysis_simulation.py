"""Whole runs through `decide`, with a simulated cluster carrying out the actions and the
loop sleeping `seconds_until_next_tick` between ticks."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from canary_operator.analysis import MetricObservation, Readiness
from canary_operator.analysis.schedule import READINESS_POLL_SECONDS
from canary_operator.api import Phase
from tests.unit.test_analysis_helpers import (
    READY,
    STUCK,
    Cluster,
    in_phase,
    make_spec,
    measured,
    messages,
)


def initialized(cluster: Cluster) -> Cluster:
    cluster.run_until(in_phase(Phase.INITIALIZED))
    assert cluster.target_replicas == 0
    assert cluster.weights == (100, 0)
    return cluster


def test_canonical_run_promotes_in_steps_of_ten_up_to_fifty() -> None:
    cluster = initialized(Cluster(make_spec()))
    cluster.target_hash = "v2"
    run = cluster.run_until(in_phase(Phase.SUCCEEDED))
    steps = [(d.status.phase, d.status.canary_weight) for d in run]
    assert steps[-9:] == [
        (Phase.PROGRESSING, 0),
        (Phase.PROGRESSING, 10), (Phase.PROGRESSING, 20), (Phase.PROGRESSING, 30),
        (Phase.PROGRESSING, 40), (Phase.PROGRESSING, 50),
        (Phase.PROMOTING, 50), (Phase.FINALISING, 0), (Phase.SUCCEEDED, 0),
    ]
    assert [m for m in messages(run) if "Advance" in m or "!" in m or "Copying" in m] == [
        "New revision detected! Scaling up podinfo.test",
        "Advance podinfo.test canary weight 10",
        "Advance podinfo.test canary weight 20",
        "Advance podinfo.test canary weight 30",
        "Advance podinfo.test canary weight 40",
        "Advance podinfo.test canary weight 50",
        "Copying podinfo.test template spec to podinfo-primary.test",
        "Promotion completed! Scaling down podinfo.test",
    ]
    assert cluster.primary_hash == "v2"
    assert cluster.weights == (100, 0)
    assert cluster.target_replicas == 0
    status = cluster.status
    assert status is not None
    assert status.last_applied_spec == status.last_promoted_spec == "v2"
    assert status.failed_checks == 0


def test_canonical_run_measures_only_on_check_ticks_one_interval_apart() -> None:
    cluster = initialized(Cluster(make_spec()))
    cluster.target_hash = "v2"
    start = len(cluster.decisions)
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    run = cluster.decisions[start:]
    checked = [d for d, asked in zip(run, cluster.queried[start:], strict=True) if asked]
    # Checks at weights 10, 20, 30, 40 (each advancing) and 50 (promoting).
    assert len(checked) == 5
    times = [d.status.last_step_time for d in run if d.status.last_step_time is not None
             and d.status.reason in ("NewRevision", "AnalysisStarted", "Advanced", "Promoting",
                                     "Finalising", "Succeeded")]
    gaps = {later - earlier for earlier, later in itertools.pairwise(times)}
    assert gaps == {timedelta(minutes=1)}


def test_failing_success_rate_rolls_back_after_five_failed_checks() -> None:
    cluster = initialized(Cluster(make_spec(), metrics=lambda _: measured(success_rate=97.5)))
    cluster.target_hash = "v2"
    run = cluster.run_until(in_phase(Phase.FAILED))
    halts = [m for m in messages(run) if m.startswith("Halt")]
    assert halts == ["Halt podinfo.test advancement success rate 97.50% < 99%"] * 5
    assert messages(run)[-2:] == [
        "Rolling back podinfo.test failed checks threshold reached 5",
        "Canary failed! Scaling down podinfo.test",
    ]
    assert cluster.weights == (100, 0)
    assert cluster.target_replicas == 0
    assert cluster.primary_hash == "v1"
    assert cluster.status is not None
    assert cluster.status.failed_checks == 5
    # The weight never went past the first step.
    assert max(d.status.canary_weight for d in run) == 10


def test_no_traffic_rolls_back_with_no_data_warnings() -> None:
    cluster = initialized(Cluster(make_spec(threshold=2),
                                  metrics=lambda _: measured(success_rate=None, duration=None)))
    cluster.target_hash = "v2"
    run = cluster.run_until(in_phase(Phase.FAILED))
    assert sum("NoData" in m for m in messages(run)) == 4  # two metrics, two ticks


def test_a_prometheus_outage_pauses_the_analysis_and_it_resumes() -> None:
    outage = {"on": False}

    def metrics(_: Cluster) -> tuple[MetricObservation, ...]:
        return measured(error="Get http://prometheus:9090: connection refused"
                        if outage["on"] else None)

    cluster = initialized(Cluster(make_spec(), metrics=metrics))
    cluster.target_hash = "v2"
    cluster.run_until(lambda c: c.status is not None and c.status.canary_weight == 30)
    outage["on"] = True
    # Ten intervals of 1m: within the default progressDeadlineSeconds (600s).
    for _ in range(10):
        decision = cluster.tick()
        assert decision.status.canary_weight == 30
        assert decision.status.failed_checks == 0
    assert cluster.weights == (70, 30)
    outage["on"] = False
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert cluster.status is not None
    assert cluster.status.failed_checks == 0
    assert cluster.status.checks_unavailable_since is None


def test_a_configuration_error_is_a_failed_check_and_rolls_back_at_the_threshold() -> None:
    missing = ("MetricTemplate test/latency named by templateRef was not found; create it or "
               "fix analysis.metrics[].templateRef")

    def metrics(_: Cluster) -> tuple[MetricObservation, ...]:
        return (MetricObservation("request-success-rate", "q", "1m", 99.9),
                MetricObservation("request-duration", "", "1m", None, error=missing,
                                  invalid=True))

    cluster = initialized(Cluster(make_spec(), metrics=metrics))
    cluster.target_hash = "v2"
    run = cluster.run_until(in_phase(Phase.FAILED))
    counted = [d for d in run if d.status.reason == "ChecksFailed"]
    assert [d.status.failed_checks for d in counted] == [1, 2, 3, 4, 5]
    assert cluster.state.reason == "FailedChecksThreshold"
    assert cluster.state.failed_checks == 5
    assert cluster.weights == (100, 0)
    assert messages(counted[:1]) == [
        f"Halt podinfo.test advancement request-duration cannot be checked: {missing} "
        "(counted as a failed check)"]
    assert counted[0].status.checks is not None
    assert [c.outcome for c in counted[0].status.checks] == ["Pass", "Invalid"]


def test_an_outage_longer_than_the_progress_deadline_rolls_back() -> None:
    def metrics(_: Cluster) -> tuple[MetricObservation, ...]:
        return measured(error="Get http://prometheus:9090: connection refused")

    cluster = initialized(Cluster(make_spec(), metrics=metrics))
    cluster.target_hash = "v2"
    run = cluster.run_until(in_phase(Phase.FAILED))
    assert cluster.status is not None
    assert cluster.status.reason == "ChecksUnavailableTooLong"
    assert cluster.status.failed_checks == 0
    assert cluster.weights == (100, 0)
    # Held at 0s, 60s, ... 600s (eleven checks), rolled back at 660s > 600s.
    unavailable = [d for d in run if d.status.reason == "ChecksUnavailable"]
    assert len(unavailable) == 11
    assert "unavailable for 660s, longer than progressDeadlineSeconds (600s)" in run[-1].reason


def test_a_new_revision_mid_run_restarts_and_promotes_the_newest() -> None:
    cluster = initialized(Cluster(make_spec()))
    cluster.target_hash = "v2"
    cluster.run_until(lambda c: c.status is not None and c.status.canary_weight == 30)
    cluster.target_hash = "v3"
    decision = cluster.tick()
    assert decision.status.canary_weight == 0
    assert cluster.weights == (100, 0)
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert cluster.primary_hash == "v3"


def test_a_slow_canary_is_polled_rather_than_waited_for_a_whole_interval() -> None:
    ready_at: list[datetime] = []

    def canary(cluster: Cluster) -> Readiness:
        if cluster.target_hash == "v1":
            return READY
        if cluster.target_replicas == 0:
            return Readiness(False, True, "deployment is scaled to zero")
        if not ready_at:
            ready_at.append(cluster.now + timedelta(seconds=75))
        if cluster.now < ready_at[0]:
            return Readiness(False, True, "waiting for rollout to finish")
        return READY

    cluster = initialized(Cluster(make_spec(), canary_ready=canary))
    cluster.target_hash = "v2"
    run = cluster.run_until(lambda c: c.status is not None and c.status.canary_weight == 10)
    detected = next(d for d in run if d.status.reason == "NewRevision")
    assert detected.status.last_step_time is not None
    assert run[-1].status.last_step_time is not None
    # The first look is an interval after detection; from then on the timer looks every
    # READINESS_POLL_SECONDS (a watch event of the Deployment wakes it sooner; not here).
    lag = run[-1].status.last_step_time - detected.status.last_step_time
    assert (timedelta(seconds=60 + 75) <= lag
            <= timedelta(seconds=60 + 75 + READINESS_POLL_SECONDS))
    assert sum(d.status.reason == "CanaryNotReady" for d in run) >= 75 / READINESS_POLL_SECONDS
    assert all(d.status.failed_checks == 0 for d in run)


def test_a_canary_that_never_becomes_ready_rolls_back_at_its_deadline() -> None:
    def canary(cluster: Cluster) -> Readiness:
        return STUCK if cluster.target_replicas > 0 else Readiness(False, True, "zero")

    cluster = initialized(Cluster(make_spec(), canary_ready=canary))
    cluster.target_hash = "v2"
    run = cluster.run_until(in_phase(Phase.FAILED))
    assert any(m.startswith("Rolling back podinfo.test progress deadline exceeded")
               for m in messages(run))
    assert cluster.target_replicas == 0


def test_skipped_analysis_promotes_in_one_step_once_the_canary_runs() -> None:
    cluster = initialized(Cluster(make_spec(skipAnalysis=True)))
    cluster.target_hash = "v2"
    run = cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert "Promotion completed! Canary analysis was skipped for podinfo.test" in messages(run)
    assert not any(cluster.queried)
    assert cluster.primary_hash == "v2"
    assert cluster.target_replicas == 0


def test_flaggers_own_phase_test_with_step_weight_promotion() -> None:
    # pkg/controller/scheduler_deployment_test.go::TestScheduler_DeploymentAnalysisPhases
    cluster = initialized(Cluster(make_spec(stepWeight=100, maxWeight=None,
                                            stepWeightPromotion=50)))
    cluster.target_hash = "v2"
    run = cluster.run_until(in_phase(Phase.SUCCEEDED))
    steps = [(d.status.phase, d.status.canary_weight) for d in run
             if d.status.reason not in (None, "Initialized")]
    assert steps[-6:] == [
        (Phase.PROGRESSING, 0), (Phase.PROGRESSING, 100), (Phase.PROMOTING, 100),
        (Phase.PROMOTING, 50), (Phase.FINALISING, 0), (Phase.SUCCEEDED, 0),
    ]


def test_step_weights_run_through_the_list() -> None:
    cluster = initialized(Cluster(make_spec(stepWeight=None, maxWeight=None,
                                            stepWeights=[1, 5, 25, 60])))
    cluster.target_hash = "v2"
    run = cluster.run_until(in_phase(Phase.SUCCEEDED))
    advanced = [m for m in messages(run) if m.startswith("Advance")]
    assert advanced == [f"Advance podinfo.test canary weight {w}" for w in (1, 5, 25, 60)]
