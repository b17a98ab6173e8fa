"""Tasks from metadata (Flagger's types and modes), the runner's duplicate rule and
timeout, the built-in hey's pacing, and the task route over HTTP."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from canary_operator.loadtester.hey import parse_hey
from canary_operator.loadtester.loadgen import generate_load
from canary_operator.loadtester.payload import WebhookPayload
from canary_operator.loadtester.runner import TaskRunner
from canary_operator.loadtester.server import Loadtester, start
from canary_operator.loadtester.tasks import (
    HeyTask,
    ShellTask,
    TaskError,
    TaskResult,
    task_request,
)

URL = "http://podinfo-canary.test:9898/"


def hook(metadata: dict[str, str], name: str = "podinfo") -> WebhookPayload:
    return WebhookPayload(name, "test", "Progressing", "c1", metadata)


# --- metadata -> task ------------------------------------------------------------------

def test_cmd_is_the_default_and_runs_in_the_background() -> None:
    wanted = task_request(hook({"cmd": f"hey -z 1m -q 10 -c 2 {URL}"}))
    assert not wanted.blocking
    assert isinstance(wanted.task, HeyTask)
    assert wanted.task.canary == "podinfo.test"
    assert not wanted.task.log_output
    assert wanted.task.options.duration == 60


def test_bash_is_blocking_and_always_logs() -> None:
    wanted = task_request(hook({"type": "bash", "cmd": "curl -s http://x/",
                                "returnCmdOutput": "true"}))
    assert wanted.blocking and wanted.return_output
    assert wanted.task == ShellTask("podinfo.test", "curl -s http://x/", "bash", True)


def test_a_cmd_that_is_not_hey_runs_through_sh() -> None:
    wanted = task_request(hook({"type": "cmd", "cmd": "ghz --insecure podinfo.test:9898",
                                "logCmdOutput": "true"}))
    assert wanted.task == ShellTask("podinfo.test", "ghz --insecure podinfo.test:9898",
                                    "sh", True)


@pytest.mark.parametrize(("metadata", "message"), [
    ({}, "metadata not found in payload"),
    ({"type": "cmd"}, "cmd not found in metadata"),
    ({"type": "bash", "cmd": "  "}, "cmd not found in metadata"),
    ({"type": "helmv3", "cmd": "test podinfo"}, "task type helmv3 is not supported; use cmd"),
    ({"type": "kubectl", "cmd": "get pods"}, "task type kubectl is not supported; use cmd"),
    ({"type": "ngrinder", "server": "http://n"}, "task type ngrinder is not supported"),
    ({"type": "concord"}, "task type concord is not supported"),
    ({"type": "k6", "cmd": "x"}, "unknown task type k6"),
    ({"cmd": f"hey -n 1 -c 2 {URL}"}, "-n cannot be less than -c"),
])
def test_what_cannot_run_is_refused(metadata: dict[str, str], message: str) -> None:
    with pytest.raises(TaskError, match=message):
        task_request(hook(metadata))


# --- the runner ------------------------------------------------------------------------

class Gated:
    """A task that runs until released."""

    kind = "shell"
    log_output = False

    def __init__(self, canary: str, command: str) -> None:
        self.canary, self.command = canary, command
        self.release = asyncio.Event()
        self.runs = 0

    async def run(self) -> TaskResult:
        self.runs += 1
        await self.release.wait()
        return TaskResult(True, "done")


async def test_the_same_command_for_the_same_canary_is_not_started_twice() -> None:
    runner = TaskRunner(timeout=30)
    first = Gated("podinfo.test", "hey -z 1m http://x/")
    assert runner.start(first)
    assert not runner.start(first)
    assert not runner.start(Gated("podinfo.test", "hey -z 1m http://x/"))
    other_canary = Gated("other.test", "hey -z 1m http://x/")
    other_command = Gated("podinfo.test", "hey -z 2m http://x/")
    assert runner.start(other_canary) and runner.start(other_command)
    assert sorted(runner.running()) == sorted([
        ("podinfo.test", "hey -z 1m http://x/"), ("other.test", "hey -z 1m http://x/"),
        ("podinfo.test", "hey -z 2m http://x/")])
    for task in (first, other_canary, other_command):
        task.release.set()
    await runner.wait()
    assert runner.running() == []
    # Once it has ended, the same command starts again.
    again = Gated("podinfo.test", "hey -z 1m http://x/")
    again.release.set()
    assert runner.start(again)
    await runner.wait()
    assert (first.runs, again.runs, runner.executions) == (1, 1, 4)
    samples = {sample.labels["outcome"]: sample.value
               for family in runner.metrics.registry.collect() for sample in family.samples
               if sample.name == "canary_loadtester_tasks_total"}
    assert samples == {"succeeded": 4, "skipped": 2}


async def test_a_task_is_stopped_at_the_timeout() -> None:
    runner = TaskRunner(timeout=0.3)
    result = await runner.run(ShellTask("podinfo.test", "sleep 30"))
    assert not result.ok
    assert "timed out after 0.3s" in result.output


async def test_shutdown_kills_the_subprocesses(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    runner = TaskRunner(timeout=60)
    assert runner.start(ShellTask("podinfo.test", f"sleep 60 & echo $! > {pid_file}; wait"))
    deadline = time.monotonic() + 10
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the command never started"
        await asyncio.sleep(0.02)
    child = int(pid_file.read_text())
    await runner.shutdown()
    assert runner.running() == []
    deadline = time.monotonic() + 5
    while _alive(child):
        assert time.monotonic() < deadline, f"pid {child} survived the shutdown"
        await asyncio.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and (
        Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z")


# --- the built-in hey ------------------------------------------------------------------

class Recorder:
    """A mock transport that counts what it receives."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, text="ok")


