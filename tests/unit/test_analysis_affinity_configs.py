"""Session affinity cookies in the status (analysis.sessionAffinity), tracked configs in
the revision (status.trackedConfigs), and the canary's replicas when scaled up beside an
autoscaler (flagger.md §1.3, §1.4, §2.2 steps 12 and 15)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from canary_operator.analysis import ScaleTargetUp, decide
from canary_operator.api import CanarySpec, CanaryStatus, Phase
from tests.unit.test_analysis_helpers import (
    Cluster,
    in_phase,
    initialized,
    make_spec,
    measured,
    observe,
    status_in,
)

AFFINITY = {"cookieName": "canary-session"}
BOTH = {"cookieName": "canary-session", "primaryCookieName": "primary-session"}
COOKIE = re.compile(r"canary-session=[a-z]{10}")
PRIMARY_COOKIE = re.compile(r"primary-session=[a-z]{10}")


def started(spec: CanarySpec, **fields: Any) -> Cluster:
    cluster = initialized(Cluster(spec, **fields))
    cluster.target_hash = "v2"
    return cluster


def cookies(status: CanaryStatus) -> tuple[str | None, str | None, str | None]:
    return (status.session_affinity_cookie, status.primary_session_affinity_cookie,
            status.previous_session_affinity_cookie)


# -- session affinity ------------------------------------------------------------------


def test_the_canary_cookie_is_set_once_the_canary_takes_traffic() -> None:
    cluster = started(make_spec(sessionAffinity=AFFINITY))
    detected = cluster.tick()
    assert cookies(detected.status) == (None, None, None)
    first = cluster.tick()
    assert first.status.canary_weight == 10
    cookie = first.status.session_affinity_cookie
    assert cookie is not None and COOKIE.fullmatch(cookie)
    assert first.status.primary_session_affinity_cookie is None
    # The same cookie for the whole analysis.
    run = cluster.run_until(in_phase(Phase.PROMOTING))
    assert {d.status.session_affinity_cookie for d in run} == {cookie}


def test_the_cookie_is_the_same_when_deciding_twice_or_after_a_restart() -> None:
    spec = make_spec(sessionAffinity=BOTH)
    status = status_in(Phase.PROGRESSING, weight=10)
    seen = observe(target_hash="v2", target_replicas=2, weights=(90, 10), metrics=measured())
    first = decide(spec, status, seen)
    again = decide(spec, status.model_copy(), seen)
    assert first.status == again.status
    assert first.status.session_affinity_cookie is not None
    # A restarted operator deciding on the written status keeps the cookies.
    later = observe(now=seen.now.replace(minute=5), target_hash="v2", target_replicas=2,
                    weights=(80, 20), metrics=measured())
    after = decide(spec, first.status, later)
    assert cookies(after.status)[:2] == cookies(first.status)[:2]


def test_the_primary_cookie_is_set_with_primary_cookie_name() -> None:
    cluster = started(make_spec(sessionAffinity=BOTH))
    cluster.run_until(lambda c: c.state.canary_weight == 10)
    canary, primary, previous = cookies(cluster.state)
    assert canary is not None and COOKIE.fullmatch(canary)
    assert primary is not None and PRIMARY_COOKIE.fullmatch(primary)
    assert canary.split("=")[1] != primary.split("=")[1]
    assert previous is None


def test_the_cookie_becomes_the_previous_one_when_promotion_ends() -> None:
    cluster = started(make_spec(sessionAffinity=AFFINITY))
    cluster.run_until(in_phase(Phase.PROMOTING))
    cookie = cluster.state.session_affinity_cookie
    assert cookie is not None
    finalising = cluster.tick()
    assert finalising.status.phase is Phase.FINALISING
    assert finalising.status.session_affinity_cookie is None
    assert finalising.status.previous_session_affinity_cookie == cookie
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert cluster.state.previous_session_affinity_cookie == cookie


def test_the_cookie_is_kept_while_promotion_moves_traffic_back_in_steps() -> None:
    cluster = started(make_spec(sessionAffinity=AFFINITY, stepWeightPromotion=25))
    cluster.run_until(in_phase(Phase.PROMOTING))
    cookie = cluster.state.session_affinity_cookie
    stepping = cluster.tick()
    assert stepping.status.canary_weight == 25
    assert stepping.status.session_affinity_cookie == cookie
    cluster.run_until(in_phase(Phase.FINALISING))
    assert cluster.state.previous_session_affinity_cookie == cookie


def test_the_cookie_becomes_the_previous_one_at_rollback() -> None:
    cluster = started(make_spec(sessionAffinity=AFFINITY, threshold=1))
    cluster.run_until(lambda c: c.state.canary_weight == 20)
    cookie = cluster.state.session_affinity_cookie
    cluster.metrics = lambda _: measured(success_rate=3.0)
    cluster.run_until(in_phase(Phase.FAILED))
    assert cluster.state.session_affinity_cookie is None
    assert cluster.state.previous_session_affinity_cookie == cookie


def test_a_new_revision_mid_analysis_gets_a_new_cookie() -> None:
    cluster = started(make_spec(sessionAffinity=AFFINITY))
    cluster.run_until(lambda c: c.state.canary_weight == 20)
    old = cluster.state.session_affinity_cookie
    cluster.target_hash = "v3"
    restarted = cluster.tick()
    assert restarted.status.session_affinity_cookie is None
    assert restarted.status.previous_session_affinity_cookie == old
    cluster.run_until(lambda c: c.state.canary_weight == 10)
    new = cluster.state.session_affinity_cookie
    assert new is not None and COOKIE.fullmatch(new) and new != old


def test_no_cookies_without_session_affinity() -> None:
    cluster = started(make_spec())
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert all(cookies(d.status) == (None, None, None) for d in cluster.decisions)


# -- tracked configs ---------------------------------------------------------------------


def test_a_config_change_alone_starts_nothing_until_it_is_in_the_revision_hash() -> None:
    """The contract with the shell: `decide` compares `target_hash` only. The controller
    folds the tracked configs' checksums into `target_hash` (controller.observing.
    revision_hash), so a changed ConfigMap arrives as a new hash; `tracked_configs` is
    only recorded in the status."""
    cluster = initialized(Cluster(make_spec(), tracked_configs={"configmap/podinfo": "aaaa"}))
    assert cluster.state.tracked_configs == {"configmap/podinfo": "aaaa"}
    cluster.tracked_configs = {"configmap/podinfo": "bbbb"}
    held = cluster.tick()
    assert held.status.phase is Phase.INITIALIZED
    assert held.reason.startswith("no new revision")
    assert held.status.tracked_configs == {"configmap/podinfo": "aaaa"}
    # The shell folds the new checksum into the hash: a new revision.
    cluster.target_hash = "v1+configmap/podinfo=bbbb"
    started_ = cluster.tick()
    assert started_.status.phase is Phase.PROGRESSING
    assert started_.status.reason == "NewRevision"
    assert started_.status.tracked_configs == {"configmap/podinfo": "bbbb"}
    assert started_.status.last_applied_spec == "v1+configmap/podinfo=bbbb"


def test_tracked_configs_are_recorded_at_initialization() -> None:
    configs = {"configmap/podinfo": "0123abcd", "secret/podinfo-token": "89efcdab"}
    cluster = initialized(Cluster(make_spec(), tracked_configs=configs))
    assert cluster.state.tracked_configs == configs


def test_no_tracked_configs_when_config_tracking_is_off() -> None:
    cluster = initialized(Cluster(make_spec()))
    assert cluster.state.tracked_configs is None


def test_a_revision_during_the_analysis_records_its_configs() -> None:
    cluster = started(make_spec(), tracked_configs={"configmap/podinfo": "aaaa"})
    cluster.run_until(lambda c: c.state.canary_weight == 20)
    cluster.tracked_configs = {"configmap/podinfo": "cccc", "secret/extra": "dddd"}
    cluster.target_hash = "v2+configs"
    restarted = cluster.tick()
    assert restarted.status.reason == "AnalysisRestarted"
    assert restarted.status.tracked_configs == {"configmap/podinfo": "cccc",
                                                "secret/extra": "dddd"}


def test_returning_to_the_primary_spec_records_its_configs() -> None:
    status = status_in(Phase.SUCCEEDED, applied="v2", promoted="v1",
                       tracked_configs={"configmap/podinfo": "new"})
    decision = decide(make_spec(), status, observe(
        target_hash="v1", tracked_configs={"configmap/podinfo": "old"}))
    assert decision.status.reason == "BackToPrimarySpec"
    assert decision.status.tracked_configs == {"configmap/podinfo": "old"}
    assert decision.status.last_applied_spec == "v1"


def test_tracked_configs_are_kept_while_the_analysis_steps() -> None:
    cluster = started(make_spec(), tracked_configs={"configmap/podinfo": "aaaa"})
    run = cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert all(d.status.tracked_configs == {"configmap/podinfo": "aaaa"} for d in run)


# -- canary replicas ---------------------------------------------------------------------


AUTOSCALER = {"autoscalerRef": {"apiVersion": "autoscaling/v2",
                                "kind": "HorizontalPodAutoscaler", "name": "podinfo"}}


def with_autoscaler(spec: CanarySpec) -> CanarySpec:
    return CanarySpec.model_validate({**spec.model_dump(by_alias=True, exclude_none=True),
                                      **AUTOSCALER})


@pytest.mark.parametrize(("target", "primary", "hpa_min", "autoscaled", "replicas"), [
    (3, 5, 4, False, 3),    # the target's own replicas win
    (3, 5, 4, True, 3),
    (0, 5, 4, False, 5),    # at zero: the primary's, without an autoscaler
    (None, 5, None, False, 5),
    (0, 5, 4, True, 4),     # with an autoscaler: its minReplicas, the primary's ignored
    (0, 5, 1, True, 1),     # minReplicas 1 is not "> 1": 1 anyway
    (0, 5, None, True, 1),  # no minReplicas known: 1
    (None, None, None, False, 1),
    (0, 0, 3, False, 3),    # no primary replicas: the autoscaler's minReplicas
])
def test_canary_replicas_follow_flaggers_rule(target: int | None, primary: int | None,
                                              hpa_min: int | None, autoscaled: bool,
                                              replicas: int) -> None:
    spec = with_autoscaler(make_spec()) if autoscaled else make_spec()
    seen = observe(target_hash="v2", target_replicas=target, primary_replicas=primary,
                   autoscaler_min_replicas=hpa_min)
    decision = decide(spec, status_in(Phase.SUCCEEDED, applied="v1"), seen)
    assert ScaleTargetUp(replicas) in decision.actions


def test_the_autoscaler_spec_parses() -> None:
    assert with_autoscaler(make_spec()).autoscaler_ref is not None
