"""Where an AlertProvider's alerts go: its address, Secret, token, proxy and Discord's
`/slack` endpoint; the Secret read runs against a local stand-in for the API server."""

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from kubernetes.aio.client import ApiClient, Configuration

from canary_operator.alerts import (
    AlertConfigError,
    AlertError,
    AlertTarget,
    delivery_address,
    resolve_target,
    shown_address,
    target_from_provider,
    target_from_secret,
)
from canary_operator.api.alert_provider import AlertProvider

SLACK = "https://hooks.slack.com/services/T000/B000/XXXX"
DISCORD = "https://discord.com/api/webhooks/123/abc"


def provider(**spec: Any) -> AlertProvider:
    return AlertProvider.model_validate({
        "metadata": {"name": "on-call", "namespace": "test"},
        "spec": {"type": "slack", **spec},
    })


def secret(**data: str) -> dict[str, Any]:
    return {"kind": "Secret", "data": {key: base64.b64encode(value.encode()).decode()
                                       for key, value in data.items()}}


@pytest.mark.parametrize(("address", "expected"), [
    (DISCORD, f"{DISCORD}/slack"),
    (f"{DISCORD}/", f"{DISCORD}/slack"),
    (f"{DISCORD}/slack", f"{DISCORD}/slack"),
    (f"{DISCORD}?wait=true", f"{DISCORD}/slack?wait=true"),
    ("https://discord.example", "https://discord.example/slack"),
])
def test_discord_is_posted_slack_format_at_its_slack_endpoint(address: str,
                                                              expected: str) -> None:
    assert delivery_address("discord", address) == expected


@pytest.mark.parametrize("provider_type", ["slack", "msteams", "rocket", "gchat", "webhook"])
def test_other_services_are_posted_at_their_address_as_given(provider_type: Any) -> None:
    assert delivery_address(provider_type, DISCORD) == DISCORD


def test_discord_address_from_the_spec_or_the_secret_gets_the_slack_endpoint() -> None:
    assert target_from_provider(provider(type="discord", address=DISCORD)).address == \
        f"{DISCORD}/slack"
    from_secret = target_from_secret(provider(type="discord", secretRef={"name": "hook"}),
                                     secret(address=DISCORD))
    assert from_secret.address == f"{DISCORD}/slack"


def test_the_spec_address_and_proxy_make_the_target() -> None:
    target = target_from_provider(provider(address=SLACK, proxy="http://proxy.corp:3128"))
    assert target == AlertTarget(SLACK, None, "http://proxy.corp:3128")


def test_the_secret_gives_the_address_and_the_token_decoded_and_stripped() -> None:
    target = target_from_secret(provider(secretRef={"name": "slack-url"}),
                                secret(address=f"{SLACK}\n", token="xoxb-123\n"))
    assert target == AlertTarget(SLACK, "xoxb-123", None)


def test_the_secrets_address_wins_over_the_spec_address_like_flagger() -> None:
    target = target_from_secret(
        provider(address="https://old.example/hook", secretRef={"name": "slack-url"}),
        secret(address=SLACK),
    )
    assert target.address == SLACK


def test_a_secret_without_address_falls_back_to_the_spec_address_keeping_its_token() -> None:
    target = target_from_secret(provider(address=SLACK, secretRef={"name": "slack-url"}),
                                secret(token="t0k"))
    assert target == AlertTarget(SLACK, "t0k", None)


def test_a_secret_without_address_names_the_provider_the_secret_the_key_and_the_fix() -> None:
    with pytest.raises(AlertConfigError) as raised:
        target_from_secret(provider(secretRef={"name": "slack-url"}), secret(token="t0k"))
    assert str(raised.value) == (
        "AlertProvider test/on-call: spec.secretRef names Secret test/slack-url which has no "
        "key 'address'; add it or set spec.address"
    )


def test_a_secret_without_data_has_no_address() -> None:
    with pytest.raises(AlertConfigError, match="has no key 'address'"):
        target_from_secret(provider(secretRef={"name": "slack-url"}), {"kind": "Secret"})


def test_a_value_that_is_not_base64_is_named_with_its_key() -> None:
    body = {"data": {"address": "https://not-base64!"}}
    with pytest.raises(AlertConfigError, match="AlertProvider test/on-call: key 'address' of "
                       "Secret test/slack-url is not base64-encoded UTF-8 text"):
        target_from_secret(provider(secretRef={"name": "slack-url"}), body)


def test_an_address_that_is_not_a_url_is_refused_without_showing_the_secret() -> None:
    with pytest.raises(AlertConfigError) as raised:
        target_from_secret(provider(secretRef={"name": "slack-url"}),
                           secret(address="hooks.slack.com/services/T000/B000/XXXX"))
    message = str(raised.value)
    assert message.startswith("AlertProvider test/on-call: key 'address' of Secret "
                              "test/slack-url is not an http(s) URL")
    assert "XXXX" not in message


def test_a_spec_address_that_is_not_a_url_names_the_field() -> None:
    with pytest.raises(AlertConfigError, match=r"on-call: spec.address is not an http\(s\) URL"):
        target_from_provider(provider(address="ftp://files.example/x"))


