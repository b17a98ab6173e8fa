"""A local HTTP server standing in for webhook and alert receivers: it records every
JSON POST and answers each path with the status the test sets, after running what the
test asked to run on the next call of that path (a change to the world mid-tick)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


class HookServer:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.statuses: dict[str, int] = {}
        self._once: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"raw": raw.decode(errors="replace")}
                with server._lock:
                    server.received.append(Received(self.path, body, dict(self.headers)))
                    status = server.statuses.get(self.path, 200)
                    then = server._once.pop(self.path, None)
                if then is not None:
                    then()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HookServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def answer(self, path: str, status: int) -> None:
        with self._lock:
            self.statuses[path] = status

    def on_next_call(self, path: str, then: Callable[[], None]) -> None:
        """Run `then` when `path` is next called, before answering."""
        with self._lock:
            self._once[path] = then

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r.body for r in self.received if r.path == path]
