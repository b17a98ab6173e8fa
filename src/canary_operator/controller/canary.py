"""The imperative shell around `analysis.decide`: observe -> decide -> act -> record.

One `tick` per Canary per analysis interval. Reads come from the operator's watch-fed
indexes (the `ClusterView`); the only per-tick API traffic is the route read, the metric
queries when the analysis needs them, and the writes a Decision asks for.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from kubernetes.aio import client as aio_client
from kubernetes.aio.client.exceptions import ApiException
from pydantic import ValidationError

from canary_operator import analysis
from canary_operator.analysis.decision import (
    Decision,
    Event,
    InitializeTargets,
    PromoteTemplate,
    ScaleTargetToZero,
    ScaleTargetUp,
    SetWeights,
)
from canary_operator.analysis.deletion import RevertStep
from canary_operator.analysis.observation import MetricObservation, Observation, Readiness
from canary_operator.api import GROUP, VERSION, Canary, CanaryStatus
from canary_operator.api.metric_template import MetricTemplate
from canary_operator.api.support import format_validation_error, unsupported_fields
from canary_operator.kube.services import ensure_services, revert_apex_service
from canary_operator.kube.workloads import (
    TargetError,
    ensure_primary,
    pod_template_hash,
    promote,
    scale,
    selector_label,
)
from canary_operator.metrics import metric_query
from canary_operator.metrics.prometheus import PrometheusProvider
from canary_operator.routers.istio import IstioRouter
from canary_operator.routers.protocol import RouterError
from canary_operator.settings import OperatorSettings

log = logging.getLogger(__name__)

JsonDict = Mapping[str, Any]


class ClusterView(Protocol):
    """Read access to the watch caches: never an API call."""

    def deployment(self, namespace: str, name: str) -> JsonDict | None: ...

    def metric_template(self, namespace: str, name: str) -> JsonDict | None: ...


EventPoster = Callable[[JsonDict, Event], None]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
    ) -> None:
        self.api = api
        self.settings = settings
        self.post_event = post_event
        self.clock = clock
        self.router = IstioRouter(api)
        self._providers: dict[str, PrometheusProvider] = {}
        # The status each Canary was last given, by uid: the watch may deliver our own
        # write after the next tick has begun, and deciding on a stale status would repeat
        # a step. After a restart this is empty and the API's status is the truth.
        self._written: dict[str, CanaryStatus] = {}
        self._reported_unsupported: set[tuple[str, int]] = set()

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()

    def forget(self, uid: str) -> None:
        self._written.pop(uid, None)

    # -- the tick ----------------------------------------------------------------------

    async def tick(self, body: JsonDict, view: ClusterView) -> TickResult:
        try:
            canary = Canary.model_validate(body)
        except ValidationError as error:
            return await self._reject(body, error)
        uid = canary.metadata.uid or canary.key
        status = self._written.get(uid) or canary.status or CanaryStatus()
        self._report_unsupported(body, canary)

        now = self.clock()
        try:
            weights = await self.router.get_weights(canary)
        except RouterError as error:
            await self._report_problem(body, canary, str(error))
            return TickResult(self.settings.min_interval_seconds, None, str(error))
        observation = self._observe(canary, view, now, weights)
        if analysis.needs_metrics(canary.spec, status, observation):
            observation = dataclasses.replace(
                observation, metrics=await self._measure(canary, view)
            )
        decision = analysis.decide(canary.spec, status, observation)
        problem = await self._act(canary, view, decision)
        if problem is not None:
            # Keep the old status: the same step is tried again on the next tick.
            await self._report_problem(body, canary, problem)
            return TickResult(self.settings.min_interval_seconds, decision, problem)
        await self._record(body, canary, status, decision)
        delay = analysis.seconds_until_next_tick(
            canary.spec, decision.status, self.clock(), self.settings.min_interval_seconds
        )
        return TickResult(delay, decision, problem)

    # -- observe -----------------------------------------------------------------------

    def _observe(self, canary: Canary, view: ClusterView, now: dt.datetime,
                 weights: tuple[int, int] | None) -> Observation:
        spec, namespace = canary.spec, canary.metadata.namespace
        target = view.deployment(namespace, spec.target_ref.name)
        primary = view.deployment(namespace, f"{spec.target_ref.name}-primary")
        analysis_spec = spec.analysis
        canary_threshold = analysis_spec.canary_ready_threshold if analysis_spec else 100
        primary_threshold = analysis_spec.primary_ready_threshold if analysis_spec else 100
        deadline = spec.progress_deadline_seconds
        missing = Readiness(ready=False, retriable=True, message="not found")
        return Observation(
            now=now,
            name=canary.metadata.name,
            namespace=namespace,
            target_exists=target is not None,
            target_hash=pod_template_hash(target) if target is not None else None,
            target_replicas=_replicas(target),
            canary=(analysis.deployment_readiness(target, canary_threshold, deadline, now)
                    if target is not None else missing),
            primary_exists=primary is not None,
            primary=(analysis.deployment_readiness(primary, primary_threshold, deadline, now)
                     if primary is not None else missing),
            primary_replicas=_replicas(primary),
            weights=weights,
        )

    async def _measure(self, canary: Canary,
                       view: ClusterView) -> tuple[MetricObservation, ...]:
        results = []
        metrics = canary.spec.analysis.metrics if canary.spec.analysis else None
        for metric in metrics or []:
            template = self._template(canary, view, metric.template_ref)
            try:
                query = metric_query(canary, metric, template)
            except Exception as error:  # a bad template is this Canary's problem only
                results.append(MetricObservation(metric.name, "", metric.interval, None,
                                                 error=str(error)))
                continue
            provider = self._provider(canary, template)
            result = await provider.query(query)
            results.append(MetricObservation(metric.name, result.query, metric.interval,
                                             result.value, error=result.error))
        return tuple(results)

    def _template(self, canary: Canary, view: ClusterView, ref: Any) -> MetricTemplate | None:
        if ref is None:
            return None
        body = view.metric_template(ref.namespace or canary.metadata.namespace, ref.name)
        return MetricTemplate.model_validate(body) if body is not None else None

    def _provider(self, canary: Canary, template: MetricTemplate | None) -> PrometheusProvider:
        url = (
            (template.spec.provider.address if template is not None else None)
            or canary.spec.metrics_server
            or self.settings.prometheus_url
        )
        provider = self._providers.get(url)
        if provider is None:
            provider = PrometheusProvider(url, timeout=self.settings.query_timeout_seconds)
            self._providers[url] = provider
        return provider

    # -- act ---------------------------------------------------------------------------

    async def _act(self, canary: Canary, view: ClusterView, decision: Decision) -> str | None:
        """Carry out the actions in order; stop at the first failure and say why."""
        namespace, target_name = canary.metadata.namespace, canary.spec.target_ref.name
        for action in decision.actions:
            target = view.deployment(namespace, target_name)
            try:
                if isinstance(action, InitializeTargets):
                    if target is None:
                        return f"target Deployment {namespace}/{target_name} not found"
                    label = selector_label(target, self.settings.selector_labels)
                    await ensure_primary(self.api, canary, target,
                                         selector_labels=self.settings.selector_labels)
                    await ensure_services(self.api, canary, label)
                    if action.with_routing:  # only once the primary can take the traffic
                        await self.router.reconcile(canary)
                elif isinstance(action, ScaleTargetToZero):
                    await scale(self.api, namespace, target_name, 0)
                elif isinstance(action, ScaleTargetUp):
                    await scale(self.api, namespace, target_name, action.replicas)
                elif isinstance(action, SetWeights):
                    await self.router.set_weights(canary, action.primary, action.canary)
                elif isinstance(action, PromoteTemplate):
                    primary = view.deployment(namespace, f"{target_name}-primary")
                    if target is None or primary is None:
                        return f"cannot promote {canary.key}: target or primary missing"
                    await promote(self.api, canary, target, primary,
                                  selector_labels=self.settings.selector_labels)
            except (TargetError, RouterError) as error:
                return str(error)
            except ApiException as error:
                return (f"{type(action).__name__} failed for {canary.key}: "
                        f"HTTP {error.status} {error.reason}")
        return None

    # -- record ------------------------------------------------------------------------

    async def _record(self, body: JsonDict, canary: Canary, old: CanaryStatus,
                      decision: Decision) -> None:
        for event in decision.events:
            self.post_event(body, event)
        if decision.status != old or canary.status is None:
            await self._patch_status(canary, decision.status.to_api())
        self._written[canary.metadata.uid or canary.key] = decision.status

    async def _patch_status(self, canary: Canary, status: Mapping[str, Any]) -> None:
        api = aio_client.CustomObjectsApi(self.api)
        await api.patch_namespaced_custom_object_status(
            GROUP, VERSION, canary.metadata.namespace, "canaries", canary.metadata.name,
            {"status": dict(status)}, _content_type="application/merge-patch+json",
        )

    async def _report_problem(self, body: JsonDict, canary: Canary, problem: str) -> None:
        self.post_event(body, Event("Warning", problem))
        await self._patch_status(canary, {"message": problem})

    # -- deletion ----------------------------------------------------------------------

    async def revert(self, body: JsonDict, view: ClusterView, attempt: int) -> RevertStep:
        """revertOnDeletion: the target serves again before the Canary's objects go."""
        canary = Canary.model_validate(body)
        step = analysis.plan_revert(self._observe(canary, view, self.clock(), None), attempt)
        if attempt == 0:
            await self._patch_status(canary, {"phase": "Terminating", "message": step.reason})
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
        meta = body.get("metadata", {})
        message = format_validation_error(
            "Canary", meta.get("namespace", ""), meta.get("name", ""), error
        )
        self.post_event(body, Event("Warning", message))
        api = aio_client.CustomObjectsApi(self.api)
        try:
            await api.patch_namespaced_custom_object_status(
                GROUP, VERSION, meta.get("namespace", ""), "canaries", meta.get("name", ""),
                {"status": {"message": message}}, _content_type="application/merge-patch+json",
            )
        except ApiException as api_error:
            log.warning("could not write the status of an invalid Canary: %s", api_error)
        return TickResult(self.settings.min_interval_seconds, None, message)

    def _report_unsupported(self, body: JsonDict, canary: Canary) -> None:
        key = (canary.metadata.uid or canary.key, canary.metadata.generation or 0)
        if key in self._reported_unsupported:
            return
        self._reported_unsupported.add(key)
        fields = unsupported_fields(canary.spec)
        if fields:
            self.post_event(body, Event(
                "Warning", f"not supported yet, accepted and ignored: {', '.join(fields)}"))


def _replicas(deployment: JsonDict | None) -> int | None:
    if deployment is None:
        return None
    replicas = deployment.get("spec", {}).get("replicas")
    return int(replicas) if replicas is not None else None
