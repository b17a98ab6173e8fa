"""Manual gates: the store's state machine and Flagger's gate routes over HTTP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from canary_operator.loadtester.gates import Gate, GateStore
from canary_operator.loadtester.server import Loadtester, start


def payload(name: str = "podinfo", namespace: str = "test") -> dict[str, object]:
    return {"name": name, "namespace": namespace, "phase": "Progressing",
            "checksum": "abc", "metadata": {}}


def test_gates_are_closed_until_opened_and_close_again() -> None:
    store = GateStore()
    assert not store.is_open(Gate.CONFIRM, "podinfo.test")
    store.open(Gate.CONFIRM, "podinfo.test")
    assert store.is_open(Gate.CONFIRM, "podinfo.test")
    store.open(Gate.CONFIRM, "podinfo.test")  # idempotent
    assert store.is_open(Gate.CONFIRM, "podinfo.test")
    store.close(Gate.CONFIRM, "podinfo.test")
    assert not store.is_open(Gate.CONFIRM, "podinfo.test")
    store.close(Gate.CONFIRM, "other.test")
    assert store.snapshot() == {"gate/other.test": False, "gate/podinfo.test": False}


def test_each_canary_and_each_kind_of_gate_is_its_own_switch() -> None:
    store = GateStore()
    store.open(Gate.CONFIRM, "podinfo.test")
    store.open(Gate.ROLLBACK, "podinfo.prod")
    assert store.is_open(Gate.CONFIRM, "podinfo.test")
    assert not store.is_open(Gate.ROLLBACK, "podinfo.test")
    assert not store.is_open(Gate.CONFIRM, "podinfo.prod")
    assert store.is_open(Gate.ROLLBACK, "podinfo.prod")
    assert not store.is_open(Gate.CONFIRM, "podinfo-test")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    runner, port = await start(Loadtester(namespace_pattern=re.compile("^team-|^test$")),
                               "127.0.0.1", 0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        yield client
    await runner.cleanup()


async def test_approve_and_halt_answer_the_same_to_everyone(http: httpx.AsyncClient) -> None:
    assert (await http.post("/gate/approve", json=payload())).status_code == 200
    assert (await http.post("/gate/approve")).status_code == 200
    assert (await http.get("/gate/approve")).status_code == 200
    assert (await http.post("/gate/halt", json=payload())).status_code == 403
    assert (await http.get("/healthz")).status_code == 200


@pytest.mark.parametrize("kind", ["gate", "rollback"])
async def test_check_follows_open_and_close(http: httpx.AsyncClient, kind: str) -> None:
    async def check() -> int:
        return (await http.post(f"/{kind}/check", json=payload())).status_code

    assert await check() == 403  # closed by default
    opened = await http.post(f"/{kind}/open", json=payload())
    assert opened.status_code == 202
    assert await check() == 200
    # Another canary, or the other kind of gate, is not opened with it.
    assert (await http.post(f"/{kind}/check", json=payload("other"))).status_code == 403
    other_kind = "rollback" if kind == "gate" else "gate"
    assert (await http.post(f"/{other_kind}/check", json=payload())).status_code == 403
    assert (await http.post(f"/{kind}/close", json=payload())).status_code == 202
    assert await check() == 403


async def test_a_person_s_short_payload_opens_the_gate(http: httpx.AsyncClient) -> None:
    # Flagger's docs: curl -d '{"name": "podinfo","namespace":"test"}' .../gate/open
    opened = await http.post("/gate/open", content='{"name": "podinfo","namespace":"test"}')
    assert opened.status_code == 202
    assert (await http.post("/gate/check", json=payload())).status_code == 200


@pytest.mark.parametrize(("body", "message"), [
    ('{"namespace": "test"}', "no `name` field"),
    ('{"name": "podinfo"}', "no `namespace` field"),
    ('{"name": "", "namespace": "test"}', "`name` must be a non-empty string"),
    ("not json", "not JSON"),
    ("", "body is empty"),
])
async def test_a_body_that_is_not_the_payload_is_refused(
    http: httpx.AsyncClient, body: str, message: str
) -> None:
    for path in ("/gate/check", "/gate/open", "/rollback/close", "/"):
        answer = await http.post(path, content=body)
        assert answer.status_code == 400, path
        assert message in answer.text, (path, answer.text)


async def test_namespaces_outside_the_pattern_are_forbidden(http: httpx.AsyncClient) -> None:
    assert (await http.post("/gate/open", json=payload(namespace="prod"))).status_code == 403
    assert (await http.post("/gate/open", json=payload(namespace="team-a"))).status_code == 202
    assert (await http.post("/gate/check", json=payload(namespace="team-a"))).status_code == 200


async def test_metrics_count_requests_by_endpoint_and_code(http: httpx.AsyncClient) -> None:
    await http.post("/gate/check", json=payload())
    await http.post("/gate/check", json=payload())
    await http.post("/gate/open", json=payload())
    await http.post("/gate/check", json=payload())
    await http.get("/no/such/path")
    answer = await http.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {
        (s.labels["endpoint"], s.labels["code"]): s.value
        for family in text_string_to_metric_families(answer.text)
        if family.name == "canary_loadtester_requests"
        for s in family.samples if s.name == "canary_loadtester_requests_total"
    }
    assert samples[("/gate/check", "403")] == 2
    assert samples[("/gate/check", "200")] == 1
    assert samples[("/gate/open", "202")] == 1
    assert samples[("unmatched", "404")] == 1
