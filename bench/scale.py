"""Scale: N Canaries progressing at once with healthy traffic, one lab per run.

Step lag is, per Canary and step, the time between two successive weight changes (seen on
a watch) minus the interval: how late each step came. Also the operator's CPU seconds and
peak RSS while the Canaries progress, and the queries per second Prometheus answered.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

from bench.harness import BenchLab, Operator, RunningOperator, nodes_for, prometheus_queries, say
from bench.procstat import cores_between, cpu_by_name, memory_bytes
from bench.stats import percentile
from bench.workload import GOOD_IMAGE, Spec, canary, release, target


def names(n: int) -> list[str]:
    return [f"app-{i:04d}" for i in range(n)]


def step_lags(bench: BenchLab, namespace: str, spec: Spec, since: float) -> list[float]:
    """Actual minus scheduled time of every step after the first, for every Canary."""
    if bench.watches is None:
        return []
    lags: list[float] = []
    for changes in bench.watches.weights.in_namespace(namespace).values():
        times = [c.at for c in changes if c.at >= since and c.value]
        lags.extend(b - a - spec.interval_seconds for a, b in pairwise(times))
    return lags


def run(operator: Operator, work_dir: Path, n: int, spec: Spec,
        profile: Path | None = None, scrape_interval: str = "1s",
        data_dir: Path | None = None) -> dict[str, Any]:
    """Bring up a lab for `n` Canaries, promote them all at once, return the figures."""
    with BenchLab(operator, work_dir, data_dir, nodes=nodes_for(3 * n),
                  scrape_interval=scrape_interval) as bench:
        namespace = bench.namespace(f"scale{n}")
        targets = names(n)
        t0 = time.monotonic()
        bench.create_all(namespace, [target(name) for name in targets])
        bench.wait(lambda: bench.available(namespace) == n, f"{n} Deployments available",
                   120 + n * 0.5)
        say(f"{n} Deployments available in {time.monotonic() - t0:.0f}s")
        running = bench.start_operator([namespace], min_interval=min(spec.interval_seconds, 10))
        t0 = time.monotonic()
        bench.create_all(namespace, [canary(name, spec) for name in targets])
        bench.wait(lambda: bench.count_phase(namespace, "Initialized") == n,
                   f"{n} Canaries Initialized", 300 + n)
        init_seconds = time.monotonic() - t0
        _, init_peak = memory_bytes(running.pid)
        say(f"{n} Canaries Initialized in {init_seconds:.0f}s")
        time.sleep(min(spec.interval_seconds, 5))
        profiler = _start_profiler(running, profile) if profile else None
        sampler = running.sampler()
        queries_before = prometheus_queries(bench.prometheus_url)
        components = bench.component_pids()
        lab_cpu_before = cpu_by_name(components)
        started = time.time()
        bench.patch_all(namespace, [(name, release(name, GOOD_IMAGE)) for name in targets])
        bump_seconds = time.time() - started
        timeout = spec.interval_seconds * (spec.steps + 8) * 2 + 60 + n * 0.4
        try:
            bench.wait(lambda: bench.count_phase(namespace, "Succeeded") == n,
                       f"{n} Canaries Succeeded", timeout)
        except Exception as error:  # report how far it got
            say(f"scale {operator} n={n}: {error}")
        usage = sampler.stop()
        wall = time.time() - started
        # Where the machine's CPU went: the operator is one of the lab's processes.
        lab_cores = cores_between(lab_cpu_before, cpu_by_name(components), wall)
        queries = prometheus_queries(bench.prometheus_url) - queries_before
        if profiler is not None:
            _stop_profiler(profiler)
        succeeded = bench.count_phase(namespace, "Succeeded")
        lags = step_lags(bench, namespace, spec, started)
        _, peak = memory_bytes(running.pid)
        result = {
            "operator": operator,
            "n": n,
            "succeeded": succeeded,
            "init_seconds": init_seconds,
            "bump_seconds": bump_seconds,
            "promotion_seconds": wall,
            "steps_seen": len(lags) + succeeded,
            "step_lag_p50": percentile(lags, 50),
            "step_lag_p99": percentile(lags, 99),
            "step_lag_max": max(lags) if lags else float("nan"),
            "cpu_seconds": usage.cpu_seconds,
            "cpu_cores": usage.cpu_cores,
            "peak_rss_mb": max(peak, init_peak, usage.peak_rss_bytes) / 2**20,
            "prometheus_qps": queries / wall,
            "scrape_interval": scrape_interval,
            "lab_cores": lab_cores,
            "machine_cores": os.cpu_count() or 1,
        }
        say(f"scale {operator} n={n}: {succeeded}/{n} Succeeded in {wall:.0f}s, step lag "
            f"p50 {result['step_lag_p50']:.2f}s p99 {result['step_lag_p99']:.2f}s, "
            f"CPU {usage.cpu_seconds:.0f}s, peak RSS {result['peak_rss_mb']:.0f} MB, "
            f"{result['prometheus_qps']:.1f} queries/s; lab CPU "
            f"{sum(lab_cores.values()):.2f} of {result['machine_cores']} cores ("
            + ", ".join(f"{name} {cores:.2f}" for name, cores in lab_cores.items()) + ")")
        return result


def _start_profiler(running: RunningOperator, out: Path) -> Any:
    """py-spy recording the operator (ours) into a flame graph, when py-spy is there."""
    # Beside the interpreter running the bench (its virtualenv), else on the PATH.
    beside = Path(sys.executable).parent / "py-spy"
    spy = str(beside) if beside.exists() else (shutil.which("py-spy") or str(beside))
    if not Path(spy).exists():
        say("py-spy not installed (pip install '.[bench]'): no profile")
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([spy, "record", "--pid", str(running.pid), "--rate", "50",
                             "--format", "raw", "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def _stop_profiler(process: Any) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except Exception:
        process.kill()
