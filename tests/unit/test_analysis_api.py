"""The analysis package's public surface and its one dependency rule."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

from canary_operator import analysis
from canary_operator.analysis import InitializeTargets, SetWeights, decide
from canary_operator.api import CanaryStatus, Phase
from tests.unit.test_analysis_helpers import T0, make_spec, measured, observe, status_in

PACKAGE = Path(analysis.__file__).parent
STANDARD_LIBRARY = {"__future__", "collections", "dataclasses", "datetime", "enum", "hashlib",
                    "math", "re", "typing"}


def test_exports_are_sorted_and_complete() -> None:
    assert analysis.__all__ == sorted(analysis.__all__)
    for name in ("decide", "needs_metrics", "seconds_until_next_tick", "deployment_readiness",
                 "classify", "Decision", "Observation", "Readiness", "MetricObservation"):
        assert name in analysis.__all__
        assert getattr(analysis, name) is not None


def test_the_core_imports_only_the_api_and_the_standard_library() -> None:
    for module in PACKAGE.glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                allowed = (name.split(".")[0] in STANDARD_LIBRARY
                           or name.startswith(("canary_operator.api", "canary_operator.analysis")))
                assert allowed, f"{module.name} imports {name}"


def test_a_missing_primary_is_recreated_after_initialization() -> None:
    status = status_in(Phase.SUCCEEDED, applied="v1", promoted="v1")
    decision = decide(make_spec(), status, observe(primary_exists=False))
    assert decision.actions == (InitializeTargets(with_routing=True),)
    assert "recreating podinfo-primary.test" in decision.reason


def test_missing_routes_are_recreated_before_the_next_weight_is_set() -> None:
    status = status_in(Phase.PROGRESSING, weight=10)
    seen = observe(target_hash="v2", target_replicas=2, weights=None, metrics=measured())
    decision = decide(make_spec(), status, seen)
    assert decision.actions == (InitializeTargets(with_routing=True), SetWeights(80, 20))
    assert decision.reason.endswith("recreating the routes")


def test_a_target_changed_during_initialization_is_analysed_afterwards() -> None:
    creating = decide(make_spec(), None, observe(primary_exists=False, target_hash="v1"))
    assert creating.status.last_promoted_spec == "v1"
    done = decide(make_spec(), creating.status,
                  observe(T0 + timedelta(seconds=2), target_hash="v2"))
    assert done.status.phase is Phase.INITIALIZED
    assert done.status.last_applied_spec == done.status.last_promoted_spec == "v1"
    later = decide(make_spec(), done.status, observe(T0 + timedelta(minutes=1), target_hash="v2"))
    assert later.status.phase is Phase.PROGRESSING


def test_terminating_canaries_are_left_to_the_finalizer() -> None:
    status = CanaryStatus(phase=Phase.TERMINATING)
    decision = decide(make_spec(), status, observe())
    assert decision.status == status
    assert decision.actions == ()


def test_a_target_deleted_mid_analysis_holds_with_a_warning() -> None:
    status = status_in(Phase.PROGRESSING, weight=20)
    decision = decide(make_spec(), status, observe(target_exists=False, target_hash=None))
    assert decision.actions == ()
    assert decision.status.reason == "TargetNotFound"
    assert decision.status.canary_weight == 20
    assert decision.events[0].type == "Warning"
