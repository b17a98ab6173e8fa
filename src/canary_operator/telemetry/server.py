"""`/metrics` and `/healthz` over HTTP, in the operator's event loop."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from canary_operator.telemetry.recorder import Telemetry


@dataclass
class MetricsEndpoint:
    """A running metrics server: where it listens, and how to stop it."""

    host: str
    port: int
    _runner: web.AppRunner = field(repr=False)

    @property
    def url(self) -> str:
        """The `/metrics` URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    async def stop(self) -> None:
        """Close the listening socket and any open connection."""
        await self._runner.cleanup()


async def serve_metrics(telemetry: Telemetry, host: str, port: int) -> MetricsEndpoint:
    """Serve `/metrics` (the text or OpenMetrics format, as the scraper asks) and
    `/healthz` on `host` only, in the running event loop; port 0 picks a free port."""

    async def metrics(request: web.Request) -> web.Response:
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(telemetry.registry),
                            headers={"Content-Type": content_type})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
    except BaseException:
        await runner.cleanup()
        sock.close()
        raise
    return MetricsEndpoint(host=host, port=int(sock.getsockname()[1]), _runner=runner)
