"""STEP_EVENTS=false: the routine Event of each analysis step stays out of the API, every
other Event (transitions, halts, rollbacks) is still posted."""

from __future__ import annotations

from typing import Any

import pytest

from canary_operator.alerts import AlertSender
from canary_operator.analysis import Decision, SetWeights
from canary_operator.analysis.decision import Event
from canary_operator.api import Canary, Phase
from canary_operator.controller.notifying import Notifier
from canary_operator.controller.view import JsonDict
from canary_operator.settings import OperatorSettings
from canary_operator.webhooks import WebhookCaller
from tests.unit.test_analysis_helpers import T0, Cluster, in_phase, initialized, make_spec


def promotion(**analysis: Any) -> list[Decision]:
    cluster = initialized(Cluster(make_spec(**analysis)))
    cluster.target_hash = "v2"
    return cluster.run_until(in_phase(Phase.SUCCEEDED))


@pytest.mark.parametrize("analysis", [
    pytest.param({}, id="step-weight"),
    pytest.param({"stepWeight": None, "stepWeights": [5, 25, 50]}, id="step-weights"),
    pytest.param({"iterations": 3, "stepWeight": None, "maxWeight": None}, id="blue-green"),
])
def test_each_step_has_exactly_one_step_event_and_nothing_else_is_one(
        analysis: dict[str, Any]) -> None:
    run = promotion(**analysis)
    step_events = [e.message for d in run for e in d.events if e.step]
    assert step_events, "a promotion has steps"
    assert all(m.startswith("Advance ") for m in step_events)
    others = [e.message for d in run for e in d.events if not e.step]
    assert not [m for m in others if m.startswith("Advance ")]
    assert all(sum(e.step for e in d.events) <= 1 for d in run)


def test_the_weight_steps_are_the_step_events() -> None:
    run = promotion()
    advanced = [d for d in run if any(isinstance(a, SetWeights) and 0 < a.canary < 100
                                      for a in d.actions)]
    assert [d.status.canary_weight for d in advanced] == [10, 20, 30, 40, 50]
    assert all(sum(e.step for e in d.events) == 1 for d in advanced)


def test_step_events_setting_defaults_to_flaggers_behaviour(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert OperatorSettings().step_events is True
    monkeypatch.setenv("CANARY_OPERATOR_STEP_EVENTS", "false")
    assert OperatorSettings().step_events is False


CANARY = Canary.model_validate({
    "apiVersion": "flagger.app/v1beta1", "kind": "Canary",
    "metadata": {"name": "podinfo", "namespace": "test", "uid": "u1"},
    "spec": make_spec().model_dump(by_alias=True, exclude_none=True),
})


class NoView:
    def alert_provider(self, namespace: str, name: str) -> JsonDict | None:
        return None


@pytest.mark.parametrize(("step_events", "posted"), [
    (True, ["Advance podinfo.test canary weight 20", "Halt podinfo.test advancement x"]),
    (False, ["Halt podinfo.test advancement x"]),
])
async def test_the_notifier_leaves_out_only_step_events_when_told(
        step_events: bool, posted: list[str]) -> None:
    run = promotion()
    decision = next(d for d in run if d.status.canary_weight == 20)
    decision = Decision(decision.status, decision.actions,
                        (*decision.events, Event("Warning", "Halt podinfo.test advancement x")),
                        decision.reason)
    seen: list[str] = []
    sender = AlertSender(timeout=1)
    notifier = Notifier(None, lambda _body, event: seen.append(event.message),  # type: ignore[arg-type]
                        WebhookCaller(), sender, lambda: T0, step_events=step_events)
    notifier.publish({}, CANARY, NoView(), decision)  # type: ignore[arg-type]
    await notifier.aclose()
    await sender.aclose()
    assert seen == posted
