"""`CanaryController.tick`: observe -> decide -> act -> record -> notify, for one Canary.

Reads come from the operator's watch-fed indexes (the `ClusterView`, the VirtualService
included); the only per-tick API traffic is the tracked configs' reads (when the template
uses any), the metric queries and hooks the decision reaches, the writes it asks for,
and a read of the Canary when its status write conflicts.

The status in the API is the truth. The decided status is written as the merge patch
from the status the tick started from, fenced by that status' resourceVersion
(`kube.status`); when the Canary changed meanwhile the write is refused, and the tick
reads the Canary again and decides again. Events, alerts and post-rollout hooks go out
only once the write succeeded: a restart between the two may lose a notification, never
repeat a promotion or a count. Cluster actions (weights, scaling, the promotion) come
before the write and are idempotent, so a decision taken again repeats nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes.aio import client as aio_client
from kubernetes.aio.client.exceptions import ApiException
from pydantic import ValidationError

from canary_operator import analysis
from canary_operator.alerts import AlertSender
from canary_operator.analysis.decision import Decision, Event, SetWeights
from canary_operator.analysis.deletion import RevertStep
from canary_operator.analysis.observation import Command
from canary_operator.api import Canary, CanaryStatus, Phase
from canary_operator.api.commands import (
    ANNOTATION_COMMAND,
    ANNOTATION_PAUSED,
    ANNOTATION_PAUSED_BY,
    ANNOTATION_RESUMED_BY,
    CanaryCommand,
)
from canary_operator.api.metric_template import MetricTemplate
from canary_operator.api.support import (
    format_validation_error,
    unsupported_fields,
    unsupported_template_fields,
)
from canary_operator.controller.acting import Actor
from canary_operator.controller.notifying import Notifier
from canary_operator.controller.observing import Measurer, complete, observe, read_configs
from canary_operator.controller.view import ClusterView, EventPoster, JsonDict
from canary_operator.kube.configs import ConfigError, TrackedConfigs
from canary_operator.kube.services import revert_apex_service
from canary_operator.kube.status import StatusConflict, read_canary, status_patch, write_status
from canary_operator.kube.workloads import TargetError, scale, selector_label
from canary_operator.routers.istio import IstioRouter
from canary_operator.routers.protocol import RouterError, Routes
from canary_operator.settings import OperatorSettings
from canary_operator.telemetry import Telemetry, operator_version
from canary_operator.webhooks import WebhookCaller

log = logging.getLogger(__name__)

# A change of these wakes the Canary's loop at once.
CONTROL_ANNOTATIONS = (ANNOTATION_COMMAND, ANNOTATION_PAUSED, ANNOTATION_PAUSED_BY)
# Times a tick reads the Canary again after its status write was refused (409) before it
# gives up until the next tick.
CONFLICT_RETRIES = 3


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class Written:
    """Our last status write of a Canary: the resourceVersion it was based on, the one it
    produced, and the status as the API returned it. It stands in for the watched body
    only while the watch still shows the version the write was based on (our own write
    not delivered yet); any other version is newer than what we know, and wins."""

    base: str | None
    version: str | None
    status: JsonDict


@dataclasses.dataclass
class TickResult:
    """What one tick did, for the loop (when to come back) and for logs."""

    next_tick_seconds: float
    decision: Decision | None = None
    problem: str | None = None


class CanaryController:
    def __init__(
        self,
        api: aio_client.ApiClient,
        settings: OperatorSettings,
        post_event: EventPoster,
        clock: Callable[[], dt.datetime] = utcnow,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.api = api
        self.settings = settings
        self.post_event = post_event
        self.clock = clock
        self._view: ClusterView | None = None  # the watch caches, from the last tick
        self.router = IstioRouter(api, cached=self._cached_virtual_service)
        self.telemetry = telemetry or Telemetry(version=operator_version(),
                                                mesh_provider=settings.mesh_provider)
        self.hooks = WebhookCaller()
        self.measurer = Measurer(settings.prometheus_url, settings.query_timeout_seconds)
        self.actor = Actor(api, self.router, settings, self.hooks, post_event)
        self.notifier = Notifier(api, post_event, self.hooks,
                                 AlertSender(timeout=settings.query_timeout_seconds), clock,
                                 step_events=settings.step_events)
        # Our last status write of each Canary, by uid: the watch may deliver it after the
        # next tick has begun, and deciding on the stale status would repeat a step (or
        # lose the write to a conflict). After a restart this is empty.
        self._written: dict[str, Written] = {}
        self._reported_unsupported: set[tuple[str, int]] = set()
        self._namespaces: dict[str, str] = {}  # uid -> namespace, for flagger_canary_total
        self._wakeups: dict[str, asyncio.Event] = {}
        # Canaries waiting for a Deployment to roll out, by the Deployment's (namespace,
        # name): a watch event of it wakes them (the timer is only a fallback).
        self._awaiting: dict[tuple[str, str], set[str]] = {}
        self._awaited_by: dict[str, tuple[tuple[str, str], ...]] = {}
        self._reported_commands: set[tuple[str, str]] = set()
        # Ticks in a row that ended on a problem, by uid: the retry backs off with them.
        self._problems: dict[str, int] = {}
        self._controls: dict[str, tuple[str | None, ...]] = {}
        self._ticking = asyncio.Semaphore(settings.max_concurrent_ticks)
        # Ticks under way, and whether new ones may start (not while the operator stops).
        self._under_way = 0
        self._none_under_way = asyncio.Event()
        self._none_under_way.set()
        self.draining = False

    async def aclose(self) -> None:
        await self.notifier.aclose()
        await self.notifier.sender.aclose()
        await self.measurer.aclose()
        await self.hooks.aclose()

    def _controls_of(self, body: JsonDict, canary: Canary) -> dict[str, Any]:
        """The pending `kubectl canary` command and pause, from the annotations; a bad
        command annotation is reported once and ignored."""
        annotations = canary.metadata.annotations or {}
        paused = annotations.get(ANNOTATION_PAUSED, "").strip().lower() == "true"
        paused_by = (annotations.get(ANNOTATION_PAUSED_BY) or "an unknown user") if paused else None
        text = annotations.get(ANNOTATION_COMMAND)
        try:
            parsed = CanaryCommand.parse(text)
        except ValueError as error:
            key = (canary.metadata.uid or canary.key, text or "")
            if key not in self._reported_commands:
                self._reported_commands.add(key)
                self.post_event(body, Event("Warning", f"{canary.key}: {error}"))
            parsed = None
        command = (Command(parsed.action, parsed.id, parsed.user)
                   if parsed is not None else None)
        return {"command": command, "paused_by": paused_by,
                "resumed_by": annotations.get(ANNOTATION_RESUMED_BY)}

    # -- waking for commands -------------------------------------------------------------

    async def sleep(self, uid: str, stopped: Any, seconds: float) -> None:
        """Sleep until the next tick is due, the loop is stopped (kopf's DaemonStopped),
        or a command arrives."""
        wake = self._wakeups.setdefault(uid, asyncio.Event())
        sleeper = asyncio.ensure_future(stopped.wait(seconds))
        waker = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            wake.clear()

    def wake_on_change(self, uid: str, annotations: Mapping[str, str]) -> None:
        controls = tuple(annotations.get(key) for key in CONTROL_ANNOTATIONS)
        if self._controls.get(uid, controls) != controls:
            self._wakeups.setdefault(uid, asyncio.Event()).set()
        self._controls[uid] = controls

    def wake_on_deployment(self, namespace: str, name: str) -> None:
        """The watch saw Deployment `namespace/name` change: wake the Canaries waiting for
        it to roll out."""
        for uid in self._awaiting.get((namespace, name), ()):
            self._wakeups.setdefault(uid, asyncio.Event()).set()

    def _await_rollouts(self, uid: str, canary: Canary, status: CanaryStatus) -> None:
        """Register (or drop) the Deployments whose changes wake this Canary's loop."""
        namespace, target = canary.metadata.namespace, canary.spec.target_ref.name
        keys = (((namespace, target), (namespace, f"{target}-primary"))
                if analysis.awaits_rollout(status) else ())
        if self._awaited_by.get(uid, ()) == keys:
            return
        self._stop_awaiting(uid)
        if keys:
            self._awaited_by[uid] = keys
            for key in keys:
                self._awaiting.setdefault(key, set()).add(uid)

    def _stop_awaiting(self, uid: str) -> None:
        for key in self._awaited_by.pop(uid, ()):
            waiting = self._awaiting.get(key)
            if waiting is not None:
                waiting.discard(uid)
                if not waiting:
                    del self._awaiting[key]

    def forget(self, uid: str, body: JsonDict | None = None) -> None:
        self._stop_awaiting(uid)
        self._written.pop(uid, None)
        self._problems.pop(uid, None)
        self._wakeups.pop(uid, None)
        self._controls.pop(uid, None)
        if self._namespaces.pop(uid, None) is not None:
            self._set_totals()
        if body is not None:
            try:
                canary = Canary.model_validate(body)
            except ValidationError:
                return
            target = canary.spec.target_ref.name
            self.telemetry.forget(name=target, namespace=canary.metadata.namespace,
                                  target=target)

    # -- the tick ----------------------------------------------------------------------

    def _cached_virtual_service(self, namespace: str, name: str) -> JsonDict | None:
        return self._view.virtual_service(namespace, name) if self._view is not None else None

    async def tick(self, body: JsonDict, view: ClusterView) -> TickResult:
        """One tick, once fewer than `max_concurrent_ticks` others are under way (its
        clock starts then, so a wait never counts as part of an interval); none once the
        operator drains."""
        async with self._ticking:
            if self.draining:
                return TickResult(self.settings.min_interval_seconds)
            self._under_way += 1
            self._none_under_way.clear()
            try:
                return await self._tick(body, view)
            finally:
                self._under_way -= 1
                if self._under_way == 0:
                    self._none_under_way.set()

    async def drain(self, seconds: float) -> bool:
        """Start no tick any more and wait for those under way; False if some were still
        running after `seconds`."""
        self.draining = True
        try:
            await asyncio.wait_for(self._none_under_way.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _tick(self, body: JsonDict, view: ClusterView) -> TickResult:
        """A tick, decided again on the Canary as the API has it whenever the status
        write finds that it changed since it was read."""
        for _ in range(CONFLICT_RETRIES):
            try:
                return await self._attempt(body, view)
            except StatusConflict as conflict:
                log.info("%s: reading it again and deciding again", conflict)
                meta = body.get("metadata") or {}
                fresh = await read_canary(self.api, meta.get("namespace", ""),
                                          meta.get("name", ""))
                if fresh is None:
                    return TickResult(self.settings.min_interval_seconds, None,
                                      "the Canary was deleted")
                body = fresh
        why = f"the status write was refused {CONFLICT_RETRIES} times: the Canary keeps changing"
        return TickResult(self.settings.min_interval_seconds, None, why)

    def _current(self, uid: str, body: JsonDict) -> tuple[JsonDict, str | None]:
        """The Canary's status and its resourceVersion: the watched body's, unless it is
        the version our last write was based on (then the write's)."""
        version = (body.get("metadata") or {}).get("resourceVersion")
        written = self._written.get(uid)
        if written is not None and version is not None and version == written.base:
            return written.status, written.version
        return dict(body.get("status") or {}), version

    async def _attempt(self, body: JsonDict, view: ClusterView) -> TickResult:
        started = time.perf_counter()
        self._view = view
        try:
            canary = Canary.model_validate(body)
        except ValidationError as error:
            return await self._reject(body, error)
        uid = canary.metadata.uid or canary.key
        live, version = self._current(uid, body)
        try:
            status = CanaryStatus.model_validate(live) if live else CanaryStatus()
        except ValidationError as error:
            return await self._reject(body, error)
        self._report_unsupported(body, canary)

        now = self.clock()
        target = view.deployment(canary.metadata.namespace, canary.spec.target_ref.name)
        try:
            if status.phase not in (Phase.NONE, Phase.INITIALIZING):
                # The routes follow the spec on every tick (their weights are the analysis').
                await self.router.sync(canary)
                await self.actor.sync_autoscaler(canary, view)
            routes = await self.router.get_routes(canary)
            configs = await self._configs(canary, target)
        except (RouterError, ConfigError, TargetError) as error:
            await self._report_problem(body, canary, live, version, str(error))
            return TickResult(self._retry_after(uid, canary), None, str(error))
        except ApiException as error:
            why = (f"reading the routes or configs of {canary.key}: "
                   f"HTTP {error.status} {error.reason}")
            await self._report_problem(body, canary, live, version, why)
            return TickResult(self._retry_after(uid, canary), None, why)
        seen = dataclasses.replace(observe(canary, view, now, routes, configs),
                                   **self._controls_of(body, canary),
                                   history_limit=self.settings.history_limit)
        seen = await complete(canary, status, seen, view, self.measurer, self.hooks)
        decision = analysis.decide(canary.spec, status, seen)
        problem = await self.actor.act(body, canary, view, decision, configs)
        if problem is not None:
            # Keep the old status: the same step is tried again on the next tick.
            await self._report_problem(body, canary, live, version, problem)
            return TickResult(self._retry_after(uid, canary), decision, problem)
        await self._write(canary, live, version, decision.status)  # raises StatusConflict
        self._problems.pop(uid, None)
        # Durable: now tell people, and call the hooks that gate nothing.
        self.notifier.publish(body, canary, view, decision)
        await self.actor.run_post_hooks(body, canary, decision)
        self._count(uid, canary.metadata.namespace)
        self._await_rollouts(uid, canary, decision.status)
        self._observe_telemetry(canary, status, decision, routes, time.perf_counter() - started)
        delay = analysis.seconds_until_next_tick(
            canary.spec, decision.status, self.clock(), self.settings.min_interval_seconds
        )
        return TickResult(delay, decision, problem)

    def _retry_after(self, uid: str, canary: Canary | None) -> float:
        """Count one more problem in a row; when to try again (`analysis.problem_backoff`)."""
        count = self._problems[uid] = self._problems.get(uid, 0) + 1
        return analysis.problem_backoff(canary.spec if canary is not None else None, count,
                                        self.settings.min_interval_seconds)

    async def _configs(self, canary: Canary, target: JsonDict | None) -> TrackedConfigs | None:
        if not self.settings.config_tracking:
            return None
        return await read_configs(self.api, canary, target)

    def _observe_telemetry(self, canary: Canary, old: CanaryStatus, decision: Decision,
                           routes: Routes | None, seconds: float) -> None:
        new, namespace = decision.status, canary.metadata.namespace
        target = canary.spec.target_ref.name
        weights = _weights_after(decision, routes)
        self.telemetry.observe_tick(
            name=target, namespace=namespace, phase=new.phase.value,
            primary_weight=weights[0] if weights else None,
            canary_weight=weights[1] if weights else None, target=target, seconds=seconds,
            reason=new.reason if new != old else None, failed_checks=new.failed_checks)
        if new.checks is not old.checks and new.checks:
            for check in new.checks:
                self.telemetry.observe_metric(name=target, namespace=namespace,
                                              metric=check.name, value=check.value)
        if new.phase != old.phase and new.phase in (Phase.SUCCEEDED, Phase.FAILED):
            skipped = new.reason == analysis.Reason.ANALYSIS_SKIPPED.value
            self.telemetry.count_outcome(
                name=target, namespace=namespace,
                strategy=analysis.strategy_of(canary.spec.analysis).value,
                status="skipped" if skipped else "completed",
                succeeded=new.phase is Phase.SUCCEEDED)

    def _count(self, uid: str, namespace: str) -> None:
        if self._namespaces.get(uid) != namespace:
            self._namespaces[uid] = namespace
            self._set_totals()

    def _set_totals(self) -> None:
        counts: dict[str, int] = {}
        for namespace in self._namespaces.values():
            counts[namespace] = counts.get(namespace, 0) + 1
        self.telemetry.set_canary_totals(counts)

    # -- record ------------------------------------------------------------------------

    async def _write(self, canary: Canary, live: JsonDict, version: str | None,
                     status: CanaryStatus) -> None:
        """Write `status` exactly, fenced by `version` (raises StatusConflict)."""
        patch = status_patch(live, status.to_api())
        if not patch:
            return
        written = await write_status(self.api, canary.metadata.namespace,
                                     canary.metadata.name, version, patch)
        self._written[canary.metadata.uid or canary.key] = Written(
            version, (written.get("metadata") or {}).get("resourceVersion"),
            dict(written.get("status") or {}))

    async def _report_problem(self, body: JsonDict, canary: Canary, live: JsonDict,
                              version: str | None, problem: str) -> None:
        """A Warning, and the problem in the status (reason `Blocked`) until a tick gets
        through; a refused write is left to the next tick, which reports it again."""
        self.post_event(body, Event("Warning", problem))
        try:
            current = CanaryStatus.model_validate(live) if live else None
            await self._write(canary, live, version, analysis.blocked(current, problem))
        except (StatusConflict, ValidationError) as error:
            log.info("%s: problem not written: %s", canary.key, error)

    # -- deletion ----------------------------------------------------------------------

    async def revert(self, body: JsonDict, view: ClusterView, attempt: int) -> RevertStep:
        """revertOnDeletion: the target serves again before the Canary's objects go."""
        canary = Canary.model_validate(body)
        self._view = view
        step = analysis.plan_revert(observe(canary, view, self.clock(), None), attempt)
        if attempt == 0:  # unfenced: the Canary is going, whoever wrote it last
            await write_status(self.api, canary.metadata.namespace, canary.metadata.name,
                               None, {"phase": "Terminating", "message": step.reason})
        namespace, target_name = canary.metadata.namespace, canary.spec.target_ref.name
        target = view.deployment(namespace, target_name)
        if step.target_replicas is not None and target is not None:
            await scale(self.api, namespace, target_name, step.target_replicas)
            await revert_apex_service(
                self.api, canary, selector_label(target, self.settings.selector_labels))
        for event in step.events:
            self.post_event(body, event)
        return step

    # -- bad input ---------------------------------------------------------------------

    async def _reject(self, body: JsonDict, error: ValidationError) -> TickResult:
        """A Canary the models cannot read: a Warning, and reason `Blocked` with the bad
        fields in its status (only those two fields are written: the rest cannot be read)."""
        meta = body.get("metadata", {})
        message = format_validation_error(
            "Canary", meta.get("namespace", ""), meta.get("name", ""), error
        )
        self.post_event(body, Event("Warning", message))
        live = body.get("status") or {}
        wanted = {"reason": analysis.Reason.BLOCKED.value, "message": message}
        if any(live.get(key) != value for key, value in wanted.items()):
            try:
                await write_status(self.api, meta.get("namespace", ""), meta.get("name", ""),
                                   meta.get("resourceVersion"), wanted)
            except (ApiException, StatusConflict) as api_error:
                log.warning("could not write the status of an invalid Canary: %s", api_error)
        uid = meta.get("uid") or f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        return TickResult(self._retry_after(uid, None), None, message)

    def _first_time(self, key: tuple[str, int]) -> bool:
        """True the first time `key` (what, version) is asked about: reported once."""
        if key in self._reported_unsupported:
            return False
        self._reported_unsupported.add(key)
        return True

    def _report_unsupported(self, body: JsonDict, canary: Canary) -> None:
        """Once per version of the Canary: the fields it sets that are not acted on, and
        each MetricTemplate or AlertProvider it names that does not exist (checks of it
        fail, alerts to it are not sent); once per MetricTemplate version: the fields of
        it not acted on."""
        uid, generation = canary.metadata.uid or canary.key, canary.metadata.generation or 0
        warnings: list[str] = []
        if self._first_time((uid, generation)):
            fields = unsupported_fields(canary.spec)
            if fields:
                warnings.append(f"not supported yet, accepted and ignored: {', '.join(fields)}")
        analysis_spec = canary.spec.analysis
        view = self._view
        for index, alert in enumerate(analysis_spec.alerts or [] if analysis_spec else []):
            namespace = alert.provider_ref.namespace or canary.metadata.namespace
            if (view is not None and view.alert_provider(namespace, alert.provider_ref.name)
                    is None and self._first_time((f"{uid}/alerts/{index}", generation))):
                warnings.append(
                    f"spec.analysis.alerts[{index}].providerRef: AlertProvider "
                    f"{namespace}/{alert.provider_ref.name} not found: create it or fix "
                    "providerRef (its alerts are not sent)")
        for index, metric in enumerate(analysis_spec.metrics or [] if analysis_spec else []):
            ref = metric.template_ref
            if ref is None or view is None:
                continue
            namespace = ref.namespace or canary.metadata.namespace
            found = view.metric_template(namespace, ref.name)
            if found is None:
                if self._first_time((f"{uid}/metrics/{index}", generation)):
                    warnings.append(
                        f"spec.analysis.metrics[{index}].templateRef: MetricTemplate "
                        f"{namespace}/{ref.name} not found: create it or fix templateRef "
                        "(each check of it fails until it exists)")
                continue
            meta = found.get("metadata") or {}
            template = f"{uid}/{meta.get('uid') or namespace + '/' + ref.name}"
            if not self._first_time((template, int(meta.get("generation") or 0))):
                continue
            try:
                fields = unsupported_template_fields(MetricTemplate.model_validate(found))
            except ValidationError:
                continue  # each check of it fails, naming the bad field
            if fields:
                warnings.append(f"MetricTemplate {namespace}/{ref.name}: not supported yet, "
                                f"accepted and ignored: {', '.join(fields)}")
        for warning in warnings:
            self.post_event(body, Event("Warning", warning))


def _weights_after(decision: Decision, routes: Routes | None) -> tuple[int, int] | None:
    """The route weights once the decision is carried out."""
    for action in reversed(decision.actions):
        if isinstance(action, SetWeights):
            return action.primary, action.canary
    return (routes.primary, routes.canary) if routes is not None else None
