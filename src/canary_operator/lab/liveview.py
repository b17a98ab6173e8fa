"""The demo's live view: one pure function from a snapshot to a rich renderable."""

from __future__ import annotations

import io
from dataclasses import dataclass

from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

PHASE_STYLES = {
    "Succeeded": "bold green", "Failed": "bold red", "Progressing": "bold yellow",
    "Promoting": "bold cyan", "Finalising": "bold cyan", "Initialized": "bold",
}


@dataclass(frozen=True)
class WorkloadStats:
    name: str
    success_rate: float | None  # percent; None: no traffic in the window
    p99_ms: float | None


@dataclass(frozen=True)
class Snapshot:
    canary: str  # namespace/name
    phase: str
    canary_weight: int
    max_weight: int
    failed_checks: int
    threshold: int
    primary: WorkloadStats
    canary_stats: WorkloadStats
    last_event: str
    elapsed_seconds: float


def _number(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


def render(snapshot: Snapshot) -> RenderableType:
    header = Text.assemble(
        (f"{snapshot.canary}  ", "bold"),
        (snapshot.phase or "(pending)", PHASE_STYLES.get(snapshot.phase, "")),
        f"   {snapshot.elapsed_seconds:5.1f}s since the bump",
        f"   failed checks {snapshot.failed_checks}/{snapshot.threshold}",
    )
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        Text("canary weight"),
        ProgressBar(total=100, completed=snapshot.canary_weight, width=40),
        Text(f"{snapshot.canary_weight:3d}% (max {snapshot.max_weight}%)"),
    )
    stats = Table(box=None, padding=(0, 2))
    stats.add_column("workload")
    stats.add_column("success rate", justify="right")
    stats.add_column("p99 latency", justify="right")
    for workload in (snapshot.primary, snapshot.canary_stats):
        stats.add_row(workload.name, _number(workload.success_rate, "%"),
                      _number(workload.p99_ms, " ms"))
    return Group(header, bar, stats, Text(f"last event: {snapshot.last_event}", style="dim"))


def render_text(snapshot: Snapshot, width: int = 100) -> str:
    """The view as plain text at a fixed width (for logs and tests)."""
    console = Console(width=width, color_system=None, force_terminal=False, file=io.StringIO())
    console.print(render(snapshot))
    output = console.file
    assert isinstance(output, io.StringIO)
    return output.getvalue()
