"""Building one tick's Observation: the watch caches first, then only what the decision
asks for (metric queries, webhook calls), so a quiet tick makes no request at all."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
from typing import Any

from kubernetes.aio import client as aio_client
from pydantic import ValidationError

from canary_operator import analysis
from canary_operator.analysis.observation import (
    HookResult,
    MetricObservation,
    Observation,
    Readiness,
)
from canary_operator.api import Canary, CanaryStatus
from canary_operator.api.canary import CanaryMetric, WebhookType
from canary_operator.api.metric_template import MetricTemplate
from canary_operator.api.support import SUPPORTED_METRIC_PROVIDERS, format_validation_error
from canary_operator.controller.view import ClusterView, JsonDict
from canary_operator.kube.autoscalers import canary_min_replicas
from canary_operator.kube.configs import TrackedConfigs, config_refs, read_tracked_configs
from canary_operator.kube.workloads import pod_template_hash
from canary_operator.metrics import MetricConfigError, metric_query, uses_template
from canary_operator.metrics.batching import BuiltinBatcher
from canary_operator.metrics.builtin import batchable
from canary_operator.metrics.prometheus import PrometheusProvider
from canary_operator.routers.protocol import Routes
from canary_operator.webhooks import WebhookCaller

MISSING = Readiness(ready=False, retriable=True, message="not found")


def observe(canary: Canary, view: ClusterView, now: dt.datetime, routes: Routes | None,
            configs: TrackedConfigs | None = None) -> Observation:
    """Everything a tick sees without asking anyone but the watch caches (the routes and
    the configs were read by the caller)."""
    spec, namespace = canary.spec, canary.metadata.namespace
    target = view.deployment(namespace, spec.target_ref.name)
    primary = view.deployment(namespace, f"{spec.target_ref.name}-primary")
    analysis_spec = spec.analysis
    canary_threshold = analysis_spec.canary_ready_threshold if analysis_spec else 100
    primary_threshold = analysis_spec.primary_ready_threshold if analysis_spec else 100
    deadline = spec.progress_deadline_seconds
    hpa = (view.autoscaler(namespace, spec.autoscaler_ref.name)
           if spec.autoscaler_ref is not None else None)
    return Observation(
        now=now,
        name=canary.metadata.name,
        namespace=namespace,
        target_exists=target is not None,
        target_hash=(revision_hash(pod_template_hash(target), configs)
                     if target is not None else None),
        target_replicas=replicas(target),
        canary=(analysis.deployment_readiness(target, canary_threshold, deadline, now)
                if target is not None else MISSING),
        primary_exists=primary is not None,
        primary=(analysis.deployment_readiness(primary, primary_threshold, deadline, now)
                 if primary is not None else MISSING),
        primary_replicas=replicas(primary),
        weights=(routes.primary, routes.canary) if routes is not None else None,
        mirrored=routes.mirrored if routes is not None else False,
        tracked_configs=dict(configs.checksums) if configs is not None else None,
        autoscaler_min_replicas=canary_min_replicas(hpa) if hpa is not None else None,
    )


def revision_hash(template_hash: str, configs: TrackedConfigs | None) -> str:
    """The revision: the pod template's hash, folded with the tracked configs' sums
    when there are any (so a ConfigMap change is a new revision, as in Flagger)."""
    if configs is None or not configs.checksums:
        return template_hash
    source = template_hash + "".join(f"|{key}={value}"
                                     for key, value in sorted(configs.checksums.items()))
    return hashlib.sha256(source.encode()).hexdigest()[:16]


async def read_configs(api: aio_client.ApiClient, canary: Canary,
                       target: JsonDict | None) -> TrackedConfigs | None:
    """The ConfigMaps and Secrets the target's pods use (one GET each; none when the
    template references none)."""
    if target is None:
        return None
    pod_spec = ((target.get("spec") or {}).get("template") or {}).get("spec") or {}
    refs = config_refs(pod_spec)
    if not refs:
        return TrackedConfigs()
    return await read_tracked_configs(api, canary.metadata.namespace, refs)


def replicas(deployment: JsonDict | None) -> int | None:
    if deployment is None:
        return None
    value = deployment.get("spec", {}).get("replicas")
    return int(value) if value is not None else None


class Measurer:
    """Runs a Canary's metric queries, with one provider per Prometheus address; builtin
    metrics of Canaries checking at the same moment share one query (`BuiltinBatcher`)."""

    def __init__(self, default_url: str, timeout: float) -> None:
        self.default_url = default_url
        self.timeout = timeout
        self._providers: dict[tuple[str, tuple[tuple[str, str], ...], bool],
                              PrometheusProvider] = {}
        self._batchers: dict[str, BuiltinBatcher] = {}

    async def aclose(self) -> None:
        for batcher in self._batchers.values():
            await batcher.aclose()
        for provider in self._providers.values():
            await provider.aclose()

    async def measure(self, canary: Canary, view: ClusterView) -> tuple[MetricObservation, ...]:
        """Every metric of the analysis, queried at once (a tick takes one query's time,
        not their sum), in the spec's order."""
        metrics = canary.spec.analysis.metrics if canary.spec.analysis else None
        return tuple(await asyncio.gather(*(self._measure_one(canary, view, metric)
                                            for metric in metrics or [])))

    async def _measure_one(self, canary: Canary, view: ClusterView,
                           metric: CanaryMetric) -> MetricObservation:
        try:
            template = _template(canary, view, metric.template_ref)
            query = metric_query(canary, metric, template)
        except Exception as error:  # a bad template is this Canary's problem only
            return MetricObservation(metric.name, "", metric.interval, None, error=str(error),
                                     invalid=True)
        if (template is not None and uses_template(metric)
                and template.spec.provider.type not in SUPPORTED_METRIC_PROVIDERS):
            return MetricObservation(
                metric.name, query, metric.interval, None, invalid=True,
                error=(f"MetricTemplate {template.metadata.namespace}/{template.metadata.name}: "
                       f"provider type {template.spec.provider.type!r} is not supported; "
                       f"supported: {', '.join(sorted(SUPPORTED_METRIC_PROVIDERS))}"))
        provider = self._provider(canary, template)
        namespace, target = canary.metadata.namespace, canary.spec.target_ref.name
        if template is None and batchable(metric.name, namespace, target):
            batcher = self._batchers.get(provider.url)
            if batcher is None:
                batcher = self._batchers[provider.url] = BuiltinBatcher(provider)
            result = await batcher.query(metric.name, namespace, target, metric.interval,
                                         query)
        else:
            result = await provider.query(query)
        return MetricObservation(metric.name, result.query, metric.interval, result.value,
                                 error=result.error, invalid=result.invalid)

    def _provider(self, canary: Canary, template: MetricTemplate | None) -> PrometheusProvider:
        """One provider per address, headers and TLS setting: a template's `headers` go
        with each of its queries (several values of a header joined by commas, as HTTP
        allows), `insecureSkipVerify` turns certificate checks off for its address."""
        settings = template.spec.provider if template is not None else None
        url = ((settings.address if settings is not None else None)
               or canary.spec.metrics_server or self.default_url)
        headers = tuple(sorted((name, ", ".join(values)) for name, values
                               in ((settings.headers or {}) if settings else {}).items()))
        verify = not (settings is not None and settings.insecure_skip_verify)
        key = (url, headers, verify)
        provider = self._providers.get(key)
        if provider is None:
            provider = PrometheusProvider(url, timeout=self.timeout, headers=dict(headers),
                                          verify=verify)
            self._providers[key] = provider
        return provider


