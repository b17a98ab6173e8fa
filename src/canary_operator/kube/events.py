"""Kubernetes Events about Canaries, posted in the background through the shared client.

Not through `kopf.event`: kopf gives each object its own posting task on a connection
pool without a limit, so hundreds of Canaries stepping in the same second open a TLS
connection each (memory and handshakes), and its queues grow without bound while the
API server is slow. Here one bounded queue feeds a few workers on the client's pool; a
full queue drops the newest Event and counts it, as client-go's recorder does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes.aio import client as aio_client
from kubernetes.aio.client import CoreV1Event
from kubernetes.aio.client.exceptions import ApiException

from canary_operator.analysis.decision import Event
from canary_operator.kube.client import read_json

log = logging.getLogger(__name__)

EVENT_REASON = "Synced"  # Flagger gives every event this reason
COMPONENT = "canary-operator"
MAX_MESSAGE_CHARS = 1024  # the API server refuses longer messages
DEFAULT_WORKERS = 4
DEFAULT_QUEUE_SIZE = 5000

JsonDict = Mapping[str, Any]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def shorten(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """The message, its middle cut out when it is too long for an Event."""
    if len(message) <= limit:
        return message
    cut = " [...] "
    head = (limit - len(cut)) // 2
    return message[:head] + cut + message[len(message) - (limit - len(cut) - head):]


def event_body(about: JsonDict, event: Event, now: dt.datetime,
               component: str = COMPONENT, instance: str = "") -> dict[str, Any]:
    """A core/v1 Event about the object `about` (a Canary's body), as client-go's
    recorder writes one: `kubectl describe` shows it under the object."""
    meta = about.get("metadata", {})
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta.get('name', 'canary')}.",
                     "namespace": meta.get("namespace", "")},
        "involvedObject": {
            "apiVersion": about.get("apiVersion", ""), "kind": about.get("kind", ""),
            "name": meta.get("name", ""), "namespace": meta.get("namespace", ""),
            "uid": meta.get("uid", ""),
        },
        "type": event.type,
        "reason": EVENT_REASON,
        "message": shorten(event.message),
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class EventRecorder:
    """`post(body, event)` never waits: the Event is queued and written by a worker."""

    def __init__(self, api: aio_client.ApiClient, workers: int = DEFAULT_WORKERS,
                 queue_size: int = DEFAULT_QUEUE_SIZE,
                 clock: Callable[[], dt.datetime] = utcnow,
                 instance: str | None = None) -> None:
        self.api = api
        self.clock = clock
        self.instance = instance if instance is not None else socket.gethostname()
        self.dropped = 0
        self.failed = 0
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)
        self._workers_wanted = workers
        self._workers: list[asyncio.Task[None]] = []

    def post(self, about: JsonDict, event: Event) -> None:
        body = event_body(about, event, self.clock(), instance=self.instance)
        if not self._workers:
            self._workers = [asyncio.get_running_loop().create_task(self._work())
                             for _ in range(self._workers_wanted)]
        try:
            self._queue.put_nowait(body)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("%d Events dropped: the API server takes them more slowly than "
                            "they come", self.dropped)

    async def _work(self) -> None:
        core = aio_client.CoreV1Api(self.api)
        while True:
            body = await self._queue.get()
            try:
                await read_json(core.create_namespaced_event_without_preload_content(
                    body["metadata"]["namespace"], CoreV1Event.model_validate(body)))
            except ApiException as error:
                self.failed += 1
                log.warning("Event not posted (HTTP %s %s): %s", error.status, error.reason,
                            body["message"])
            except Exception as error:  # auxiliary: never stop the worker
                self.failed += 1
                log.warning("Event not posted (%s): %s", error, body["message"])
            finally:
                self._queue.task_done()

    async def aclose(self, timeout: float = 5.0) -> None:
        """Post what is queued (for up to `timeout` seconds), then stop the workers."""
        if self._workers:
            try:
                async with asyncio.timeout(timeout):
                    await self._queue.join()
            except TimeoutError:
                log.warning("%d Events not posted at shutdown", self._queue.qsize())
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
