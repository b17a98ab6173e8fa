"""Where an AlertProvider's alerts go: its address, token and proxy.

`target_from_provider` and `target_from_secret` are pure (they decide); `resolve_target`
only adds the one Secret read (it fetches). As in Flagger, the Secret's `address` key
wins over `spec.address` and its optional `token` key is the token. Unlike Flagger, a
Secret without an `address` key falls back to `spec.address` when that is set, and
surrounding whitespace (a trailing newline from `echo`) is stripped from both keys.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from kubernetes.aio.client import ApiClient, CoreV1Api
from kubernetes.aio.client.exceptions import ApiException

from canary_operator.alerts.errors import AlertConfigError, AlertError
from canary_operator.api.alert_provider import AlertProvider, AlertProviderType
from canary_operator.kube import read_json

ADDRESS_KEY = "address"
TOKEN_KEY = "token"
_WEB_SCHEMES = ("http", "https")
_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


@dataclass(frozen=True)
class AlertTarget:
    """The resolved destination of an AlertProvider's alerts.

    `address` is where the payload is POSTed (already adjusted for the service, e.g.
    Discord's `/slack`); webhook addresses and tokens are secrets, so `repr` shows
    neither in full.
    """

    address: str
    token: str | None = None
    proxy: str | None = None

    def __repr__(self) -> str:
        token = "<set>" if self.token else None
        return (f"AlertTarget(address={shown_address(self.address)!r}, token={token!r}, "
                f"proxy={self.proxy and shown_address(self.proxy)!r})")


def delivery_address(provider_type: AlertProviderType, address: str) -> str:
    """The address the payload is POSTed to: Discord's Slack-compatible endpoint is the
    webhook address plus `/slack` (as Flagger posts), every other service's is as given."""
    if provider_type != "discord":
        return address
    parts = urlsplit(address)
    if parts.path.endswith("/slack"):
        return address
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/slack"))


def shown_address(address: str) -> str:
    """An address fit for logs and errors: scheme and host only (webhook paths and
    credentials in the URL are secrets)."""
    parts = urlsplit(address)
    if not parts.scheme or not parts.hostname:
        return "<not a URL>"
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    hidden = "/…" if parts.path not in ("", "/") or parts.query else ""
    return f"{parts.scheme}://{host}{hidden}"


def provider_name(provider: AlertProvider) -> str:
    """`AlertProvider <namespace>/<name>`, how every error names the object."""
    return f"AlertProvider {provider.metadata.namespace}/{provider.metadata.name}"


def target_from_provider(provider: AlertProvider) -> AlertTarget:
    """The target of an AlertProvider without `spec.secretRef`: its `spec.address`."""
    spec = provider.spec
    if spec.secret_ref is not None:
        raise AlertConfigError(
            f"{provider_name(provider)}: spec.secretRef is set; resolve it with "
            "target_from_secret (or resolve_target)"
        )
    if not spec.address:
        raise AlertConfigError(
            f"{provider_name(provider)}: neither spec.address nor spec.secretRef is set; set "
            "spec.address to the service's webhook address, or spec.secretRef to a Secret "
            "with an 'address' key"
        )
    address = _checked_address(provider, spec.address.strip(), "spec.address")
    return AlertTarget(delivery_address(spec.type, address), None, _checked_proxy(provider))


def target_from_secret(provider: AlertProvider, secret: Mapping[str, Any]) -> AlertTarget:
    """The target of an AlertProvider from the Secret its `spec.secretRef` names (the
    Secret's JSON as read from the API)."""
    spec = provider.spec
    if spec.secret_ref is None:
        return target_from_provider(provider)
    where = f"Secret {provider.metadata.namespace}/{spec.secret_ref.name}"
    data = secret.get("data") or {}
    address = _decoded(provider, where, data, ADDRESS_KEY)
    if address:
        address = _checked_address(provider, address, f"key {ADDRESS_KEY!r} of {where}")
    elif spec.address:
        address = _checked_address(provider, spec.address.strip(), "spec.address")
    else:
        raise AlertConfigError(
            f"{provider_name(provider)}: spec.secretRef names {where} which has no key "
            f"{ADDRESS_KEY!r}; add it or set spec.address"
        )
    token = _decoded(provider, where, data, TOKEN_KEY) or None
    return AlertTarget(delivery_address(spec.type, address), token, _checked_proxy(provider))


async def resolve_target(api: ApiClient | None, provider: AlertProvider) -> AlertTarget:
    """The AlertProvider's target; with `spec.secretRef`, one GET of that Secret (in the
    AlertProvider's namespace) through `api`.

    Raises AlertConfigError when the provider or its Secret gives no usable address
    (missing Secret or key, no permission to read it, not a URL), AlertError when the
    API cannot be asked.
    """
    secret_ref = provider.spec.secret_ref
    if secret_ref is None:
        return target_from_provider(provider)
    namespace, name = provider.metadata.namespace, secret_ref.name
    where = f"Secret {namespace}/{name}"
    if api is None:
        raise AlertConfigError(
            f"{provider_name(provider)}: spec.secretRef names {where}, but no API client was "
            "given to read it"
        )
    try:
        secret = await read_json(
            CoreV1Api(api).read_namespaced_secret_without_preload_content(name, namespace)
        )
    except ApiException as error:
        raise _secret_read_error(provider, where, error) from error
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        raise AlertError(
            f"{provider_name(provider)}: reading {where} failed: {error or type(error).__name__}"
        ) from error
    return target_from_secret(provider, secret)


def _secret_read_error(provider: AlertProvider, where: str, error: ApiException) -> AlertError:
    namespace = provider.metadata.namespace
    if error.status == 404:
        return AlertConfigError(
            f"{provider_name(provider)}: spec.secretRef names {where} which does not exist; "
            f"create it with an {ADDRESS_KEY!r} key (and optionally {TOKEN_KEY!r}) or set "
            "spec.address"
        )
    if error.status == 403:
        return AlertConfigError(
            f"{provider_name(provider)}: the operator may not read {where} (HTTP 403); "
            f"grant its ServiceAccount get on secrets in namespace {namespace}, or set "
            "spec.address instead of spec.secretRef"
        )
    return AlertError(
        f"{provider_name(provider)}: reading {where} failed: HTTP {error.status} "
        f"{error.reason or ''}".rstrip()
    )


def _decoded(provider: AlertProvider, where: str, data: Mapping[str, Any], key: str) -> str:
    """The key's value decoded and stripped; "" when the key is missing or empty."""
    encoded = data.get(key)
    if not encoded:
        return ""
    try:
        return base64.b64decode(str(encoded), validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise AlertConfigError(
            f"{provider_name(provider)}: key {key!r} of {where} is not base64-encoded UTF-8 "
            f"text ({error}); store the value under data, base64-encoded, or under stringData"
        ) from error


def _checked_address(provider: AlertProvider, address: str, source: str) -> str:
    parts = urlsplit(address)
    if parts.scheme not in _WEB_SCHEMES or not parts.hostname:
        raise AlertConfigError(
            f"{provider_name(provider)}: {source} is not an http(s) URL "
            f"({shown_address(address)}); set it to the service's webhook address, such as "
            "https://hooks.slack.com/services/..."
        )
    return address


def _checked_proxy(provider: AlertProvider) -> str | None:
    proxy = (provider.spec.proxy or "").strip()
    if not proxy:
        return None
    parts = urlsplit(proxy)
    if parts.scheme not in _PROXY_SCHEMES or not parts.hostname:
        raise AlertConfigError(
            f"{provider_name(provider)}: spec.proxy is not a proxy URL "
            f"({shown_address(proxy)}); set it like http://proxy.example:3128"
        )
    return proxy
