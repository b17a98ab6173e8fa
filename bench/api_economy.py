"""API economy: the kube-apiserver requests one Canary costs per analysis step.

One Deployment and one Canary go through a full promotion with healthy traffic. Two counts
of the operator's requests, by verb and resource:

- exact: its own ServiceAccount's requests (our FlowSchemas), between the first step
  (weight 10) and the last (50), divided by the steps between them: the pure cost of an
  analysis step; and over the whole promotion (image bump to Succeeded), per step;
- every client's `apiserver_request_total` over the whole promotion minus a baseline
  window of the same length with the operator stopped (what the issue asks; it also holds
  the rollout work the Deployment controller and kwok do for either operator).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from bench.apimetrics import READ_VERBS, WRITE_VERBS, ApiSnapshot, Key, totals
from bench.harness import BenchLab, say
from bench.stats import histogram_quantile
from bench.workload import GOOD_IMAGE, Spec, canary, release, target

NAME = "podinfo"
# Each tick's duration, in Flagger's name (both operators serve it).
TICK_HISTOGRAM = "flagger_canary_duration_seconds"


def _per(counts: Counter[Key], divisor: float) -> dict[str, float]:
    return {f"{verb} {resource}": round(value / divisor, 3)
            for (verb, resource), value in sorted(counts.items()) if value}


def _summary(counts: Counter[Key], divisor: float) -> dict[str, float]:
    watches = totals(counts, {"watch"})
    return {
        "requests": totals(counts) / divisor,
        "writes": totals(counts, WRITE_VERBS) / divisor,
        "reads": totals(counts, READ_VERBS) / divisor,
        "watches": watches / divisor,
    }


def prepare(bench: BenchLab, prefix: str, spec: Spec, name: str = NAME) -> str:
    """A namespace with the target Deployment available, the operator running on it and
    the Canary Initialized."""
    namespace = bench.namespace(prefix)
    bench.create_all(namespace, [target(name)])
    bench.wait(lambda: bench.available(namespace) == 1, f"{namespace}/{name} available", 120)
    bench.start_operator([namespace], min_interval=min(spec.interval_seconds, 10.0))
    bench.create_all(namespace, [canary(name, spec)])
    bench.wait(lambda: bench.phases(namespace).get(name) == "Initialized",
               f"Canary {namespace}/{name} Initialized", 180)
    time.sleep(min(spec.interval_seconds, 3.0))  # let the initialization's writes settle
    return namespace


def run(bench: BenchLab, spec: Spec, baseline: Counter[Key] | None = None,
        baseline_seconds: float | None = None) -> dict[str, Any]:
    """One promotion; returns the figures of one repetition. The baseline window (the
    operator stopped, as long as the promotion) is measured on the first repetition of a
    lab and returned as a rate (`baseline`) for the next ones; `baseline_seconds` shortens
    it (the smoke test)."""
    if bench.apiserver is None or bench.watches is None:
        raise RuntimeError("the bench lab is not up")
    apiserver, watches = bench.apiserver, bench.watches
    namespace = prepare(bench, "api", spec)
    weights: dict[int, tuple[float, ApiSnapshot]] = {}
    before = apiserver.snapshot()
    started = time.monotonic()
    bench.patch_all(namespace, [(NAME, release(NAME, GOOD_IMAGE))])
    deadline = started + spec.interval_seconds * (spec.steps + 8) * 3 + 60
    while bench.phases(namespace).get(NAME) != "Succeeded":
        bench.wait(lambda: True, "the operator", 1)
        weight = watches.weights.current(namespace, NAME)
        if isinstance(weight, int) and weight > 0 and weight not in weights:
            weights[weight] = (time.monotonic(), apiserver.snapshot())
        if time.monotonic() > deadline:
            raise TimeoutError(f"{bench.operator_kind}: no promotion within "
                               f"{deadline - started:.0f}s")
        time.sleep(0.05)
    duration = time.monotonic() - started
    after = apiserver.snapshot()
    operator_metrics = bench.operator.metrics() if bench.operator else ""
    bench.stop_operator()
    whole = after - before
    steps = len(weights)
    first, last = min(weights), max(weights)
    inner_steps = max(steps - 1, 1)
    inner = weights[last][1] - weights[first][1]
    inner_seconds = weights[last][0] - weights[first][0]
    result: dict[str, Any] = {
        "operator": bench.operator_kind,
        "namespace": namespace,
        "steps": steps,
        "weights": sorted(weights),
        "promotion_seconds": duration,
        "step_exact": _summary(inner.operator, inner_steps),
        "step_exact_by_request": _per(inner.operator, inner_steps),
        "promotion_exact": _summary(whole.operator, steps),
        "promotion_exact_by_request": _per(whole.operator, steps),
        "tick_seconds_p50": histogram_quantile(operator_metrics, TICK_HISTOGRAM, 0.5),
        "tick_seconds_p99": histogram_quantile(operator_metrics, TICK_HISTOGRAM, 0.99),
        "weight_change_times": [round(weights[w][0] - started, 3) for w in sorted(weights)],
    }
    if baseline is None:
        time.sleep(2)  # the stopped operator's last requests
        window = baseline_seconds or duration
        base_start = apiserver.snapshot()
        time.sleep(window)
        measured = (apiserver.snapshot() - base_start).everyone
        baseline = Counter({k: v / window for k, v in measured.items()})
        result["baseline_measured"] = True
    everyone = whole.everyone.copy()
    everyone.subtract(Counter({k: v * duration for k, v in baseline.items()}))
    result["baseline"] = baseline
    result["promotion_everyone_minus_baseline"] = _summary(everyone, steps)
    result["promotion_everyone_minus_baseline_by_request"] = _per(everyone, steps)
    result["baseline_requests_per_second"] = sum(baseline.values())
    result["inner_seconds"] = inner_seconds
    say(f"api economy {bench.operator_kind}: {steps} steps in {duration:.1f}s, "
        f"{result['step_exact']['requests']:.2f} requests per step "
        f"({result['step_exact']['writes']:.2f} writes, {result['step_exact']['reads']:.2f} "
        "reads)")
    return result
