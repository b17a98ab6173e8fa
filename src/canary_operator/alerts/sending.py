"""POSTing alert payloads: one `httpx.AsyncClient` per proxy, a deadline per attempt, and
one retry when the connection could not be made (the alert was surely not delivered, so
it cannot arrive twice).

The token goes out as `Authorization: Bearer <token>` (RFC 6750) to `slack` and
`webhook`, as Flagger sends it to Slack; the other services authenticate by their webhook
address, and Flagger sends them no token, so neither do we.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from canary_operator import __version__
from canary_operator.alerts.errors import AlertDeliveryError
from canary_operator.alerts.targets import AlertTarget, shown_address
from canary_operator.api.alert_provider import AlertProviderType

DEFAULT_TIMEOUT_SECONDS = 5.0
TOKEN_TYPES: frozenset[str] = frozenset({"slack", "webhook"})
USER_AGENT = f"canary-operator/{__version__}"
_SHOWN_BODY_CHARS = 300


def request_headers(provider_type: AlertProviderType, token: str | None) -> dict[str, str]:
    """The headers of an alert POST to a `provider_type` service."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if token and provider_type in TOKEN_TYPES:
        headers["Authorization"] = f"Bearer {token}"
    return headers


class AlertSender:
    """Sends alert payloads; share one per operator and `aclose()` it on shutdown.

    `transport` replaces the network for every client (tests); proxies then do not apply.
    """

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.timeout = timeout
        self._transport = transport
        self._clients: dict[str | None, httpx.AsyncClient] = {}

    async def send(self, target: AlertTarget, provider_type: AlertProviderType,
                   payload: Mapping[str, Any]) -> None:
        """POST `payload` as JSON to `target`; raises AlertDeliveryError unless the service
        answers 2xx."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = request_headers(provider_type, target.token)
        where = f"{provider_type} alert to {shown_address(target.address)}"
        response = await self._post(target, body, headers, where)
        if not 200 <= response.status_code <= 299:
            raise AlertDeliveryError(
                f"{where} was refused: HTTP {response.status_code}"
                f"{_body_excerpt(response.content)}",
                status=response.status_code,
            )

    async def _post(self, target: AlertTarget, body: bytes, headers: dict[str, str],
                    where: str) -> httpx.Response:
        client = self._client(target.proxy)
        for attempt in (1, 2):
            try:
                async with asyncio.timeout(self.timeout):
                    return await client.post(target.address, content=body, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError) as error:
                if attempt == 2:
                    raise AlertDeliveryError(
                        f"{where} failed: cannot connect{_via(target)} after 2 attempts: "
                        f"{_describe(error)}"
                    ) from error
            except (TimeoutError, httpx.TimeoutException) as error:
                raise AlertDeliveryError(
                    f"{where} failed: no answer within {self.timeout:g}s{_via(target)}"
                ) from error
            except (httpx.HTTPError, httpx.InvalidURL) as error:
                raise AlertDeliveryError(
                    f"{where} failed{_via(target)}: {_describe(error)}"
                ) from error
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _client(self, proxy: str | None) -> httpx.AsyncClient:
        key = None if self._transport is not None else proxy
        client = self._clients.get(key)
        if client is None:
            client = httpx.AsyncClient(
                timeout=self.timeout,
                proxy=key,
                transport=self._transport,
                follow_redirects=False,
            )
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        """Close every client (one per proxy used)."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def __aenter__(self) -> AlertSender:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, traceback: TracebackType | None) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AlertSender(timeout={self.timeout:g}, clients={len(self._clients)})"


def _via(target: AlertTarget) -> str:
    return f" via proxy {shown_address(target.proxy)}" if target.proxy else ""


def _describe(error: Exception) -> str:
    return str(error) or type(error).__name__


def _body_excerpt(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    if not text:
        return ""
    if len(text) > _SHOWN_BODY_CHARS:
        text = text[:_SHOWN_BODY_CHARS] + "…"
    return f": {text}"
