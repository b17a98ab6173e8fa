"""CPU seconds and memory of a process (and its children), sampled from /proc."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of `pid` and its waited-for children; 0 when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # The command name may hold spaces and parentheses: split after its closing one.
    fields = stat.rsplit(")", 1)[1].split()
    # After the name: state is fields[0], so utime (14th field) is fields[11].
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) / _TICKS


def memory_bytes(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of `pid` in bytes: resident now and at its peak; zeros when gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0, 0
    found = {"VmRSS:": 0, "VmHWM:": 0}
    for line in status.splitlines():
        key = line.split(maxsplit=1)[0] if line else ""
        if key in found:
            found[key] = int(line.split()[1]) * 1024
    return found["VmRSS:"], found["VmHWM:"]


@dataclass
class Usage:
    """What one process used over a measured window."""

    cpu_seconds: float
    wall_seconds: float
    peak_rss_bytes: int
    samples: list[tuple[float, float, int]]  # (t since start, cpu seconds so far, rss)

    @property
    def cpu_cores(self) -> float:
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0


class Sampler:
    """Samples a process every `period` seconds in a thread until `stop()`."""

    def __init__(self, pid: int, period: float = 0.5) -> None:
        self.pid, self.period = pid, period
        self._stop = threading.Event()
        self._samples: list[tuple[float, float, int]] = []
        self._peak = 0
        self._t0 = 0.0
        self._cpu0 = 0.0
        self._thread = threading.Thread(target=self._run, name=f"sampler-{pid}", daemon=True)

    def start(self) -> Sampler:
        self._t0 = time.monotonic()
        self._cpu0 = cpu_seconds(self.pid)
        self._thread.start()
        return self

    def _sample(self) -> None:
        rss, hwm = memory_bytes(self.pid)
        self._peak = max(self._peak, rss, hwm)
        self._samples.append((time.monotonic() - self._t0, cpu_seconds(self.pid) - self._cpu0,
                              rss))

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self._sample()

    def stop(self) -> Usage:
        self._stop.set()
        self._thread.join()
        self._sample()
        wall = time.monotonic() - self._t0
        return Usage(cpu_seconds(self.pid) - self._cpu0, wall, self._peak, self._samples)


def cpu_by_name(pids: Mapping[str, Iterable[int]]) -> dict[str, float]:
    """CPU seconds so far of each named group of processes."""
    return {name: sum(cpu_seconds(pid) for pid in group) for name, group in pids.items()}


def cores_between(before: Mapping[str, float], after: Mapping[str, float],
                  wall_seconds: float) -> dict[str, float]:
    """Mean cores each named group used between two `cpu_by_name` readings, largest first
    (a process gone by the second reading counts as 0, not as negative)."""
    if wall_seconds <= 0:
        return {}
    used = {name: max(after.get(name, 0.0) - before.get(name, 0.0), 0.0) / wall_seconds
            for name in before.keys() | after.keys()}
    return dict(sorted(used.items(), key=lambda item: -item[1]))
