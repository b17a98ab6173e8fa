"""Telling people: a Decision's events go to the API, to the Canary's `event` webhooks,
and its alerts to the AlertProviders whose severity asks for them.

Webhooks and chat services are sent to in the background: a slow chat service never
delays a Canary's next step. A failed delivery becomes a Warning event on the Canary.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from kubernetes.aio import client as aio_client
from pydantic import ValidationError

from canary_operator.alerts import (
    AlertError,
    AlertMessage,
    AlertSender,
    build_payload,
    resolve_target,
    routes,
)
from canary_operator.analysis.decision import Alert, Decision, Event
from canary_operator.analysis.steps import Strategy, strategy_of
from canary_operator.api import Canary, CanaryStatus
from canary_operator.api.alert_provider import AlertProvider
from canary_operator.api.canary import CanaryAlert, WebhookType
from canary_operator.controller.view import ClusterView, EventPoster, JsonDict
from canary_operator.webhooks import WebhookCaller, hooks_of

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, api: aio_client.ApiClient, post_event: EventPoster,
                 hooks: WebhookCaller, sender: AlertSender,
                 clock: Callable[[], datetime], step_events: bool = True) -> None:
        self.api = api
        self.step_events = step_events
        self.post_event = post_event
        self.hooks = hooks
        self.sender = sender
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        """Let the deliveries under way finish (each has its own timeout)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def publish(self, body: JsonDict, canary: Canary, view: ClusterView,
                decision: Decision) -> None:
        for event in decision.events:
            if self.step_events or not event.step:
                self.post_event(body, event)
        if decision.events and hooks_of(canary, WebhookType.EVENT):
            self._spawn(self._send_events(body, canary, decision.status, decision.events))
        for alert in decision.alerts:
            for wanted in _alerts_of(canary):
                if routes(wanted.severity, alert.severity):
                    message = alert_message(canary, decision.status, alert)
                    self._spawn(self._send_alert(body, canary, view, wanted, message))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_events(self, body: JsonDict, canary: Canary, status: CanaryStatus,
                           sent: tuple[Event, ...]) -> None:
        for event in sent:
            try:
                answers = await self.hooks.post_event(canary, status, event.type,
                                                      event.message, self.clock())
            except Exception:  # a background task: nothing else would report it
                log.exception("event webhooks of %s failed", canary.key)
                return
            for answer in answers:
                if not answer.ok:
                    log.warning("event webhook %s of %s failed: %s", answer.name, canary.key,
                                answer.message)

    async def _send_alert(self, body: JsonDict, canary: Canary, view: ClusterView,
                          wanted: CanaryAlert, message: AlertMessage) -> None:
        namespace = wanted.provider_ref.namespace or canary.metadata.namespace
        ref = f"AlertProvider {namespace}/{wanted.provider_ref.name}"
        provider_body = view.alert_provider(namespace, wanted.provider_ref.name)
        try:
            if provider_body is None:
                raise AlertError(f"{ref} not found (spec.analysis.alerts[{wanted.name}]): "
                                 "create it or fix providerRef")
            try:
                provider = AlertProvider.model_validate(provider_body)
            except ValidationError as error:
                raise AlertError(f"{ref} is invalid: {error.errors()[0]['msg']}") from error
            target = await resolve_target(self.api, provider)
            payload = build_payload(provider.spec.type, message, channel=provider.spec.channel,
                                    username=provider.spec.username, sent_at=self.clock())
            await self.sender.send(target, provider.spec.type, payload)
        except AlertError as error:
            self.post_event(body, Event("Warning", f"alert {wanted.name} not sent: {error}"))
        except Exception as error:  # a background task: nothing else would report it
            log.exception("alert %s of %s failed", wanted.name, canary.key)
            self.post_event(body, Event("Warning", f"alert {wanted.name} not sent: {error}"))


def _alerts_of(canary: Canary) -> list[CanaryAlert]:
    return list(canary.spec.analysis.alerts or []) if canary.spec.analysis else []


def alert_message(canary: Canary, status: CanaryStatus, alert: Alert) -> AlertMessage:
    """Flagger's alert fields, plus every metric of the last checks that did not pass,
    with its value, its threshold and its window."""
    spec = canary.spec
    target = f"{spec.target_ref.kind}/{spec.target_ref.name}.{canary.metadata.namespace}"
    fields: list[tuple[str, str]] = [("Target", target)]
    analysis = spec.analysis
    if analysis is not None:
        fields.append(("Failed checks threshold", str(analysis.effective_threshold)))
    fields.append(("Progress deadline", f"{spec.progress_deadline_seconds}s"))
    fields.append(("Traffic routing", _routing(canary)))
    if alert.severity != "info":
        for check in status.checks or []:
            if check.outcome != "Pass":
                value = "no value" if check.value is None else f"{check.value:g}"
                fields.append((check.name, f"{check.outcome}: {value} "
                                           f"(threshold {check.threshold}, {check.window})"))
    return AlertMessage(canary.metadata.name, canary.metadata.namespace, alert.severity,
                        alert.message, tuple(fields))


def _routing(canary: Canary) -> str:
    analysis = canary.spec.analysis
    strategy = strategy_of(analysis)
    if strategy is Strategy.AB_TESTING:
        return "A/B Testing"
    if strategy is Strategy.BLUE_GREEN:
        return "Blue/Green"
    if analysis is not None and analysis.step_weights and not analysis.step_weight:
        return f"Weight steps: {analysis.step_weights} max: {analysis.effective_max_weight}"
    step = analysis.step_weight if analysis is not None else None
    max_weight = analysis.effective_max_weight if analysis is not None else 100
    return f"Weight step: {step} max: {max_weight}"
