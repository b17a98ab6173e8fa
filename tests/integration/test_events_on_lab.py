"""The event recorder against the lab's API server: every Event queued is written before
`aclose` returns, with the Canary as its object, through a bounded connection pool."""

from __future__ import annotations

import datetime as dt

from kubernetes import client

from canary_operator.analysis.decision import Event
from canary_operator.kube import close_api_client, new_api_client
from canary_operator.kube.events import EventRecorder
from canary_operator.lab import Lab


async def test_every_queued_event_is_posted_about_its_canary(
        lab: Lab, api: client.ApiClient, namespace: str) -> None:
    about = {"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
             "metadata": {"name": "podinfo", "namespace": namespace, "uid": "u-1"}}
    aio = await new_api_client(lab.state.kubeconfig)
    try:
        recorder = EventRecorder(aio, workers=2)
        sent = [f"Advance podinfo.{namespace} canary weight {w}" for w in range(40)]
        for message in sent:
            recorder.post(about, Event("Normal", message))
        await recorder.aclose(timeout=60)
    finally:
        await close_api_client(aio)
    assert (recorder.dropped, recorder.failed) == (0, 0)
    items = client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector="involvedObject.name=podinfo,involvedObject.kind=Canary").items
    assert sorted(e.message for e in items) == sorted(sent)
    assert {(e.reason, e.type, e.source.component) for e in items} == {
        ("Synced", "Normal", "canary-operator")}


async def test_a_repeating_event_is_one_event_whose_count_grows(
        lab: Lab, api: client.ApiClient, namespace: str) -> None:
    about = {"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
             "metadata": {"name": "slow", "namespace": namespace, "uid": "u-2"}}
    now = [dt.datetime(2026, 11, 26, 20, 0, tzinfo=dt.UTC)]
    waiting = Event("Warning", f"canary deployment slow.{namespace} not ready")
    aio = await new_api_client(lab.state.kubeconfig)
    try:
        recorder = EventRecorder(aio, workers=2, clock=lambda: now[0])
        for _ in range(3):  # three polls over two minutes, each flushed
            recorder.post(about, waiting)
            await recorder.flush()
            now[0] += dt.timedelta(seconds=61)
        await recorder.aclose(timeout=60)
    finally:
        await close_api_client(aio)
    assert (recorder.dropped, recorder.failed, recorder.repeats) == (0, 0, 2)
    items = client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector="involvedObject.name=slow").items
    assert [(e.message, e.count) for e in items] == [(waiting.message, 3)]
    assert items[0].last_timestamp.replace(tzinfo=dt.UTC) == dt.datetime(
        2026, 11, 26, 20, 2, 2, tzinfo=dt.UTC)
