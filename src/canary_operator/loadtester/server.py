"""The load tester's HTTP API (aiohttp), with the routes of Flagger's loadtester.

    /gate/approve    always 200            /gate/halt        always 403
    /gate/check      200 open, 403 closed  /gate/open, /gate/close        202
    /rollback/check  200 open, 403 closed  /rollback/open, /rollback/close 202
    /                run the task in the payload's metadata (see `tasks`)
    /healthz         200                   /metrics          Prometheus exposition

Gates are keyed by `<name>.<namespace>` of the payload and closed until opened. With a
namespace pattern, payloads of other namespaces are refused with 403 (Flagger's
`-namespace-regexp`: a search, not a full match).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from canary_operator.loadtester.gates import Gate, GateStore
from canary_operator.loadtester.metrics import CONTENT_TYPE, LoadtesterMetrics
from canary_operator.loadtester.payload import PayloadError, WebhookPayload, parse_payload
from canary_operator.loadtester.runner import TaskRunner
from canary_operator.loadtester.tasks import TaskError, task_request

log = logging.getLogger("canary_operator.loadtester")
DEFAULT_TIMEOUT = 3600.0  # Flagger's -timeout default: 1h
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Loadtester:
    """The state behind the API: gates, the task runner, counters and the namespace rule."""

    timeout: float = DEFAULT_TIMEOUT
    namespace_pattern: re.Pattern[str] | None = None
    gates: GateStore = field(default_factory=GateStore)
    metrics: LoadtesterMetrics = field(default_factory=LoadtesterMetrics)
    runner: TaskRunner = field(init=False)

    def __post_init__(self) -> None:
        self.runner = TaskRunner(self.timeout, self.metrics)

    def authorized(self, payload: WebhookPayload) -> bool:
        pattern = self.namespace_pattern
        return pattern is None or pattern.search(payload.namespace) is not None


LOADTESTER = web.AppKey("loadtester", Loadtester)


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n")


async def _payload(request: web.Request) -> WebhookPayload:
    """The request's payload; raises the 400 or 403 answer when there is none to use."""
    try:
        payload = parse_payload(await request.read())
    except PayloadError as error:
        raise web.HTTPBadRequest(text=f"{error}\n") from None
    if not request.app[LOADTESTER].authorized(payload):
        raise web.HTTPForbidden(text=f"namespace {payload.namespace} is not served here\n")
    return payload


async def approve(_: web.Request) -> web.Response:
    return _text(200, "Approved")


async def halt(_: web.Request) -> web.Response:
    return _text(403, "Forbidden")


async def healthz(_: web.Request) -> web.Response:
    return _text(200, "OK")


async def metrics(request: web.Request) -> web.Response:
    body = request.app[LOADTESTER].metrics.render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


def _check(gate: Gate) -> Handler:
    async def check(request: web.Request) -> web.Response:
        payload = await _payload(request)
        is_open = request.app[LOADTESTER].gates.is_open(gate, payload.canary)
        log.info("%s %s check: approved %s", payload.canary, gate.value, is_open)
        return _text(200, "Approved") if is_open else _text(403, "Forbidden")

    return check


def _switch(gate: Gate, open_it: bool) -> Handler:
    async def switch(request: web.Request) -> web.Response:
        payload = await _payload(request)
        gates = request.app[LOADTESTER].gates
        (gates.open if open_it else gates.close)(gate, payload.canary)
        state = "opened" if open_it else "closed"
        log.info("%s %s %s", payload.canary, gate.value, state)
        return _text(202, f"{payload.canary} {gate.value} {state}")

    return switch


async def run_task(request: web.Request) -> web.Response:
    payload = await _payload(request)
    try:
        wanted = task_request(payload)
    except TaskError as error:
        return _text(400, str(error))
    runner = request.app[LOADTESTER].runner
    if wanted.blocking:
        result = await runner.run(wanted.task)
        if not result.ok:
            return _text(500, result.tail())
        return web.Response(status=200, text=result.output if wanted.return_output else "")
    if runner.start(wanted.task):
        return _text(202, f"started {wanted.task.command}")
    return _text(202, f"already running {wanted.task.command}")


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count each answer by route (not by raw path: unknown paths are one label)."""
    route = request.match_info.route.resource
    endpoint = route.canonical if route is not None else "unmatched"
    counter = request.app[LOADTESTER].metrics.requests
    try:
        response = await handler(request)
    except web.HTTPException as error:
        counter.labels(endpoint, str(error.status)).inc()
        raise
    counter.labels(endpoint, str(response.status)).inc()
    return response


def build_app(loadtester: Loadtester) -> web.Application:
    app = web.Application(middlewares=[count_requests])
    app[LOADTESTER] = loadtester
    app.router.add_route("*", "/gate/approve", approve)
    app.router.add_route("*", "/gate/halt", halt)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    for gate in Gate:
        app.router.add_post(f"/{gate.value}/check", _check(gate))
        app.router.add_post(f"/{gate.value}/open", _switch(gate, open_it=True))
        app.router.add_post(f"/{gate.value}/close", _switch(gate, open_it=False))
    app.router.add_post("/", run_task)

    async def stop_tasks(app: web.Application) -> None:
        await app[LOADTESTER].runner.shutdown()

    app.on_shutdown.append(stop_tasks)
    return app


async def start(loadtester: Loadtester, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `loadtester` on host:port (0: a free port); return the runner and the port."""
    runner = web.AppRunner(build_app(loadtester), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return runner, int(bound)


async def serve(loadtester: Loadtester, host: str, port: int,
                say: Callable[[str], None] = log.info) -> None:
    """Serve until SIGTERM or SIGINT, then stop the running tasks and return."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner, bound = await start(loadtester, host, port)
    try:
        say(f"load tester serving http://{host}:{bound}/ (tasks time out after "
            f"{loadtester.timeout:g}s); SIGTERM or Ctrl-C to stop")
        await stop.wait()
    finally:
        await runner.cleanup()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