async def test_n_is_split_over_the_workers_like_hey() -> None:
    recorder = Recorder()
    options = parse_hey(f"hey -n 10 -c 3 -m POST -d payload -H 'X-Test: yes' "
                        f"-host app.example.com {URL}")
    report = await generate_load(options, httpx.MockTransport(recorder))
    assert len(recorder.requests) == 9 == report.sent  # 10 // 3 per worker
    request = recorder.requests[0]
    assert (request.method, str(request.url), request.content) == ("POST", URL, b"payload")
    assert request.headers["x-test"] == "yes"
    assert request.headers["host"] == "app.example.com"
    assert request.headers["content-type"] == "text/html"
    assert report.statuses == {200: 9}
    assert "[200]\t9 responses" in report.summary()


async def test_rate_and_duration_pace_the_load() -> None:
    recorder = Recorder(status=503)
    options = parse_hey(f"hey -z 1s -q 20 -c 2 {URL}")
    t0 = time.monotonic()
    report = await generate_load(options, httpx.MockTransport(recorder))
    elapsed = time.monotonic() - t0
    expected = 20 * 2 * 1  # rate x workers x seconds
    assert 0.8 * expected <= len(recorder.requests) <= expected, len(recorder.requests)
    assert 0.95 <= elapsed < 2.0
    assert report.statuses == {503: len(recorder.requests)}


async def test_errors_are_counted_not_raised() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    report = await generate_load(parse_hey(f"hey -n 4 -c 2 {URL}"),
                                 httpx.MockTransport(refuse))
    assert report.sent == 4 and not report.statuses
    (text,) = report.errors
    assert "ConnectError: connection refused" in text
    assert "Error distribution:" in report.summary()


# --- over HTTP -------------------------------------------------------------------------

@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    runner, port = await start(Loadtester(timeout=20), "127.0.0.1", 0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client
    await runner.cleanup()


def body(metadata: dict[str, str]) -> dict[str, object]:
    return {"name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "c",
            "metadata": metadata}


async def test_a_blocking_task_answers_200_with_its_output_when_asked(
    http: httpx.AsyncClient,
) -> None:
    quiet = await http.post("/", json=body({"type": "bash", "cmd": "echo smoke ok"}))
    assert (quiet.status_code, quiet.text) == (200, "")
    loud = await http.post("/", json=body({"type": "bash", "cmd": "echo smoke ok",
                                           "returnCmdOutput": "true"}))
    assert (loud.status_code, loud.text) == (200, "smoke ok\n")


async def test_a_failed_blocking_task_answers_500_with_the_tail(
    http: httpx.AsyncClient,
) -> None:
    answer = await http.post("/", json=body({
        "type": "bash", "cmd": "for i in $(seq 1 3000); do echo line $i; done; exit 3"}))
    assert answer.status_code == 500
    assert answer.text.startswith("...")  # the tail: the start of the output is cut
    assert answer.text.rstrip().endswith("line 3000")
    assert len(answer.text) < 4100


async def test_a_background_task_answers_at_once_and_is_not_doubled(
    http: httpx.AsyncClient, tmp_path: Path,
) -> None:
    marker = tmp_path / "runs"
    command = f"echo run >> {marker}; sleep 30"
    first = await http.post("/", json=body({"cmd": command}))
    second = await http.post("/", json=body({"cmd": command}))
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.text.startswith("started") and second.text.startswith("already running")
    deadline = time.monotonic() + 10
    while not marker.exists():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert marker.read_text() == "run\n"


async def test_unsupported_types_are_400(http: httpx.AsyncClient) -> None:
    answer = await http.post("/", json=body({"type": "helmv3", "cmd": "test podinfo"}))
    assert (answer.status_code, answer.text.strip()) == (
        400, "task type helmv3 is not supported; use cmd")
    no_metadata = await http.post("/", json=body({}))
    assert (no_metadata.status_code, no_metadata.text.strip()) == (
        400, "metadata not found in payload")
