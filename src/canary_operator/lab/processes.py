"""Start lab components as detached processes and stop exactly those, by pid."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from canary_operator.lab.errors import ComponentDied, LabTimeout


@dataclass(frozen=True)
class ProcessRecord:
    """What the lab remembers of a process it started: enough to find and stop it."""

    name: str
    pid: int
    argv: tuple[str, ...]
    log: Path

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["argv"] = list(self.argv)
        data["log"] = str(self.log)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls(data["name"], int(data["pid"]), tuple(data["argv"]), Path(data["log"]))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def spawn(name: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> ProcessRecord:
    """Start `argv` in its own session (it outlives the caller), output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
    record = ProcessRecord(name, proc.pid, tuple(argv), log)
    # Popen returns once exec has begun, but the kernel publishes the new command line a
    # moment later; wait for it so is_running() never mistakes the gap for a dead process.
    deadline = time.monotonic() + 5
    while _cmdline(record.pid) == b"" and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    return record


def _cmdline(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _reap(pid: int) -> int | None:
    """Collect the exit status of our own child, if it has exited; None otherwise."""
    try:
        waited, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child (started by an earlier `lab up`)
        return None
    if waited == 0:
        return None
    return os.waitstatus_to_exitcode(status)


def is_running(record: ProcessRecord) -> bool:
    """True while the recorded process lives and is still the program we started
    (a recycled pid running something else does not count)."""
    _reap(record.pid)
    cmdline = _cmdline(record.pid)
    try:
        stat = Path(f"/proc/{record.pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    if not cmdline:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    if state in ("Z", "X"):
        return False
    return cmdline.split(b"\0", 1)[0] == record.argv[0].encode()


def resident_bytes(pid: int) -> int:
    """VmRSS of a process, 0 when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def check_alive(records: Iterable[ProcessRecord]) -> None:
    """Raise ComponentDied for the first recorded process that is gone."""
    for record in records:
        if not is_running(record):
            raise ComponentDied(record.name, None, record.log)


def stop(record: ProcessRecord, grace_seconds: float = 10.0) -> None:
    """SIGTERM the process group we started, SIGKILL it after the grace period."""
    if not is_running(record):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if not is_running(record):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while is_running(record) and time.monotonic() < deadline:
        time.sleep(0.05)


def wait_for(
    condition: Callable[[], bool],
    what: str,
    timeout: float,
    watch: Iterable[ProcessRecord] = (),
    poll: float = 0.2,
) -> None:
    """Poll `condition` until it holds; fail early, naming the component, if one dies."""
    watched = list(watch)
    deadline = time.monotonic() + timeout
    while True:
        check_alive(watched)
        if condition():
            return
        if time.monotonic() >= deadline:
            raise LabTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(poll)
