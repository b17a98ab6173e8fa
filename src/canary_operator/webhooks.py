"""Rollout hooks and gates: POST Flagger's payload to each webhook of a type.

Success is any 2xx answer (Flagger counts 204 as a failure). Each hook has its own
timeout and retries; the hooks of one type are called together. What an answer means
(approve, refuse, roll back) is decided by `analysis`, never here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from canary_operator.api import Canary, CanaryStatus
from canary_operator.api.base import parse_duration
from canary_operator.api.canary import CanaryWebhook, WebhookType

log = logging.getLogger(__name__)

# Pause between retries of one hook, doubled each time (Flagger's retryablehttp waits
# 1 s to 30 s; gates are asked again every interval anyway, so keep it short).
RETRY_BACKOFF_SECONDS = 0.5


@dataclass(frozen=True)
class HookAnswer:
    name: str
    ok: bool  # any 2xx
    message: str  # "HTTP 200", "HTTP 403 closed", "timed out after 10s"


def checksum(status: CanaryStatus) -> str:
    """Names the revision under analysis: the applied spec and the tracked configs."""
    source = json.dumps({"lastAppliedSpec": status.last_applied_spec,
                         "trackedConfigs": status.tracked_configs or {}}, sort_keys=True)
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def payload(canary: Canary, hook: CanaryWebhook, phase: str, status: CanaryStatus,
            extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Flagger's `CanaryWebhookPayload`: name, namespace, phase, checksum, metadata."""
    metadata = {**(hook.metadata or {}), **(extra or {})}
    return {"name": canary.metadata.name, "namespace": canary.metadata.namespace,
            "phase": phase, "checksum": checksum(status), "metadata": metadata}


def hooks_of(canary: Canary, kind: WebhookType) -> list[CanaryWebhook]:
    return canary.spec.analysis.webhooks_of(kind) if canary.spec.analysis else []


class WebhookCaller:
    """Calls webhooks with one pooled client (and one that skips TLS verification, for
    hooks with `disableTLS`)."""

    def __init__(self) -> None:
        self._clients: dict[bool, httpx.AsyncClient] = {}

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    async def call(self, canary: Canary, kind: WebhookType, phase: str,
                   status: CanaryStatus) -> tuple[HookAnswer, ...]:
        hooks = hooks_of(canary, kind)
        return tuple(await asyncio.gather(*(
            self.call_one(hook, payload(canary, hook, phase, status)) for hook in hooks)))

    async def post_event(self, canary: Canary, status: CanaryStatus, event_type: str,
                         message: str, now: datetime) -> tuple[HookAnswer, ...]:
        """Send one Kubernetes Event to the `event` hooks, as Flagger does."""
        extra = {"eventMessage": message, "eventType": event_type,
                 "timestamp": str(int(now.timestamp() * 1000))}
        hooks = hooks_of(canary, WebhookType.EVENT)
        return tuple(await asyncio.gather(*(
            self.call_one(hook, payload(canary, hook, status.phase.value, status, extra))
            for hook in hooks)))

    async def call_one(self, hook: CanaryWebhook, body: Mapping[str, Any]) -> HookAnswer:
        timeout = parse_duration(hook.timeout)
        client = self._client(bool(hook.disable_tls))
        attempts = 1 + (hook.retries or 0)
        message = ""
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1))
            try:
                response = await client.post(hook.url, json=body, timeout=timeout)
            except httpx.TimeoutException:
                message = f"timed out after {hook.timeout}"
                continue
            except httpx.HTTPError as error:
                message = f"{type(error).__name__}: {error}"
                continue
            if response.is_success:
                return HookAnswer(hook.name, True, f"HTTP {response.status_code}")
            message = f"HTTP {response.status_code} {_excerpt(response.text)}".strip()
            if response.status_code < 500:
                break  # the hook answered; asking again now will not change it
        log.info("webhook %s (%s) refused: %s", hook.name, hook.url, message)
        return HookAnswer(hook.name, False, message)

    def _client(self, insecure: bool) -> httpx.AsyncClient:
        client = self._clients.get(insecure)
        if client is None:
            client = httpx.AsyncClient(verify=not insecure)
            self._clients[insecure] = client
        return client


def _excerpt(text: str, limit: int = 120) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
