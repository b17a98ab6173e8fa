"""The load tester as the lab runs it: a real process on 127.0.0.1, its gates over HTTP,
and hey load that a local server counts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from canary_operator.lab import Lab
from canary_operator.lab.processes import wait_for


@pytest.fixture(scope="module")
def loadtester(lab: Lab) -> Iterator[str]:
    url = lab.start_loadtester()
    try:
        yield url
    finally:
        lab.stop_loadtester()


@dataclass
class Target:
    """A local HTTP server that counts the requests it answers."""

    url: str
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return len(self.requests)


@pytest.fixture
def target() -> Iterator[Target]:
    served = Target("")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            with served.lock:
                served.requests.append((self.command, self.path, dict(self.headers)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield served
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def payload(name: str, metadata: dict[str, str] | None = None) -> dict[str, object]:
    return {"name": name, "namespace": "lab", "phase": "Progressing", "checksum": "c1",
            "metadata": metadata or {}}


def tasks_done(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "canary_loadtester_tasks_total"
               and sample.labels["kind"] == "hey"
               and sample.labels["outcome"] in {"succeeded", "failed"})


def test_the_lab_records_the_running_load_tester(lab: Lab, loadtester: str) -> None:
    assert lab.state.loadtester_url == loadtester
    assert loadtester.startswith("http://127.0.0.1:")
    assert lab.status()["loadtester"] is True
    assert httpx.get(f"{loadtester}/healthz", timeout=5).status_code == 200


def test_gates_open_and_close_over_http(loadtester: str) -> None:
    def status(path: str, name: str = "gated") -> int:
        return httpx.post(f"{loadtester}{path}", json=payload(name), timeout=5).status_code

    assert status("/gate/approve") == 200
    assert status("/gate/halt") == 403
    assert status("/gate/check") == 403
    assert status("/gate/open") == 202
    assert status("/gate/check") == 200
    assert status("/gate/check", "another") == 403
    assert status("/rollback/check") == 403
    assert status("/gate/close") == 202
    assert status("/gate/check") == 403
    assert status("/rollback/open") == 202
    assert status("/rollback/check") == 200
    assert status("/rollback/close") == 202
    assert status("/rollback/check") == 403
    bad = httpx.post(f"{loadtester}/gate/open", json={"namespace": "lab"}, timeout=5)
    assert (bad.status_code, "`name`" in bad.text) == (400, True)


def test_hey_sends_about_rate_times_workers_times_duration_once(
    loadtester: str, target: Target,
) -> None:
    rate, workers, seconds = 10, 2, 3
    command = f"hey -z {seconds}s -q {rate} -c {workers} -m POST -d ping {target.url}/load"
    before = tasks_done(loadtester)
    first = httpx.post(loadtester + "/", json=payload("hey", {"cmd": command}), timeout=5)
    assert first.status_code == 202, first.text  # answered at once: the load is in the background
    assert first.text.startswith("started")
    # The analysis calls the hook on every tick: the running load is not started again.
    again = httpx.post(loadtester + "/", json=payload("hey", {"cmd": command}), timeout=5)
    assert (again.status_code, again.text.startswith("already running")) == (202, True)

    wait_for(lambda: tasks_done(loadtester) > before, "the hey task to end", seconds + 30)
    expected = rate * workers * seconds
    received = target.count()
    assert 0.8 * expected <= received <= expected, (received, expected)
    assert {(method, path) for method, path, _ in target.requests} == {("POST", "/load")}
    assert target.requests[0][2]["User-Agent"].startswith("hey/")


def test_a_blocking_task_answers_with_its_verdict(loadtester: str, target: Target) -> None:
    passed = httpx.post(loadtester + "/", timeout=30, json=payload("smoke", {
        "type": "bash", "cmd": f"hey -n 5 -c 1 {target.url}/smoke", "returnCmdOutput": "true"}))
    assert passed.status_code == 200
    assert "[200]\t5 responses" in passed.text
    assert target.count() == 5
    failed = httpx.post(loadtester + "/", timeout=30, json=payload("smoke", {
        "type": "bash", "cmd": "echo the smoke test found a problem; exit 1"}))
    assert failed.status_code == 500
    assert "the smoke test found a problem" in failed.text


def test_stopping_the_load_tester_forgets_it(lab: Lab, loadtester: str) -> None:
    # Last in the module: it stops the module's load tester (stopping twice is harmless).
    url = loadtester
    lab.stop_loadtester()
    assert lab.state.loadtester_url is None
    assert "loadtester" not in lab.status()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/healthz", timeout=2)
