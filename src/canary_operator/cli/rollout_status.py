"""`kubectl canary status`: when the current rollout has ended, and how (pure).

**The current rollout** is the target's revision as `status` sees it. It has ended when
the operator has taken that revision up (`status.lastAppliedSpec` equals the target's
revision) and the Canary rests in `Succeeded` or `Initialized` (exit 0) or `Failed`
(exit 1). So:

- an idle Canary whose target has not changed since the last verdict ends at once with
  that verdict (Succeeded: 0, Failed: 1);
- after `kubectl set image`, the Canary still says `Succeeded` for the old revision until
  the operator notices the new one: `status` waits for it to be taken up, then for its
  verdict;
- a newer revision while waiting becomes the current rollout (the target is re-read at
  every observation).

The target's revision is the hash of its pod template, combined with the checksums of the
tracked ConfigMaps and Secrets recorded in `status.trackedConfigs`. A change of only a
ConfigMap or Secret is therefore not seen before the operator takes it up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum

SUCCEEDED_PHASES = frozenset({"Succeeded", "Initialized"})
FAILED_PHASES = frozenset({"Failed"})


class Verdict(IntEnum):
    """The exit codes of `kubectl canary status`."""

    SUCCEEDED = 0
    FAILED = 1
    TIMED_OUT = 2


@dataclass(frozen=True)
class Observed:
    """One look at the Canary and its target."""

    phase: str
    message: str
    applied_revision: str | None  # status.lastAppliedSpec
    target_revision: str | None  # the target's revision now; None: no target to compare


def verdict_of(observed: Observed) -> Verdict | None:
    """The rollout's verdict in this observation; None while it is still on its way."""
    if not _taken_up(observed):
        return None
    if observed.phase in SUCCEEDED_PHASES:
        return Verdict.SUCCEEDED
    if observed.phase in FAILED_PHASES:
        return Verdict.FAILED
    return None


@dataclass(frozen=True)
class Line:
    """What `status` prints: a phase change with its message, or the verdict."""

    text: str
    verdict: Verdict | None = None


def follow(observations: Iterable[Observed]) -> Iterator[Line]:
    """A line per phase change (and per message change in a phase), then the verdict at the
    first observation that has one. The observations end only at the deadline: running out
    of them without a verdict is the timeout."""
    last: tuple[str, str] | None = None
    for observed in observations:
        seen = (observed.phase, observed.message)
        if seen != last:
            last = seen
            waiting = "" if _taken_up(observed) else " (a new revision waits to be taken up)"
            yield Line(f"{observed.phase or 'not initialized'}: "
                       f"{observed.message or '-'}{waiting}")
        verdict = verdict_of(observed)
        if verdict is not None:
            yield Line(_verdict_text(verdict, observed), verdict)
            return
    phase = (last[0] or "not initialized") if last else "unknown"
    yield Line(f"timed out waiting for the rollout to end (phase {phase})", Verdict.TIMED_OUT)


def exit_code(observations: Iterable[Observed]) -> int:
    """The exit code `status` gives for these observations, the last one seen at the
    deadline (pure)."""
    for line in follow(observations):
        if line.verdict is not None:
            return int(line.verdict)
    return int(Verdict.TIMED_OUT)


def _taken_up(observed: Observed) -> bool:
    """Whether the operator works on the target's revision (unknown counts as yes)."""
    return (observed.target_revision is None or observed.applied_revision is None
            or observed.target_revision == observed.applied_revision)


def _verdict_text(verdict: Verdict, observed: Observed) -> str:
    if verdict is Verdict.SUCCEEDED:
        return f"rollout finished: {observed.phase}"
    return f"rollout failed: {observed.message or observed.phase}"
