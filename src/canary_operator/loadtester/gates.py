"""Manual gates, kept in memory like Flagger's loadtester (`in-memory` gate storage).

A canary's confirmation gate and its rollback gate are separate switches, both closed
until someone opens them. Nothing survives a restart of the load tester: a restarted
load tester answers "closed" again, which holds a rollout rather than letting it through.
"""

from __future__ import annotations

import enum
import threading


class Gate(enum.Enum):
    """Which switch of a canary: the confirm gate (`/gate/*`) or rollback (`/rollback/*`)."""

    CONFIRM = "gate"
    ROLLBACK = "rollback"


class GateStore:
    """Open/closed per (gate, `<name>.<namespace>`); closed when never set."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[tuple[Gate, str], bool] = {}

    def open(self, gate: Gate, canary: str) -> None:
        with self._lock:
            self._open[gate, canary] = True

    def close(self, gate: Gate, canary: str) -> None:
        with self._lock:
            self._open[gate, canary] = False

    def is_open(self, gate: Gate, canary: str) -> bool:
        with self._lock:
            return self._open.get((gate, canary), False)

    def snapshot(self) -> dict[str, bool]:
        """Every gate ever set, as `gate/<name>.<namespace>` -> open."""
        with self._lock:
            return {f"{gate.value}/{canary}": state
                    for (gate, canary), state in sorted(self._open.items(),
                                                        key=lambda item: (item[0][0].value,
                                                                          item[0][1]))}