def test_a_provider_with_neither_address_nor_secret_says_what_to_set() -> None:
    with pytest.raises(AlertConfigError, match=r"AlertProvider test/on-call: neither "
                       r"spec\.address nor spec\.secretRef is set; set spec\.address"):
        target_from_provider(provider())


def test_a_proxy_that_is_not_a_url_names_the_field() -> None:
    with pytest.raises(AlertConfigError, match=r"on-call: spec\.proxy is not a proxy URL"):
        target_from_provider(provider(address=SLACK, proxy="proxy.corp:3128"))


def test_a_target_never_shows_its_webhook_path_or_token() -> None:
    shown = repr(AlertTarget(SLACK, "xoxb-secret", "http://user:pw@proxy.corp:3128"))
    assert "XXXX" not in shown
    assert "xoxb-secret" not in shown
    assert "pw" not in shown
    assert "hooks.slack.com" in shown
    assert shown_address(SLACK) == "https://hooks.slack.com/…"
    assert shown_address("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert shown_address("not a url") == "<not a URL>"


# resolve_target against a local stand-in for the API server's Secret endpoint.


@dataclass
class FakeApiServer:
    """Answers GET /api/v1/namespaces/{ns}/secrets/{name} from `answers`; 404 otherwise."""

    answers: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(f"{request.method} {request.path}")
        key = f"{request.match_info['namespace']}/{request.match_info['name']}"
        status, body = self.answers.get(key, (404, {"kind": "Status", "reason": "NotFound"}))
        return web.json_response(body, status=status)


@pytest.fixture
async def api_server() -> AsyncIterator[tuple[FakeApiServer, ApiClient]]:
    fake = FakeApiServer()
    app = web.Application()
    app.router.add_get("/api/v1/namespaces/{namespace}/secrets/{name}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    configuration = Configuration(host=f"http://{host}:{port}")
    api = ApiClient(configuration=configuration)
    try:
        yield fake, api
    finally:
        await api.close()  # type: ignore[no-untyped-call]
        await runner.cleanup()


async def test_resolve_reads_the_secret_once_in_the_providers_namespace(
    api_server: tuple[FakeApiServer, ApiClient],
) -> None:
    fake, api = api_server
    fake.answers["test/slack-url"] = (200, secret(address=SLACK, token="xoxb-1"))
    target = await resolve_target(api, provider(secretRef={"name": "slack-url"}))
    assert target == AlertTarget(SLACK, "xoxb-1", None)
    assert fake.requests == ["GET /api/v1/namespaces/test/secrets/slack-url"]


async def test_resolve_without_a_secret_needs_no_api() -> None:
    assert await resolve_target(None, provider(address=SLACK)) == AlertTarget(SLACK)


async def test_resolve_names_a_missing_secret_and_the_fix(
    api_server: tuple[FakeApiServer, ApiClient],
) -> None:
    _, api = api_server
    with pytest.raises(AlertConfigError) as raised:
        await resolve_target(api, provider(secretRef={"name": "slack-url"}))
    assert str(raised.value) == (
        "AlertProvider test/on-call: spec.secretRef names Secret test/slack-url which does "
        "not exist; create it with an 'address' key (and optionally 'token') or set "
        "spec.address"
    )


async def test_resolve_explains_a_forbidden_secret(
    api_server: tuple[FakeApiServer, ApiClient],
) -> None:
    fake, api = api_server
    fake.answers["test/slack-url"] = (403, {"kind": "Status", "reason": "Forbidden"})
    with pytest.raises(AlertConfigError) as raised:
        await resolve_target(api, provider(secretRef={"name": "slack-url"}))
    assert str(raised.value) == (
        "AlertProvider test/on-call: the operator may not read Secret test/slack-url "
        "(HTTP 403); grant its ServiceAccount get on secrets in namespace test, or set "
        "spec.address instead of spec.secretRef"
    )


async def test_resolve_reports_other_api_failures_with_their_status(
    api_server: tuple[FakeApiServer, ApiClient],
) -> None:
    fake, api = api_server
    fake.answers["test/slack-url"] = (500, {"kind": "Status"})
    with pytest.raises(AlertError, match="on-call: reading Secret test/slack-url failed: "
                       "HTTP 500") as raised:
        await resolve_target(api, provider(secretRef={"name": "slack-url"}))
    assert not isinstance(raised.value, AlertConfigError)


async def test_resolve_names_an_address_missing_from_the_secret(
    api_server: tuple[FakeApiServer, ApiClient],
) -> None:
    fake, api = api_server
    fake.answers["test/slack-url"] = (200, secret(token="t"))
    with pytest.raises(AlertConfigError, match=r"has no key 'address'; add it or set "
                       r"spec\.address"):
        await resolve_target(api, provider(secretRef={"name": "slack-url"}))


async def test_resolve_with_a_secret_ref_and_no_api_says_so() -> None:
    with pytest.raises(AlertConfigError, match="no API client was given"):
        await resolve_target(None, provider(secretRef={"name": "slack-url"}))
