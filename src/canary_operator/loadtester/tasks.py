"""The tasks a webhook's `metadata` asks for, as Flagger's load tester reads it.

- `type: cmd` (the default): a background task. The hook is answered 202 at once and the
  command runs until it ends or the load tester's timeout; while it runs, the same command
  for the same canary is not started again (Flagger keys running tasks by canary and
  command), so a webhook called on every analysis tick keeps one load running.
- `type: bash`: a blocking task (Flagger's one-shot: smoke and acceptance tests). The hook
  is answered when it ends: 200 when it succeeded (with its output when the metadata says
  `returnCmdOutput: "true"`), 500 with the tail of its output when it failed.

A command whose program is `hey` is run by the built-in load generator (`loadgen`), in
either mode; any other command runs as a subprocess, `sh -c CMD` for `cmd` and
`bash -c CMD` for `bash`, exactly as Flagger runs them, with the load tester's user and
environment. `logCmdOutput: "true"` logs a `cmd` task's output; `bash` output is always
logged (as in Flagger).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from canary_operator.loadtester.hey import HeyError, HeyOptions, is_hey_command, parse_hey
from canary_operator.loadtester.loadgen import generate_load
from canary_operator.loadtester.payload import WebhookPayload

BACKGROUND = "cmd"
BLOCKING = "bash"
# Flagger's other task types: they need helm, kubectl or a remote service.
UNSUPPORTED = ("helm", "helmv3", "kubectl", "concord", "ngrinder")
OUTPUT_TAIL = 4000


class TaskError(ValueError):
    """The metadata asks for a task that cannot be run; the message says why (HTTP 400)."""


@dataclass(frozen=True)
class TaskResult:
    ok: bool
    output: str

    def tail(self, limit: int = OUTPUT_TAIL) -> str:
        return self.output if len(self.output) <= limit else "..." + self.output[-limit:]


class Task(Protocol):
    """Something to run for a canary; `key` identifies it among the running ones."""

    @property
    def canary(self) -> str: ...

    @property
    def command(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def log_output(self) -> bool: ...

    async def run(self) -> TaskResult: ...


def task_key(task: Task) -> tuple[str, str]:
    return task.canary, task.command


@dataclass(frozen=True)
class HeyTask:
    """`hey ...`, run by the built-in generator: it succeeds once the load is sent."""

    canary: str
    command: str
    options: HeyOptions
    log_output: bool = False
    kind: str = "hey"

    async def run(self) -> TaskResult:
        try:
            report = await generate_load(self.options)
        except OSError as error:  # e.g. -D names a file that is not there
            return TaskResult(False, f"hey: {error}")
        output = report.summary()
        if self.options.ignored:
            output += f"\n(ignored by the built-in hey: {' '.join(self.options.ignored)})\n"
        return TaskResult(True, output)


@dataclass(frozen=True)
class ShellTask:
    """A command run by `shell -c`; cancelling it kills its whole process group."""

    canary: str
    command: str
    shell: str = "sh"
    log_output: bool = False
    kind: str = "shell"

    async def run(self) -> TaskResult:
        starting = asyncio.ensure_future(asyncio.create_subprocess_exec(
            self.shell, "-c", self.command, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        ))
        try:
            # Shielded: a cancel that comes while the process is being started must still
            # find the process to kill (on a busy machine it may already be running).
            process = await asyncio.shield(starting)
        except asyncio.CancelledError:
            await _kill_group(await starting)
            raise
        try:
            out, _ = await process.communicate()
        except asyncio.CancelledError:
            await _kill_group(process)
            raise
        text = out.decode(errors="replace")
        if process.returncode != 0:
            return TaskResult(False, f"command {self.command!r} failed "
                                     f"(exit status {process.returncode}): {text}")
        return TaskResult(True, text)


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


@dataclass(frozen=True)
class TaskRequest:
    """A task and how the hook wants it run."""

    task: Task
    blocking: bool
    return_output: bool = False


def _flag(metadata: Mapping[str, str], key: str) -> bool:
    """A boolean metadata value, read like Go's strconv.ParseBool (anything else: false)."""
    return metadata.get(key, "").strip().lower() in {"1", "t", "true"}


def task_request(payload: WebhookPayload) -> TaskRequest:
    """The task `payload.metadata` asks for; `TaskError` when there is none to run."""
    metadata = dict(payload.metadata)
    if not metadata:
        raise TaskError("metadata not found in payload")
    kind = metadata.get("type") or BACKGROUND
    if kind in UNSUPPORTED:
        raise TaskError(f"task type {kind} is not supported; use cmd")
    if kind not in (BACKGROUND, BLOCKING):
        raise TaskError(f"unknown task type {kind}")
    command = metadata.get("cmd", "").strip()
    if not command:
        raise TaskError("cmd not found in metadata")
    blocking = kind == BLOCKING
    log_output = blocking or _flag(metadata, "logCmdOutput")
    task: Task
    if is_hey_command(command):
        try:
            options = parse_hey(command)
        except HeyError as error:
            raise TaskError(str(error)) from None
        task = HeyTask(payload.canary, command, options, log_output)
    else:
        task = ShellTask(payload.canary, command, "bash" if blocking else "sh", log_output)
    return TaskRequest(task, blocking, _flag(metadata, "returnCmdOutput"))
