"""Several replicas peer through kopf, so only one of them works at a time."""

from __future__ import annotations

import pytest

from canary_operator.operator import peering_options
from canary_operator.settings import OperatorSettings


def test_without_a_peering_name_the_operator_runs_standalone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CANARY_OPERATOR_PEERING", raising=False)
    assert peering_options(OperatorSettings()) == {
        "standalone": True, "peering_name": None, "priority": None,
    }


def test_a_peering_name_from_the_environment_turns_peering_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CANARY_OPERATOR_PEERING", "canary-operator")
    monkeypatch.setenv("CANARY_OPERATOR_PEERING_PRIORITY", "42")
    assert peering_options(OperatorSettings()) == {
        "standalone": False, "peering_name": "canary-operator", "priority": 42,
    }


def test_replicas_without_a_set_priority_draw_distinct_positive_ones() -> None:
    # kopf pauses every operator that sees a live peer of the same priority: no ties.
    settings = OperatorSettings(peering="canary-operator")
    priorities = {peering_options(settings)["priority"] for _ in range(50)}
    assert len(priorities) == 50
    assert all(0 < p < 2**31 for p in priorities)
