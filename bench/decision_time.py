"""Time to decision: a release answering 100% errors, from the image bump to the
rollback (`Failed`), next to the least its spec allows (threshold failed checks, one per
interval). The healthy side (bump to `Succeeded`, tick durations) comes from the API
economy's promotion."""

from __future__ import annotations

import time
from typing import Any

from bench.api_economy import NAME, prepare
from bench.harness import BenchLab, say
from bench.workload import BAD_IMAGE, Spec, release


def run(bench: BenchLab, spec: Spec) -> dict[str, Any]:
    if bench.watches is None:
        raise RuntimeError("the bench lab is not up")
    namespace = prepare(bench, "rollback", spec)
    started = time.time()
    bench.patch_all(namespace, [(NAME, release(NAME, BAD_IMAGE, error_rate=1.0))])
    bench.wait(lambda: bench.phases(namespace).get(NAME) == "Failed",
               f"{bench.operator_kind}: Canary {namespace}/{NAME} rolled back",
               spec.interval_seconds * (spec.threshold + 8) * 3 + 60)
    phases = bench.watches.phases.of(namespace, NAME)
    weights = bench.watches.weights.of(namespace, NAME)
    failed_at = next(c.at for c in phases if c.value == "Failed" and c.at >= started)
    progressing = [c.at for c in phases if c.value == "Progressing" and c.at >= started]
    first_weight = [c.at for c in weights if c.at >= started and c.value]
    bench.stop_operator()
    minimum = spec.threshold * spec.interval_seconds
    seconds = failed_at - started
    result = {
        "operator": bench.operator_kind,
        "rollback_seconds": seconds,
        "rollback_minimum_seconds": minimum,
        "rollback_ratio": seconds / minimum,
        "detect_seconds": (progressing[0] - started) if progressing else None,
        "first_weight_seconds": (first_weight[0] - started) if first_weight else None,
    }
    say(f"rollback {bench.operator_kind}: {seconds:.1f}s (minimum {minimum:.0f}s)")
    return result
