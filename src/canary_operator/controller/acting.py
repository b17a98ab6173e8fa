"""Carrying out a Decision's actions, in order; the first failure stops the rest and is
reported, so the same step is tried again on the next tick.

The cluster actions come before the status write, the hooks that gate nothing
(`RunHooks`: post-rollout) after it (`run_post_hooks`), so a failed write never calls
them twice."""

from __future__ import annotations

from kubernetes.aio import client as aio_client
from kubernetes.aio.client.exceptions import ApiException

from canary_operator.analysis.decision import (
    Action,
    Decision,
    Event,
    InitializeTargets,
    PromoteTemplate,
    RunHooks,
    ScaleTargetToZero,
    ScaleTargetUp,
    SetWeights,
)
from canary_operator.api import Canary, CanaryStatus
from canary_operator.controller.observing import revision_hash
from canary_operator.controller.view import ClusterView, EventPoster, JsonDict
from canary_operator.kube.autoscalers import ensure_primary_hpa, primary_hpa_name
from canary_operator.kube.configs import ConfigError, TrackedConfigs, ensure_primary_configs
from canary_operator.kube.services import ensure_services
from canary_operator.kube.workloads import (
    TargetError,
    ensure_primary,
    pod_template_hash,
    promote,
    scale,
    selector_label,
)
from canary_operator.routers.protocol import AffinityCookies, Router, RouterError, Routes
from canary_operator.settings import OperatorSettings
from canary_operator.webhooks import WebhookCaller


class Actor:
    def __init__(self, api: aio_client.ApiClient, router: Router, settings: OperatorSettings,
                 hooks: WebhookCaller, post_event: EventPoster) -> None:
        self.api = api
        self.router = router
        self.settings = settings
        self.hooks = hooks
        self.post_event = post_event

    async def act(self, body: JsonDict, canary: Canary, view: ClusterView, decision: Decision,
                  configs: TrackedConfigs | None) -> str | None:
        """Carry out the cluster actions in order; stop at the first failure and say why."""
        for action in decision.actions:
            if isinstance(action, RunHooks):
                continue  # after the status write: run_post_hooks
            try:
                problem = await self._carry_out(action, body, canary, view, decision, configs)
            except (TargetError, RouterError, ConfigError) as error:
                return str(error)
            except ApiException as error:
                return (f"{type(action).__name__} failed for {canary.key}: "
                        f"HTTP {error.status} {error.reason}")
            if problem is not None:
                return problem
        return None

    async def _carry_out(self, action: Action, body: JsonDict, canary: Canary,
                         view: ClusterView, decision: Decision,
                         configs: TrackedConfigs | None) -> str | None:
        namespace, target_name = canary.metadata.namespace, canary.spec.target_ref.name
        if isinstance(action, InitializeTargets):
            return await self._initialize(canary, view, action, configs)
        if isinstance(action, ScaleTargetToZero):
            await scale(self.api, namespace, target_name, 0)
        elif isinstance(action, ScaleTargetUp):
            await scale(self.api, namespace, target_name, action.replicas)
        elif isinstance(action, SetWeights):
            await self.router.set_routes(
                canary, Routes(action.primary, action.canary, action.mirror),
                affinity_cookies(canary, decision.status))
        elif isinstance(action, PromoteTemplate):
            return await self._promote(canary, view, configs, action.revision)
        return None

    async def _initialize(self, canary: Canary, view: ClusterView, action: InitializeTargets,
                          configs: TrackedConfigs | None) -> str | None:
        namespace, target_name = canary.metadata.namespace, canary.spec.target_ref.name
        target = view.deployment(namespace, target_name)
        if target is None:
            return f"target Deployment {namespace}/{target_name} not found"
        label = selector_label(target, self.settings.selector_labels)
        if configs is not None:
            await ensure_primary_configs(self.api, canary, configs)
        await ensure_primary(self.api, canary, target, tracked=_keys(configs),
                             selector_labels=self.settings.selector_labels)
        await self.sync_autoscaler(canary, view)
        await ensure_services(self.api, canary, label)
        if action.with_routing:  # only once the primary can take the traffic
            await self.router.reconcile(canary)
        return None

    async def _promote(self, canary: Canary, view: ClusterView,
                       configs: TrackedConfigs | None, revision: str | None) -> str | None:
        """Copy the target to the primary if it is still the analysed revision: the
        watch cache may have moved on since the tick observed it (an image bump in the
        seconds between the decision and this action)."""
        namespace, target_name = canary.metadata.namespace, canary.spec.target_ref.name
        target = view.deployment(namespace, target_name)
        primary = view.deployment(namespace, f"{target_name}-primary")
        if target is None or primary is None:
            return f"cannot promote {canary.key}: target or primary missing"
        now = revision_hash(pod_template_hash(target), configs)
        if now != revision:
            return (f"not promoting {namespace}/{target_name}: it changed since revision "
                    f"{revision} was analysed (now {now}); the new revision gets its own "
                    "analysis")
        if configs is not None:
            await ensure_primary_configs(self.api, canary, configs)
        await promote(self.api, canary, target, primary, tracked=_keys(configs),
                      selector_labels=self.settings.selector_labels)
        await self.sync_autoscaler(canary, view)
        return None

    async def sync_autoscaler(self, canary: Canary, view: ClusterView) -> None:
        """Keep `<hpa>-primary` equal to the target's HPA (from the watch cache: no
        write when they agree). Flagger syncs it only at a rollout (#214)."""
        ref = canary.spec.autoscaler_ref
        if ref is None:
            return
        namespace = canary.metadata.namespace
        target_hpa = view.autoscaler(namespace, ref.name)
        if target_hpa is None:
            raise TargetError(f"autoscalerRef: HorizontalPodAutoscaler {namespace}/{ref.name} "
                              "not found; create it or remove spec.autoscalerRef")
        live = view.autoscaler(namespace, primary_hpa_name(canary))
        await ensure_primary_hpa(self.api, canary, target_hpa, live)

    async def run_post_hooks(self, body: JsonDict, canary: Canary, decision: Decision) -> None:
        """The decision's hooks that gate nothing, once its status is written."""
        for action in decision.actions:
            if isinstance(action, RunHooks):
                await self.run_hooks(body, canary, decision.status, action)

    async def run_hooks(self, body: JsonDict, canary: Canary, status: CanaryStatus,
                        action: RunHooks) -> None:
        """Hooks that gate nothing (post-rollout): each outcome becomes an event."""
        answers = await self.hooks.call(canary, action.type, action.phase.value, status)
        kind = action.type.value.capitalize()
        for answer in answers:
            if answer.ok:
                self.post_event(body, Event("Normal", f"{kind} check {answer.name} passed"))
            else:
                self.post_event(body, Event(
                    "Warning", f"{kind} hook {answer.name} failed {answer.message}"))


def _keys(configs: TrackedConfigs | None) -> dict[str, str]:
    """The tracked configs and their sums: the primary refers to their `-primary` copies
    and carries the sums, so a config-only promotion still rolls its pods."""
    return dict(configs.checksums) if configs is not None else {}


def affinity_cookies(canary: Canary, status: CanaryStatus) -> AffinityCookies | None:
    """The cookies the router pins sessions with, from the status being written."""
    if canary.spec.analysis is None or canary.spec.analysis.session_affinity is None:
        return None
    return AffinityCookies(status.session_affinity_cookie,
                           status.primary_session_affinity_cookie,
                           status.previous_session_affinity_cookie)
