"""AlertSender against real HTTP servers on 127.0.0.1: the JSON arrives, a refusal names
its status, the token goes out as Flagger sends it, proxies are used, a dead address is
tried twice."""

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from canary_operator.alerts import (
    AlertDeliveryError,
    AlertMessage,
    AlertSender,
    AlertTarget,
    build_payload,
    request_headers,
)

MESSAGE = AlertMessage("podinfo", "test", "error", "Failed checks threshold reached 3",
                       (("request-success-rate", "87.20 < 99 (min)"),))


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Recorder:
    """What a test server answers, and every request it received (recorded before it
    answers, so a finished `send` has been recorded)."""

    status: int = 200
    answer: bytes = b"ok"
    received: list[Received] = field(default_factory=list)
    release: threading.Event | None = None


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def serve(recorder: Recorder) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            recorder.received.append(
                Received(self.command, self.path, dict(self.headers.items()), body))
            if recorder.release is not None:
                recorder.release.wait(timeout=10)
            self.send_response(recorder.status)
            self.send_header("Content-Length", str(len(recorder.answer)))
            self.end_headers()
            self.wfile.write(recorder.answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # shutdown() waits for the next poll: keep it short so each test ends at once.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        if recorder.release is not None:
            recorder.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def hook() -> Recorder:
    return Recorder()


@pytest.fixture
def hook_url(hook: Recorder) -> Iterator[str]:
    yield from serve(hook)


@pytest.fixture
async def sender() -> Any:
    async with AlertSender(timeout=2) as sending:
        yield sending


async def test_the_service_receives_the_payload_as_json(hook: Recorder, hook_url: str,
                                                        sender: AlertSender) -> None:
    payload = build_payload("slack", MESSAGE, channel="on-call", username="flagger")
    await sender.send(AlertTarget(f"{hook_url}/services/T0/B0/X"), "slack", payload)
    [received] = hook.received
    assert received.method == "POST"
    assert received.path == "/services/T0/B0/X"
    assert received.headers["Content-Type"] == "application/json"
    assert received.json() == payload
    assert "Authorization" not in received.headers


async def test_a_refusal_raises_naming_the_status_and_the_answer(
    hook: Recorder, hook_url: str, sender: AlertSender,
) -> None:
    hook.status, hook.answer = 400, b"invalid_payload\n"
    with pytest.raises(AlertDeliveryError) as raised:
        await sender.send(AlertTarget(f"{hook_url}/services/T0/B0/SECRET"), "slack", {})
    assert raised.value.status == 400
    assert str(raised.value) == (
        f"slack alert to {hook_url}/… was refused: HTTP 400: invalid_payload"
    )
    assert "SECRET" not in str(raised.value)


async def test_a_long_answer_is_cut_in_the_error(hook: Recorder, hook_url: str,
                                                 sender: AlertSender) -> None:
    hook.status, hook.answer = 503, b"x" * 5000
    with pytest.raises(AlertDeliveryError, match=r"HTTP 503: x{300}…$"):
        await sender.send(AlertTarget(hook_url), "webhook", {})


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_any_2xx_is_delivered(hook: Recorder, hook_url: str, sender: AlertSender,
                                    status: int) -> None:
    hook.status = status
    hook.answer = b"" if status == 204 else b"ok"
    await sender.send(AlertTarget(hook_url), "msteams", {"text": "hi"})
    assert len(hook.received) == 1


@pytest.mark.parametrize("provider_type", ["slack", "webhook"])
async def test_a_token_is_sent_as_a_bearer_token(hook: Recorder, hook_url: str,
                                                 sender: AlertSender, provider_type: Any) -> None:
    await sender.send(AlertTarget(hook_url, token="xoxb-123"), provider_type, {})
    assert hook.received[0].headers["Authorization"] == "Bearer xoxb-123"


@pytest.mark.parametrize("provider_type", ["msteams", "discord", "rocket", "gchat"])
async def test_services_authenticated_by_their_address_get_no_token_like_in_flagger(
    hook: Recorder, hook_url: str, sender: AlertSender, provider_type: Any,
) -> None:
    await sender.send(AlertTarget(hook_url, token="xoxb-123"), provider_type, {})
    assert "Authorization" not in hook.received[0].headers


def test_request_headers() -> None:
    assert request_headers("webhook", "t")["Authorization"] == "Bearer t"
    assert "Authorization" not in request_headers("webhook", None)
    assert "Authorization" not in request_headers("gchat", "t")
    assert request_headers("slack", None)["User-Agent"].startswith("canary-operator/")


async def test_a_proxy_receives_the_request_for_the_address(hook: Recorder, hook_url: str,
                                                            sender: AlertSender) -> None:
    target = AlertTarget("http://alerts.example.invalid/hooks/1", proxy=hook_url)
    await sender.send(target, "webhook", {"text": "via proxy"})
    [received] = hook.received
    assert received.path == "http://alerts.example.invalid/hooks/1"
    assert received.headers["Host"] == "alerts.example.invalid"
    assert received.json() == {"text": "via proxy"}


async def test_direct_and_proxied_targets_share_one_sender(hook: Recorder, hook_url: str,
                                                           sender: AlertSender) -> None:
    await sender.send(AlertTarget(f"{hook_url}/direct"), "webhook", {})
    await sender.send(AlertTarget("http://alerts.example.invalid/p", proxy=hook_url),
                      "webhook", {})
    await sender.send(AlertTarget(f"{hook_url}/direct"), "webhook", {})
    assert [r.path for r in hook.received] == [
        "/direct", "http://alerts.example.invalid/p", "/direct",
    ]


async def test_a_service_slower_than_the_timeout_raises_naming_the_timeout(
    hook: Recorder, hook_url: str,
) -> None:
    hook.release = threading.Event()
    async with AlertSender(timeout=0.3) as sender:
        with pytest.raises(AlertDeliveryError, match=r"no answer within 0.3s") as raised:
            await sender.send(AlertTarget(hook_url), "webhook", {})
    hook.release.set()
    assert raised.value.status is None
    assert len(hook.received) == 1  # sent once: a slow service is never sent it twice


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_an_address_nobody_listens_on_is_tried_twice_then_raises(
    sender: AlertSender,
) -> None:
    with pytest.raises(AlertDeliveryError, match=r"webhook alert to http://127.0.0.1:\d+ "
                       r"failed: cannot connect after 2 attempts") as raised:
        await sender.send(AlertTarget(f"http://127.0.0.1:{closed_port()}"), "webhook", {})
    assert raised.value.status is None


async def test_a_failed_connection_is_retried_once() -> None:
    attempts: list[httpx.Request] = []

    def connect_once_refused(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200)

    async with AlertSender(transport=httpx.MockTransport(connect_once_refused)) as sender:
        await sender.send(AlertTarget("https://hooks.slack.com/x"), "slack", {"a": 1})
    assert len(attempts) == 2
    assert json.loads(attempts[1].content) == {"a": 1}


async def test_aclose_closes_every_client(hook_url: str) -> None:
    sender = AlertSender()
    await sender.send(AlertTarget(hook_url), "webhook", {})
    await sender.send(AlertTarget("http://alerts.example.invalid/", proxy=hook_url),
                      "webhook", {})
    clients = list(sender._clients.values())
    assert len(clients) == 2
    await sender.aclose()
    assert all(client.is_closed for client in clients)
    assert repr(sender) == "AlertSender(timeout=5, clients=0)"
