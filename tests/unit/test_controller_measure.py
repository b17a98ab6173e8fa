"""The Measurer tells a metric's configuration errors from outages: a missing, invalid or
unsupported MetricTemplate is `invalid` (a failed check), asked of no provider."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from canary_operator.api import Canary
from canary_operator.controller.observing import Measurer


class Templates:
    def __init__(self, **templates: dict[str, Any]) -> None:
        self.templates = templates

    def metric_template(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.templates.get(name)


def canary(*metrics: dict[str, Any]) -> Canary:
    return Canary.model_validate({
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "name": "podinfo"},
                 "service": {"port": 9898},
                 "analysis": {"interval": "1m", "metrics": list(metrics)}},
    })


def template(provider: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "t", "namespace": "test"},
            "spec": {"provider": {"type": provider}, **spec}}


async def test_template_errors_are_invalid_and_query_nobody() -> None:
    measurer = Measurer("http://127.0.0.1:9", timeout=0.1)  # nothing listens there
    view = Templates(datadog=template("datadog", query="avg:errors{*}"),
                     broken=template("prometheus"))
    try:
        measured = await measurer.measure(canary(
            {"name": "a", "templateRef": {"name": "missing"}},
            {"name": "b", "templateRef": {"name": "datadog"}},
            {"name": "c", "templateRef": {"name": "broken"}},
        ), view)  # type: ignore[arg-type]
    finally:
        await measurer.aclose()
    assert [(m.name, m.invalid, m.value) for m in measured] == [
        ("a", True, None), ("b", True, None), ("c", True, None)]
    assert measured[0].error == (
        "Canary test/podinfo: metric 'a': MetricTemplate test/missing named by templateRef "
        "was not found; create it or fix analysis.metrics[].templateRef")
    assert measured[1].error == (
        "MetricTemplate test/t: provider type 'datadog' is not supported; supported: "
        "prometheus")
    assert measured[2].error is not None
    assert measured[2].error.startswith("MetricTemplate test/broken: spec.query")


async def test_an_unreachable_prometheus_is_an_outage_not_invalid() -> None:
    measurer = Measurer("http://127.0.0.1:9", timeout=0.5)
    try:
        (result,) = await measurer.measure(canary(
            {"name": "q", "query": "sum(up)"}), Templates())  # type: ignore[arg-type]
    finally:
        await measurer.aclose()
    assert result.error is not None and "cannot connect to Prometheus" in result.error
    assert result.invalid is False


async def test_a_template_s_headers_go_with_its_queries() -> None:
    seen: list[dict[str, str]] = []

    async def query(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"status": "success", "data": {
            "resultType": "vector", "result": [{"metric": {}, "value": [0, "42"]}]}})

    app = web.Application()
    app.router.add_get("/api/v1/query", query)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    address = f"http://127.0.0.1:{port}"
    measurer = Measurer("http://127.0.0.1:9", timeout=2)
    view = Templates(tenant={"metadata": {"name": "tenant", "namespace": "test"}, "spec": {
        "provider": {"type": "prometheus", "address": address,
                     "headers": {"X-Scope-OrgID": ["team-a", "team-b"]}},
        "query": "sum(up)"}})
    try:
        (result,) = await measurer.measure(canary(
            {"name": "up", "templateRef": {"name": "tenant"}}), view)  # type: ignore[arg-type]
    finally:
        await measurer.aclose()
        await runner.cleanup()
    assert (result.value, result.error) == (42.0, None)
    assert seen[0]["X-Scope-OrgID"] == "team-a, team-b"
