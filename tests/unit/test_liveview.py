from canary_operator.lab.demo import explain
from canary_operator.lab.liveview import Snapshot, WorkloadStats, render_text


def _snapshot(**changes: object) -> Snapshot:
    values: dict[str, object] = dict(
        canary="demo/podinfo", phase="Progressing", canary_weight=30, max_weight=50,
        failed_checks=1, threshold=3,
        primary=WorkloadStats("podinfo-primary", 100.0, 98.9),
        canary_stats=WorkloadStats("podinfo", 80.0, None),
        last_event="Advance podinfo.demo canary weight 30", elapsed_seconds=12.34)
    values.update(changes)
    return Snapshot(**values)  # type: ignore[arg-type]


def test_the_view_shows_phase_weight_checks_and_both_workloads() -> None:
    text = render_text(_snapshot(), width=100)
    assert "demo/podinfo  Progressing" in text
    assert "12.3s since the bump" in text
    assert "failed checks 1/3" in text
    assert "30% (max 50%)" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "100.0%" in lines["podinfo-primary"] and "98.9 ms" in lines["podinfo-primary"]
    assert "80.0%" in lines["podinfo"] and lines["podinfo"].rstrip().endswith("-")
    assert "last event: Advance podinfo.demo canary weight 30" in text


def test_the_progress_bar_is_as_long_as_the_weight() -> None:
    empty = render_text(_snapshot(canary_weight=0))
    half = render_text(_snapshot(canary_weight=50))
    assert half.count("━") > empty.count("━")


def test_a_failure_is_explained_with_the_numbers_of_its_checks() -> None:
    status = {"message": "3 failed checks reached the threshold of 3: rolling back",
              "checks": [
                  {"name": "request-success-rate", "outcome": "Fail", "value": 79.5,
                   "threshold": ">= 99%", "window": "15s"},
                  {"name": "request-duration", "outcome": "Pass", "value": 98.0,
                   "threshold": "<= 500ms", "window": "15s"},
              ]}
    assert explain(status) == (
        "3 failed checks reached the threshold of 3: rolling back; "
        "request-success-rate Fail: 79.50 (needs >= 99%, over 15s)")
