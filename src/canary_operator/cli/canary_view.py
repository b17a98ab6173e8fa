"""What `kubectl canary get` shows: pure functions from a Canary (the API's JSON) and its
events to rich renderables, and to text at a fixed width for tests and pipes.

Nothing here reads the clock or the API: `now` and the events come from the caller.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from canary_operator.analysis.checks import format_value, metric_kind
from canary_operator.analysis.schedule import analysis_interval
from canary_operator.analysis.steps import Strategy, max_weight, strategy_of
from canary_operator.api.canary import Canary, CanaryMetric, CanarySpec
from canary_operator.api.commands import ANNOTATION_PAUSED, ANNOTATION_PAUSED_BY
from canary_operator.api.status import CanaryStatus, CheckRecord, MetricCheckStatus

JsonDict = Mapping[str, Any]

# Phases whose next step is due one analysis interval after `status.lastStepTime`.
STEPPING_PHASES = frozenset({"Progressing", "WaitingPromotion", "WaitingTrafficIncrease",
                             "Promoting", "Finalising"})
PHASE_STYLES = {
    "Succeeded": "bold green", "Failed": "bold red", "Progressing": "bold yellow",
    "WaitingPromotion": "bold magenta", "WaitingTrafficIncrease": "bold magenta",
    "Waiting": "bold magenta", "Promoting": "bold cyan", "Finalising": "bold cyan",
    "Initialized": "bold",
}
OUTCOME_MARKS = {"Pass": ("✔", "green"), "Fail": ("✘", "red"), "NoData": ("✘", "red"),
                 "Error": ("?", "yellow")}
BAR_WIDTH = 30
EVENTS_SHOWN = 6


@dataclass(frozen=True)
class CanaryEvent:
    """One core/v1 Event about the Canary, as the view needs it."""

    time: datetime | None
    type: str  # Normal or Warning
    reason: str
    message: str
    count: int = 1


@dataclass(frozen=True)
class _Parts:
    """The Canary read leniently: a spec that no longer validates still shows its status."""

    name: str
    namespace: str
    spec: CanarySpec | None
    status: CanaryStatus
    paused_by: str | None  # None: not paused


def _parts(canary: JsonDict) -> _Parts:
    metadata = canary.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    try:
        spec: CanarySpec | None = Canary.model_validate(canary).spec
    except ValidationError:
        spec = None
    try:
        status = CanaryStatus.model_validate(canary.get("status") or {})
    except ValidationError:
        status = CanaryStatus()
    paused = str(annotations.get(ANNOTATION_PAUSED, "")).lower() == "true"
    return _Parts(
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
        spec=spec,
        status=status,
        paused_by=(annotations.get(ANNOTATION_PAUSED_BY) or "someone") if paused else None,
    )


def age(moment: datetime | None, now: datetime) -> str:
    """kubectl's short age: 45s, 3m12s, 2h5m, 4d."""
    if moment is None:
        return "-"
    seconds = int(max(0.0, (now - _aware(moment)).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes}m{rest}s" if rest and minutes < 10 else f"{minutes}m"
    if seconds < 86400:
        hours, rest = divmod(seconds, 3600)
        return f"{hours}h{rest // 60}m" if rest >= 60 and hours < 10 else f"{hours}h"
    return f"{seconds // 86400}d"


def seconds_to_next_step(canary: JsonDict, now: datetime) -> float | None:
    """lastStepTime + analysis.interval - now while an analysis phase steps; None otherwise
    (idle, paused, no step taken yet, or a spec that does not validate)."""
    parts = _parts(canary)
    status = parts.status
    if (parts.spec is None or parts.paused_by is not None or status.last_step_time is None
            or status.phase.value not in STEPPING_PHASES):
        return None
    elapsed = (now - _aware(status.last_step_time)).total_seconds()
    return analysis_interval(parts.spec) - elapsed


def weight_bar(value: int, total: int, width: int = BAR_WIDTH) -> str:
    """`[█████░░░░░]`: `value` of `total` in `width` cells."""
    total = max(total, 1)
    filled = round(width * min(max(value, 0), total) / total)
    return "[" + "█" * filled + "░" * (width - filled) + "]"


def canary_view(canary: JsonDict, events: Sequence[CanaryEvent], now: datetime
                ) -> RenderableType:
    """The rich view of one Canary: phase, progress, checks, timing, the last events."""
    parts = _parts(canary)
    status, spec = parts.status, parts.spec
    phase = status.phase.value or "(not initialized yet)"
    header = Text.assemble((f"{parts.name}", "bold"), f" in {parts.namespace}   ",
                           (phase, PHASE_STYLES.get(phase, "bold")))
    if parts.paused_by is not None:
        header.append("   PAUSED", "bold magenta")

    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim", no_wrap=True)
    facts.add_column()
    if status.reason or status.message:
        facts.add_row("status", Text(": ".join(t for t in (status.reason, status.message) if t)))
    if spec is not None:
        facts.add_row("strategy", Text(_strategy_text(spec)))
        facts.add_row(*_progress_row(spec, status))
        facts.add_row("failed checks", Text(
            f"{status.failed_checks} of {_threshold(spec)} allowed before rollback",
            style="red" if status.failed_checks else ""))
    facts.add_row("next step", Text(_next_step_text(canary, parts, now)))
    if status.last_transition_time is not None or status.last_transition_reason:
        why = ": ".join(t for t in (status.last_transition_reason,
                                    status.last_transition_message) if t)
        facts.add_row("last transition", Text(
            f"{phase} {age(status.last_transition_time, now)} ago" + (f" ({why})" if why
                                                                      else "")))
    facts.add_row("paused", Text(f"yes, by {parts.paused_by}" if parts.paused_by else "no",
                                 style="magenta" if parts.paused_by else ""))
    command = status.last_command
    if command is not None:
        facts.add_row("last command", Text(
            f"{command.action} by {command.user or 'an unknown user'}: {command.outcome}"
            + (f" ({command.message})" if command.message else "")
            + (f", {age(command.time, now)} ago" if command.time else ""),
            style="yellow" if command.outcome == "Ignored" else ""))
    hint = _hint(parts)
    if hint:
        facts.add_row("next", Text(hint, style="bold"))

    pieces: list[RenderableType] = [header, facts]
    checks = status.checks or []
    if checks:
        pieces += [Text(""), Text("metric checks (the last tick that ran them)", "bold"),
                   _checks_table(checks, spec)]
    failing = _last_failure(status)
    if failing is not None and status.phase.value == "Failed" and not any(
            c.outcome in ("Fail", "NoData") for c in checks):
        pieces += [Text(""), Text(f"last failed check: {failing}", style="red")]
    if events:
        pieces += [Text(""), Text("events", "bold"), _events_table(events, now)]
    return Group(*pieces)


def render_canary(canary: JsonDict, events: Sequence[CanaryEvent], now: datetime,
                  width: int) -> str:
    """`canary_view` as plain text at `width` columns."""
    return _text(canary_view(canary, events, now), width)


def canaries_table(canaries: Sequence[JsonDict], now: datetime, all_namespaces: bool
                   ) -> RenderableType:
    """kubectl-style table: NAME, STATUS, WEIGHT, FAILED, LAST TRANSITION."""
    table = Table(box=None, padding=(0, 3, 0, 0), show_edge=False, header_style="bold")
    if all_namespaces:
        table.add_column("NAMESPACE", no_wrap=True)
    for column in ("NAME", "STATUS", "WEIGHT", "FAILED", "LAST TRANSITION"):
        table.add_column(column, no_wrap=True)
    for canary in canaries:
        parts = _parts(canary)
        status = parts.status
        phase = status.phase.value or "-"
        if parts.paused_by is not None:
            phase += " (paused)"
        threshold = _threshold(parts.spec) if parts.spec is not None else "?"
        row: list[str | Text] = [parts.name, Text(phase, PHASE_STYLES.get(status.phase.value, "")),
               str(status.canary_weight), f"{status.failed_checks}/{threshold}",
               age(status.last_transition_time, now)]
        table.add_row(*([parts.namespace] if all_namespaces else []), *row)
    return table


def render_table(canaries: Sequence[JsonDict], now: datetime, all_namespaces: bool,
                 width: int) -> str:
    return _text(canaries_table(canaries, now, all_namespaces), width)


def event_from_api(event: Mapping[str, Any]) -> CanaryEvent:
    """A core/v1 Event (the API's JSON) as the view's `CanaryEvent`."""
    moment = (event.get("lastTimestamp") or event.get("eventTime")
              or (event.get("metadata") or {}).get("creationTimestamp"))
    return CanaryEvent(
        time=_parse_time(moment),
        type=str(event.get("type") or "Normal"),
        reason=str(event.get("reason") or ""),
        message=" ".join(str(event.get("message") or "").split()),
        count=int(event.get("count") or 1),
    )


def last_events(events: Sequence[CanaryEvent], count: int = EVENTS_SHOWN) -> list[CanaryEvent]:
    """The newest `count`, oldest first."""
    epoch = datetime.min.replace(tzinfo=UTC)
    ordered = sorted(events, key=lambda e: _aware(e.time) if e.time else epoch)
    return ordered[-count:]


# --- pieces ---------------------------------------------------------------------------------


def _text(renderable: RenderableType, width: int) -> str:
    console = Console(record=True, width=width, file=io.StringIO(), color_system=None,
                      force_terminal=False, legacy_windows=False)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def _strategy_text(spec: CanarySpec) -> str:
    analysis = spec.analysis
    if spec.analysis_skipped or analysis is None:
        return "no analysis: a new revision is promoted at once"
    strategy = strategy_of(analysis)
    every = f"every {analysis.interval}"
    if strategy is Strategy.CANARY:
        if analysis.step_weight:
            steps = f"{analysis.step_weight}% steps to {max_weight(analysis)}%"
        else:
            steps = "steps " + ", ".join(f"{w}%" for w in analysis.step_weights or [])
        return f"canary, {steps}, {every}"
    name = "A/B testing" if strategy is Strategy.AB_TESTING else "blue/green"
    return f"{name}, {analysis.iterations} iterations, {every}"


def _progress_row(spec: CanarySpec, status: CanaryStatus) -> tuple[str, Text]:
    analysis = spec.analysis
    if analysis is not None and strategy_of(analysis) is not Strategy.CANARY:
        total = analysis.iterations or 0
        return "iterations", Text(
            f"{weight_bar(status.iterations, total)}  {status.iterations}/{total}"
            f"  (canary weight {status.canary_weight}%)")
    ceiling = max_weight(analysis)
    return "canary weight", Text(
        f"{weight_bar(status.canary_weight, ceiling)}  {status.canary_weight}% of {ceiling}%")


def _threshold(spec: CanarySpec) -> int:
    return spec.analysis.effective_threshold if spec.analysis else 1


def _next_step_text(canary: JsonDict, parts: _Parts, now: datetime) -> str:
    if parts.paused_by is not None:
        return "held while paused"
    phase = parts.status.phase.value
    if phase not in STEPPING_PHASES:
        return "none: waiting for a new revision" if phase in (
            "Initialized", "Succeeded", "Failed") else "-"
    seconds = seconds_to_next_step(canary, now)
    if seconds is None:
        return "at the operator's next tick"
    if seconds <= 0:
        return "due now"
    return f"in {_duration(seconds)}"


def _duration(seconds: float) -> str:
    whole = int(seconds + 0.999)
    if whole < 60:
        return f"{whole}s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest}s" if rest else f"{minutes}m"


def _hint(parts: _Parts) -> str | None:
    name, phase = parts.name, parts.status.phase.value
    if parts.paused_by is not None:
        return f"kubectl canary resume {name}"
    if phase == "Failed":
        return f"kubectl canary retry {name} (run this revision again)"
    if phase in ("Waiting", "WaitingPromotion", "WaitingTrafficIncrease"):
        return (f"kubectl canary promote {name} (approve), or kubectl canary abort {name}")
    return None


def _metric(spec: CanarySpec | None, name: str) -> CanaryMetric | None:
    metrics = spec.analysis.metrics if spec is not None and spec.analysis else None
    return next((m for m in metrics or [] if m.name == name), None)


def _value_text(check: MetricCheckStatus | CheckRecord, spec: CanarySpec | None) -> str:
    if check.value is None:
        return "no data" if check.outcome == "NoData" else "-"
    metric = _metric(spec, check.name)
    if metric is None:
        return f"{check.value:.2f}"
    return format_value(metric_kind(metric), check.value)


def _checks_table(checks: Sequence[MetricCheckStatus], spec: CanarySpec | None) -> Table:
    table = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, header_style="dim")
    for column in ("", "metric", "value", "threshold", "window", "outcome"):
        table.add_column(column, no_wrap=column != "outcome")
    for check in checks:
        mark, style = OUTCOME_MARKS.get(check.outcome, ("?", "yellow"))
        outcome = check.outcome + (f": {check.error}" if check.error else "")
        table.add_row(Text(mark, style), check.name, _value_text(check, spec),
                      check.threshold or "none", check.window or "-", Text(outcome, style))
    return table


def _last_failure(status: CanaryStatus) -> str | None:
    for record in reversed(status.history or []):
        if record.outcome in ("Fail", "NoData"):
            value = "no data" if record.value is None else f"{record.value:.2f}"
            return (f"{record.name} {value} against {record.threshold or 'none'} "
                    f"({record.window or '-'}, {record.outcome})")
    return None


def _events_table(events: Sequence[CanaryEvent], now: datetime) -> Table:
    table = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, show_header=False)
    table.add_column(no_wrap=True, style="dim")
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column()
    for event in last_events(events):
        count = f" (x{event.count})" if event.count > 1 else ""
        table.add_row(age(event.time, now), Text(event.type, "red" if event.type == "Warning"
                                                 else ""), event.reason, event.message + count)
    return table


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _parse_time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, str) and value:
        try:
            return _aware(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None
