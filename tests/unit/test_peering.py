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


def test_without_a_set_priority_the_replica_that_started_first_outranks_the_others() -> None:
    # kopf pauses every operator that sees a live peer of the same priority: no ties, and
    # a newcomer stands by until the working replica is gone.
    settings = OperatorSettings(peering="canary-operator")
    started = 1_796_000_000_000_000_000  # ns since the epoch: December 2026
    first, second = (peering_options(settings, started + delay)["priority"]
                     for delay in (0, 1_000))
    assert first == 2**63 // 1000 - started // 1000
    assert first == second + 1  # a microsecond later is a step lower
    # Positive, and exact as a JSON number (the KopfPeering stores it).
    assert 0 < second < first < 2**53
    assert peering_options(settings)["priority"] < first  # now is later than that
