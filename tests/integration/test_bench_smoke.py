"""A small run of the benchmarks (`make bench`), our operator only, so the bench code
keeps working: one repetition, one Canary for the API economy, 10 for the scale run,
2 s intervals. Flagger is never built or run here; the full run stays out of CI."""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import parse, run
from bench.report import write

from tests.paths import shared_testdata

N = 10


def test_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results"
    args = ["--operators", "ours", "--scenarios", "api,scale", "--repeat", "1",
            "--scale-n", str(N), "--interval", "2", "--metric-window", "10s",
            "--baseline-seconds", "5", "--out", str(out), "--work-dir", str(tmp_path / "work")]
    data = shared_testdata()
    if data is not None:
        args += ["--data-dir", str(data)]
    results = run(parse(args))
    report = write(results, out).read_text()

    [api] = results["api"]
    assert api["operator"] == "ours"
    assert api["steps"] == 5  # 10, 20, 30, 40, 50
    assert api["step_exact"]["requests"] > 0
    assert api["step_exact"]["writes"] > 0
    assert api["promotion_seconds"] >= 5 * 2
    [scaled] = results["scale"]
    assert scaled["succeeded"] == N, scaled
    assert scaled["cpu_seconds"] > 0
    assert 10 < scaled["peak_rss_mb"] < 2000
    assert scaled["prometheus_qps"] > 0
    assert scaled["step_lag_p99"] == scaled["step_lag_p99"]  # not NaN: steps were seen
    # The operator is one of the lab's processes whose CPU the run breaks down.
    assert scaled["lab_cores"]["canary-operator"] > 0
    assert scaled["lab_cores"]["kube-apiserver"] > 0

    for row in ("| requests (operator's own, steps 10→50) |", "| writes (operator's own",
                "| reads: get+list", f"| {N} (scrape 1s) | Canaries Succeeded | {N} |",
                f"| {N} (scrape 1s) | step lag p99 (s) |", "## Targets (issue 8)",
                "## Where the CPU went during the progression", "| canary-operator | "):
        assert row in report, row
    assert (out / "latest-summary.md").is_file()
    json.dumps(results, default=str)  # what `make bench` saves
