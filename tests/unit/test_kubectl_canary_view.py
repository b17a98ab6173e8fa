"""`kubectl canary get NAME`: the rich view rendered to text at 100 columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from canary_operator.api.commands import ANNOTATION_PAUSED, ANNOTATION_PAUSED_BY
from canary_operator.cli.canary_view import (
    CanaryEvent,
    age,
    event_from_api,
    render_canary,
    render_table,
    seconds_to_next_step,
    weight_bar,
)

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
WIDTH = 100


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def canary(status: dict[str, Any], analysis: dict[str, Any] | None = None,
           annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "backend-service", "namespace": "prod",
                     "annotations": annotations or {}},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                          "name": "backend-service"},
            "service": {"port": 80},
            "analysis": analysis or {
                "interval": "30s", "threshold": 5, "maxWeight": 50, "stepWeight": 10,
                "metrics": [
                    {"name": "request-success-rate", "thresholdRange": {"min": 99},
                     "interval": "1m"},
                    {"name": "request-duration", "thresholdRange": {"max": 500},
                     "interval": "1m"},
                ]},
        },
        "status": status,
    }


CHECKS = [
    {"name": "request-success-rate", "outcome": "Pass", "value": 99.5, "threshold": ">= 99%",
     "window": "1m"},
    {"name": "request-duration", "outcome": "Fail", "value": 812.4, "threshold": "<= 500ms",
     "window": "1m"},
]


def progressing(**extra: Any) -> dict[str, Any]:
    return {"phase": "Progressing", "canaryWeight": 30, "failedChecks": 1,
            "reason": "Advanced", "message": "advance backend-service.prod canary weight 30",
            "lastStepTime": ago(18), "lastTransitionTime": ago(130),
            "lastTransitionReason": "NewRevision",
            "lastTransitionMessage": "New revision detected", "checks": CHECKS, **extra}


def line_with(text: str, needle: str) -> str:
    found = [line for line in text.splitlines() if needle in line]
    assert found, f"no line with {needle!r} in:\n{text}"
    return found[0]


def test_progressing_shows_the_weight_bar_the_checks_and_the_next_step() -> None:
    events = [CanaryEvent(NOW - timedelta(seconds=5), "Normal", "Synced",
                          "Advance backend-service.prod canary weight 30")]
    text = render_canary(canary(progressing()), events, NOW, WIDTH)

    assert "backend-service in prod   Progressing" in text
    bar = line_with(text, "canary weight  ")
    assert "[" + "█" * 18 + "░" * 12 + "]" in bar  # 30 of 50 in 30 cells
    assert "30% of 50%" in bar
    assert "1 of 5 allowed before rollback" in line_with(text, "failed checks")
    assert "in 12s" in line_with(text, "next step")  # 30s interval, 18s since the step
    success = line_with(text, "request-success-rate")
    assert "✔" in success and "99.50%" in success and ">= 99%" in success and "1m" in success
    duration = line_with(text, "request-duration")
    assert "✘" in duration and "812ms" in duration and "<= 500ms" in duration
    assert "Fail" in duration
    assert "Progressing 2m10s ago (NewRevision: New revision detected)" in text
    assert "Advance backend-service.prod canary weight 30" in line_with(text, "5s")
    assert "no" in line_with(text, "paused")
    assert all(len(line) <= WIDTH for line in text.splitlines())


def test_an_overdue_step_is_due_now() -> None:
    text = render_canary(canary(progressing(lastStepTime=ago(45))), [], NOW, WIDTH)
    assert "due now" in line_with(text, "next step")
    assert seconds_to_next_step(canary(progressing(lastStepTime=ago(45))), NOW) == -15


def test_failed_names_the_failing_check_and_offers_retry() -> None:
    status = {"phase": "Failed", "canaryWeight": 0, "failedChecks": 5,
              "reason": "FailedChecksThreshold",
              "message": "Canary failed! request-success-rate 80.00 < 99 (1m)",
              "lastTransitionTime": ago(20), "checks": [
                  {"name": "request-success-rate", "outcome": "Fail", "value": 80.0,
                   "threshold": ">= 99%", "window": "1m"}]}
    text = render_canary(canary(status), [], NOW, WIDTH)
    assert "Failed" in text.splitlines()[0]
    check = line_with(text, "request-success-rate  ")
    assert "✘" in check and "80.00%" in check and ">= 99%" in check
    assert "5 of 5 allowed" in text
    assert "kubectl canary retry backend-service" in text
    assert "none: waiting for a new revision" in line_with(text, "next step")


def test_failed_without_checks_shows_the_last_failure_from_the_history() -> None:
    status = {"phase": "Failed", "failedChecks": 3, "history": [
        {"time": ago(40), "name": "request-duration", "outcome": "Pass", "value": 40,
         "threshold": "<= 500ms", "window": "1m"},
        {"time": ago(20), "name": "request-success-rate", "outcome": "NoData",
         "threshold": ">= 99%", "window": "1m"}]}
    text = render_canary(canary(status), [], NOW, WIDTH)
    assert ("last failed check: request-success-rate no data against >= 99% (1m, NoData)"
            in text)


def test_waiting_promotion_keeps_the_weight_and_offers_promote() -> None:
    status = progressing(phase="WaitingPromotion", canaryWeight=50, failedChecks=0,
                         reason="WaitingForPromotion",
                         message="confirm-promotion gate closed")
    text = render_canary(canary(status), [], NOW, WIDTH)
    assert "WaitingPromotion" in text.splitlines()[0]
    assert "[" + "█" * 30 + "]" in text and "50% of 50%" in text
    assert "WaitingForPromotion: confirm-promotion gate closed" in text
    assert "kubectl canary promote backend-service" in text
    assert "in 12s" in line_with(text, "next step")


def test_blue_green_counts_iterations() -> None:
    analysis = {"interval": "1m", "threshold": 2, "iterations": 10,
                "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}]}
    status = {"phase": "Progressing", "canaryWeight": 100, "iterations": 4,
              "lastStepTime": ago(50)}
    text = render_canary(canary(status, analysis), [], NOW, WIDTH)
    assert "blue/green, 10 iterations, every 1m" in text
    progress = line_with(text, "iterations  ")
    assert "[" + "█" * 12 + "░" * 18 + "]" in progress and "4/10" in progress
    assert "in 10s" in line_with(text, "next step")


def test_a_b_testing_is_named() -> None:
    analysis = {"interval": "1m", "iterations": 5,
                "match": [{"headers": {"x-canary": {"exact": "insider"}}}]}
    text = render_canary(canary({"phase": "Progressing", "iterations": 1}, analysis),
                         [], NOW, WIDTH)
    assert "A/B testing, 5 iterations" in text and "1/5" in text


def test_paused_holds_the_next_step_and_names_who() -> None:
    annotations = {ANNOTATION_PAUSED: "true", ANNOTATION_PAUSED_BY: "alice"}
    status = progressing(reason="Paused", message="paused by alice")
    text = render_canary(canary(status, annotations=annotations), [], NOW, WIDTH)
    assert "PAUSED" in text.splitlines()[0]
    assert "yes, by alice" in line_with(text, "paused  ")
    assert "held while paused" in line_with(text, "next step")
    assert "kubectl canary resume backend-service" in text
    assert seconds_to_next_step(canary(status, annotations=annotations), NOW) is None


def test_the_last_command_and_its_outcome_are_shown() -> None:
    status = progressing(lastCommand={"id": "1", "action": "abort", "user": "bob",
                                      "outcome": "Ignored", "time": ago(3),
                                      "message": "nothing to abort in phase Succeeded"})
    text = render_canary(canary(status), [], NOW, WIDTH)
    assert ("abort by bob: Ignored (nothing to abort in phase Succeeded), 3s ago"
            in line_with(text, "last command"))


def test_events_are_the_newest_in_time_order() -> None:
    events = [CanaryEvent(NOW - timedelta(seconds=s), "Normal", "Synced", f"event {s}")
              for s in (10, 90, 30, 50, 70, 20, 40, 60)]
    events.append(CanaryEvent(NOW - timedelta(seconds=1), "Warning", "Synced", "newest",
                              count=3))
    text = render_canary(canary(progressing()), events, NOW, WIDTH)
    shown = [line for line in text.splitlines() if "event " in line or "newest" in line]
    assert [line.split()[-1] if "newest" not in line else "newest" for line in shown] == [
        "50", "40", "30", "20", "10", "newest"]
    assert "Warning" in shown[-1] and "(x3)" in shown[-1]


def test_a_canary_without_status_renders() -> None:
    text = render_canary(canary({}), [], NOW, WIDTH)
    assert "(not initialized yet)" in text


def test_the_table_has_kubectl_columns() -> None:
    other = canary({"phase": "Succeeded", "lastTransitionTime": ago(7200)})
    other["metadata"]["name"] = "frontend"
    text = render_table([canary(progressing()), other], NOW, True, WIDTH)
    lines = text.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "STATUS", "WEIGHT", "FAILED", "LAST",
                                "TRANSITION"]
    assert lines[1].split() == ["prod", "backend-service", "Progressing", "30", "1/5",
                                "2m10s"]
    assert lines[2].split() == ["prod", "frontend", "Succeeded", "0", "0/5", "2h"]


def test_event_from_api_reads_the_last_timestamp() -> None:
    event = event_from_api({"type": "Warning", "reason": "Synced", "count": 2,
                            "message": "Halt  advancement\nnow",
                            "lastTimestamp": "2025-06-01T11:59:00Z"})
    assert event == CanaryEvent(datetime(2025, 6, 1, 11, 59, tzinfo=UTC), "Warning",
                                "Synced", "Halt advancement now", 2)


def test_helpers() -> None:
    assert weight_bar(0, 50, 10) == "[░░░░░░░░░░]"
    assert weight_bar(60, 50, 10) == "[██████████]"
    assert [age(NOW - timedelta(seconds=s), NOW) for s in (5, 75, 700, 3700, 90000)] == [
        "5s", "1m15s", "11m", "1h1m", "1d"]
