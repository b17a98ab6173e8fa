"""The benchmark's breakdown of where the machine's CPU went: per process group between
two readings, and the report's table at each operator's largest N."""

from __future__ import annotations

from typing import Any

from bench.procstat import cores_between
from bench.report import machine_section, summary


def test_cores_are_cpu_seconds_over_the_wall_time_largest_first() -> None:
    before = {"kube-apiserver": 10.0, "canary-operator": 5.0, "etcd": 1.0}
    after = {"kube-apiserver": 40.0, "canary-operator": 15.0, "etcd": 0.0}  # etcd restarted
    assert cores_between(before, after, 20.0) == {
        "kube-apiserver": 1.5, "canary-operator": 0.5, "etcd": 0.0}
    assert list(cores_between(before, after, 20.0)) == ["kube-apiserver", "canary-operator",
                                                         "etcd"]
    assert cores_between(before, after, 0.0) == {}


def scale_run(operator: str, n: int, cores: dict[str, float] | None) -> dict[str, Any]:
    run: dict[str, Any] = {"operator": operator, "n": n, "succeeded": n, "step_lag_p50": 1.0,
                           "step_lag_p99": 2.0, "promotion_seconds": 100.0,
                           "cpu_seconds": 10.0, "cpu_cores": 0.1, "peak_rss_mb": 200.0,
                           "prometheus_qps": 5.0, "init_seconds": 30.0}
    if cores is not None:
        run |= {"lab_cores": cores, "machine_cores": 2}
    return run


def test_the_table_shows_each_operators_largest_n_with_the_total() -> None:
    lines = machine_section([
        scale_run("ours", 500, {"kube-apiserver": 0.4, "canary-operator": 0.2}),
        scale_run("ours", 1000, {"kube-apiserver": 0.8, "canary-operator": 0.4}),
        scale_run("flagger", 1000, {"kube-apiserver": 0.5, "flagger": 0.1}),
        scale_run("flagger", 2000, None),  # recorded before the breakdown existed
    ])
    assert "| process | ours, N=1000 | flagger, N=1000 |" in lines
    assert "| kube-apiserver | 0.80 | 0.50 |" in lines
    assert "| canary-operator | 0.40 | 0.00 |" in lines
    assert "| flagger | 0.00 | 0.10 |" in lines
    assert "| all | **1.20 of 2** | **0.60 of 2** |" in lines
    assert machine_section([scale_run("ours", 10, None)]) == []


def test_the_summary_keeps_the_table() -> None:
    text = summary({"scale": [scale_run("ours", 100, {"kube-apiserver": 0.3})],
                    "meta": {}})
    assert "## Where the CPU went during the progression" in text
    assert "| kube-apiserver | 0.30 |" in text
