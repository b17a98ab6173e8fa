"""Events about Canaries: the body client-go's recorder would write, messages the API
server accepts, and a full queue that drops instead of growing."""

from __future__ import annotations

import datetime as dt

from canary_operator.analysis.decision import Event
from canary_operator.kube.events import (
    MAX_MESSAGE_CHARS,
    EventRecorder,
    event_body,
    shorten,
)

CANARY = {"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
          "metadata": {"name": "podinfo", "namespace": "test", "uid": "u-1"}}
NOW = dt.datetime(2026, 11, 26, 19, 30, 5, 123456, tzinfo=dt.UTC)


def test_the_event_names_the_canary_with_flaggers_reason_and_our_component() -> None:
    body = event_body(CANARY, Event("Warning", "Halt advancement"), NOW, instance="pod-1")
    assert body["involvedObject"] == {"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
                                      "name": "podinfo", "namespace": "test", "uid": "u-1"}
    assert body["metadata"] == {"generateName": "podinfo.", "namespace": "test"}
    assert (body["type"], body["reason"], body["message"]) == (
        "Warning", "Synced", "Halt advancement")
    assert body["source"] == {"component": "canary-operator"}
    assert (body["reportingComponent"], body["reportingInstance"]) == (
        "canary-operator", "pod-1")
    assert body["firstTimestamp"] == body["lastTimestamp"] == "2026-11-26T19:30:05Z"
    assert body["count"] == 1


def test_short_messages_are_kept_whole() -> None:
    assert shorten("x" * MAX_MESSAGE_CHARS) == "x" * MAX_MESSAGE_CHARS


def test_long_messages_keep_their_start_and_end() -> None:
    message = "start " + "m" * 5000 + " end"
    short = shorten(message)
    assert len(short) == MAX_MESSAGE_CHARS
    assert short.startswith("start ") and short.endswith(" end") and " [...] " in short


async def test_a_full_queue_drops_and_counts_instead_of_growing() -> None:
    recorder = EventRecorder(api=None, workers=0, queue_size=2,  # type: ignore[arg-type]
                             clock=lambda: NOW, instance="pod-1")
    for i in range(5):
        recorder.post(CANARY, Event("Normal", f"event {i}"))
    assert recorder.dropped == 3
    await recorder.aclose(timeout=0.1)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


def queued(recorder: EventRecorder) -> list[str]:
    """What the recorder has queued, drained: `create <message>` or `count <n>`."""
    out = []
    while not recorder._queue.empty():
        work = recorder._queue.get_nowait()
        body = getattr(work, "body", None)
        out.append(f"create {body['message']}" if body else f"count {work.patch['count']}")
    return out


async def test_a_repeating_event_is_posted_once_and_its_count_updated_once_a_minute() -> None:
    clock = Clock()
    recorder = EventRecorder(api=None, workers=0, clock=clock,  # type: ignore[arg-type]
                             instance="pod-1")
    waiting = Event("Warning", "canary deployment podinfo.test not ready")
    recorder.post(CANARY, waiting)
    assert queued(recorder) == ["create canary deployment podinfo.test not ready"]
    recorder._series["u-1"].name = "podinfo.abcde"  # what the API server named it
    for _ in range(30):  # a readiness poll every 2 s for one minute
        clock.now += dt.timedelta(seconds=2)
        recorder.post(CANARY, waiting)
    assert queued(recorder) == ["count 31"]
    assert recorder.repeats == 30


async def test_a_different_message_or_ten_minutes_later_is_a_new_event() -> None:
    clock = Clock()
    recorder = EventRecorder(api=None, workers=0, clock=clock,  # type: ignore[arg-type]
                             instance="pod-1")
    recorder.post(CANARY, Event("Normal", "Advance podinfo.test canary weight 10"))
    recorder.post(CANARY, Event("Normal", "Advance podinfo.test canary weight 20"))
    other = {**CANARY, "metadata": {**CANARY["metadata"], "uid": "u-2"}}
    recorder.post(other, Event("Normal", "Advance podinfo.test canary weight 20"))
    clock.now += dt.timedelta(minutes=10)
    recorder.post(CANARY, Event("Normal", "Advance podinfo.test canary weight 20"))
    assert queued(recorder) == ["create Advance podinfo.test canary weight 10"] + [
        "create Advance podinfo.test canary weight 20"] * 3
