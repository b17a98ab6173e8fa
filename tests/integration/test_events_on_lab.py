"""The event recorder against the lab's API server: every Event queued is written before
`aclose` returns, with the Canary as its object, through a bounded connection pool."""

from __future__ import annotations

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