def _template(canary: Canary, view: ClusterView, ref: Any) -> MetricTemplate | None:
    if ref is None:
        return None
    namespace = ref.namespace or canary.metadata.namespace
    body = view.metric_template(namespace, ref.name)
    if body is None:
        return None
    try:
        return MetricTemplate.model_validate(body)
    except ValidationError as error:
        raise MetricConfigError(format_validation_error(
            "MetricTemplate", namespace, ref.name, error)) from error


async def complete(canary: Canary, status: CanaryStatus, seen: Observation, view: ClusterView,
                   measurer: Measurer, hooks: WebhookCaller) -> Observation:
    """Add what the decision needs beyond the caches: the metric results when the tick
    reaches the checks, and the answers of each hook type it reaches, one type at a
    time (a gate that refuses stops the path, so later hooks are never called)."""
    for _ in range(len(WebhookType) + 1):
        if seen.metrics is None and analysis.needs_metrics(canary.spec, status, seen):
            seen = dataclasses.replace(seen, metrics=await measurer.measure(canary, view))
        call = analysis.pending_hooks(canary.spec, status, seen)
        if call is None:
            break
        answers = await hooks.call(canary, call.type, call.phase.value, status)
        results = tuple(HookResult(a.name, a.ok, a.message) for a in answers)
        seen = dataclasses.replace(seen, hooks={**seen.hooks, call.type: results})
    return seen

