"""kopf registration only: settings at startup, watch-fed indexes, one loop per Canary.

Each Canary gets a daemon that ticks the controller, then sleeps until its next step is
due (`analysis.seconds_until_next_tick`), so every Canary keeps its own interval.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Any

import kopf
from kubernetes.aio import client as aio_client

from canary_operator.api import GROUP, VERSION
from canary_operator.controller import CanaryController, JsonDict
from canary_operator.kube.client import close_api_client, new_api_client
from canary_operator.kube.events import COMPONENT, EventRecorder
from canary_operator.kube.kopf_session import bounded_session, pool_size
from canary_operator.memory import malloc_trim, trim_forever
from canary_operator.settings import OperatorSettings
from canary_operator.telemetry import MetricsEndpoint, Telemetry, operator_version, serve_metrics

log = logging.getLogger(__name__)

PREFIX = "canary-operator.dev"


def _slim(body: kopf.Body) -> dict[str, Any]:
    """What the controller needs of a watched object (managedFields stay out of memory)."""
    metadata = {k: v for k, v in body.metadata.items() if k != "managedFields"}
    return {"metadata": metadata, "spec": dict(body.spec), "status": dict(body.status)}


@kopf.index("apps", "v1", "deployments")
async def deployments_index(namespace: str | None, name: str, body: kopf.Body,
                            **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(namespace or "", name): _slim(body)}


@kopf.on.event("apps", "v1", "deployments")
async def wake_on_rollout(namespace: str | None, name: str | None, memo: kopf.Memo,
                          **_: Any) -> None:
    """A Canary waiting for its primary or canary to roll out looks again as soon as the
    watch shows that Deployment change (kopf has updated the index by then), instead of
    polling every Canary on a timer."""
    controller: CanaryController | None = memo.get("controller")
    if controller is not None and name:
        controller.wake_on_deployment(namespace or "", name)


@kopf.index(GROUP, VERSION, "metrictemplates")
async def metric_templates_index(namespace: str | None, name: str, body: kopf.Body,
                                 **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(namespace or "", name): _slim(body)}


@kopf.index(GROUP, VERSION, "alertproviders")
async def alert_providers_index(namespace: str | None, name: str, body: kopf.Body,
                                **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(namespace or "", name): _slim(body)}


@kopf.index("networking.istio.io", "v1beta1", "virtualservices")
async def virtual_services_index(namespace: str | None, name: str, body: kopf.Body,
                                 **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(namespace or "", name): _slim(body)}


@kopf.index("autoscaling", "v2", "horizontalpodautoscalers")
async def autoscalers_index(namespace: str | None, name: str, body: kopf.Body,
                            **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(namespace or "", name): _slim(body)}


class IndexView:
    """The controller's ClusterView over kopf's indexes (which arrive as keyword
    arguments named after their functions)."""

    def __init__(self, indexes: dict[str, Any]) -> None:
        self._deployments: kopf.Index[Any, Any] = indexes["deployments_index"]
        self._templates: kopf.Index[Any, Any] = indexes["metric_templates_index"]
        self._providers: kopf.Index[Any, Any] = indexes["alert_providers_index"]
        self._autoscalers: kopf.Index[Any, Any] = indexes["autoscalers_index"]
        self._virtual_services: kopf.Index[Any, Any] = indexes["virtual_services_index"]

    @staticmethod
    def _one(index: kopf.Index[Any, Any], key: tuple[str, str]) -> JsonDict | None:
        store = index.get(key)
        if not store:
            return None
        value: JsonDict = next(iter(store))
        return value

    def deployment(self, namespace: str, name: str) -> JsonDict | None:
        return self._one(self._deployments, (namespace, name))

    def metric_template(self, namespace: str, name: str) -> JsonDict | None:
        return self._one(self._templates, (namespace, name))

    def alert_provider(self, namespace: str, name: str) -> JsonDict | None:
        return self._one(self._providers, (namespace, name))

    def autoscaler(self, namespace: str, name: str) -> JsonDict | None:
        return self._one(self._autoscalers, (namespace, name))

    def virtual_service(self, namespace: str, name: str) -> JsonDict | None:
        return self._one(self._virtual_services, (namespace, name))


@kopf.on.login()
async def login(memo: kopf.Memo, **kwargs: Any) -> kopf.AiohttpSession | None:
    """kopf's usual login (in-cluster, else the kubeconfig), on a bounded connection pool
    (see `kube.kopf_session`). Async: the session belongs to the running loop."""
    info = kopf.login_via_client(**kwargs)
    if info is None:
        return None
    settings: OperatorSettings = memo.get("settings") or OperatorSettings()
    return bounded_session(info, pool_size(settings.namespaces, bool(settings.peering)))


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Our own prefix from day one: changing it later makes every object look unhandled.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{PREFIX}/finalizer"
    settings.posting.reporting_component = COMPONENT
    # Serve the namespaces we are given and the CRDs that exist at startup; observing
    # Namespaces and CRDs would need cluster-wide list/watch, even in namespaced mode.
    settings.scanning.disabled = True
    operator_settings: OperatorSettings = memo.get("settings") or OperatorSettings()
    settings.peering.lifetime = operator_settings.peering_lifetime_seconds
    api = await new_api_client()
    memo["api"] = api
    telemetry = Telemetry(version=operator_version(),
                          mesh_provider=operator_settings.mesh_provider)
    events = EventRecorder(api)
    memo["events"] = events
    memo["controller"] = CanaryController(api, operator_settings, events.post,
                                          telemetry=telemetry)
    if operator_settings.metrics_address:
        host, port = operator_settings.metrics_address.rsplit(":", 1)
        memo["metrics"] = await serve_metrics(telemetry, host.strip("[]"), int(port))
    trim = malloc_trim()
    if trim is not None:
        memo["trimming"] = asyncio.get_running_loop().create_task(trim_forever(trim))


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    trimming: asyncio.Task[None] | None = memo.get("trimming")
    if trimming is not None:
        trimming.cancel()
    controller: CanaryController | None = memo.get("controller")
    if controller is not None:
        await controller.aclose()
    events: EventRecorder | None = memo.get("events")
    if events is not None:
        await events.aclose()
    metrics: MetricsEndpoint | None = memo.get("metrics")
    if metrics is not None:
        await metrics.stop()
    api: aio_client.ApiClient | None = memo.get("api")
    if api is not None:
        await close_api_client(api)


@kopf.daemon(GROUP, VERSION, "canaries", cancellation_timeout=5.0)
async def canary_loop(
    body: kopf.Body,
    uid: str,
    stopped: kopf.DaemonStopped,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    controller: CanaryController = memo["controller"]
    view = IndexView(kwargs)
    try:
        while not stopped:
            delay = controller.settings.min_interval_seconds
            try:
                result = await controller.tick(body, view)
                delay = result.next_tick_seconds
                if result.decision is not None:
                    logger.info(result.decision.reason)
                if result.problem is not None:
                    logger.warning(result.problem)
            except asyncio.CancelledError:
                raise
            except Exception:  # one Canary's trouble never stops the loop, nor the others
                logger.exception("tick failed; retrying in %.0fs", delay)
            await controller.sleep(uid, stopped, max(delay, 0.05))
    finally:
        controller.forget(uid, body)


@kopf.on.event(GROUP, VERSION, "canaries")
async def wake_on_command(body: kopf.Body, uid: str, memo: kopf.Memo, **_: Any) -> None:
    """A `kubectl canary` command or pause wakes the Canary's loop at once, instead of
    at its next step (the watch event costs no API request)."""
    controller: CanaryController | None = memo.get("controller")
    if controller is not None and uid:
        controller.wake_on_change(uid, body.metadata.annotations)


def _reverts_on_deletion(spec: kopf.Spec, **_: Any) -> bool:
    return bool(spec.get("revertOnDeletion"))


@kopf.on.delete(GROUP, VERSION, "canaries", when=_reverts_on_deletion)
async def revert_on_deletion(body: kopf.Body, memo: kopf.Memo, retry: int, logger: kopf.Logger,
                             **kwargs: Any) -> None:
    controller: CanaryController = memo["controller"]
    view = IndexView(kwargs)
    step = await controller.revert(body, view, retry)
    logger.info(step.reason)
    if not step.done:
        raise kopf.TemporaryError(step.reason, delay=2)


def peering_options(settings: OperatorSettings,
                    started_ns: int | None = None) -> dict[str, Any]:
    """kopf's peering arguments: standalone without a peering name; with one, peering is
    mandatory (kopf stays paused until it sees the peering object) and the replica with the
    highest priority is the only one that works: by default the one that started first
    (microseconds before the year 2262), so a newcomer never takes over from a live peer
    (kopf pauses the lower priority only once it notices the higher one: a newcomer that
    outranked the working replica would work beside it for that moment)."""
    if not settings.peering:
        return {"standalone": True, "peering_name": None, "priority": None}
    priority = settings.peering_priority
    if priority is None:
        started = time.time_ns() if started_ns is None else started_ns
        priority = 2**63 // 1000 - started // 1000
    return {"standalone": False, "peering_name": settings.peering, "priority": priority}


def run_operator(settings: OperatorSettings) -> None:
    """Run until interrupted: standalone, or one of several peered replicas."""
    kopf.configure(
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL,
        verbose=settings.log_level == "debug",
    )
    logging.getLogger().setLevel(settings.log_level.upper())
    asyncio.run(_operate(settings))


async def _operate(settings: OperatorSettings) -> None:
    """kopf's `operator()`, with our own SIGTERM and SIGINT: the ticks under way finish
    before kopf stops and withdraws this replica's keep-alive, so the peer that takes over
    never acts beside it."""
    existing = {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}
    stop = asyncio.Event()
    memo = kopf.Memo(settings=settings)
    tasks = await kopf.spawn_tasks(
        **peering_options(settings),
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        liveness_endpoint=settings.liveness_endpoint,
        memo=memo,
        stop_flag=stop,
    )
    loop = asyncio.get_running_loop()
    draining: list[asyncio.Task[None]] = []

    def on_signal(number: signal.Signals) -> None:
        draining.append(loop.create_task(
            _drain_then_stop(memo, stop, number, settings.drain_seconds)))

    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, on_signal, number)
    await kopf.run_tasks(tasks, ignored=existing)


async def _drain_then_stop(memo: kopf.Memo, stop: asyncio.Event, number: signal.Signals,
                           seconds: float) -> None:
    if stop.is_set():
        return
    controller: CanaryController | None = memo.get("controller")
    if controller is not None:
        log.info("%s: finishing the ticks under way (at most %.0fs), then stopping",
                 number.name, seconds)
        if not await controller.drain(seconds):
            log.warning("ticks still under way after %.0fs: stopping anyway", seconds)
    stop.set()
