"""What `decide` returns: the new status, the actions to carry out in order, the events.

Every action is idempotent: carrying out the same Decision twice changes nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from canary_operator.api.canary import WebhookType
from canary_operator.api.status import CanaryStatus, Phase


@dataclass(frozen=True)
class InitializeTargets:
    """Create or refresh `<target>-primary` (a clone), the Services, the DestinationRules
    and the VirtualService at 100/0; existing route weights are never changed.

    `with_routing=False` asks only for the primary Deployment and the `-primary` and
    `-canary` Services, which carry no user traffic yet: until the primary is ready the
    apex Service and the routes stay as they are, so initialisation never sends traffic
    to pods that cannot take it.
    """

    with_routing: bool = True


@dataclass(frozen=True)
class ScaleTargetToZero:
    pass


@dataclass(frozen=True)
class ScaleTargetUp:
    replicas: int


@dataclass(frozen=True)
class SetWeights:
    """Route `primary`/`canary` percent; `mirror` also shadows the primary's requests to
    the canary (Istio's mirror, at analysis.mirrorWeight percent)."""

    primary: int
    canary: int
    mirror: bool = False

    def __post_init__(self) -> None:
        if not (0 <= self.primary <= 100 and 0 <= self.canary <= 100) or (
            self.primary + self.canary != 100
        ):
            raise ValueError(f"route weights must be 0..100 and sum to 100 (got {self})")


@dataclass(frozen=True)
class PromoteTemplate:
    """Copy the target's pod template (and strategy, minReadySeconds, ...) to the primary,
    if the target still is `revision`, the revision the analysis ran on. When it changed
    since the tick looked, nothing is copied: the new revision gets its own analysis."""

    revision: str | None


@dataclass(frozen=True)
class RunHooks:
    """Call the Canary's webhooks of one type that do not gate anything (post-rollout),
    with `phase` in the payload; a failing hook is reported, never retried by a tick.
    Like events and alerts, they go out once the status is written, never before."""

    type: WebhookType
    phase: Phase


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event on the Canary, reason `Synced`, with Flagger's texts. `step`
    marks the one routine event of each analysis step ("Advance ... weight 20"), which the
    operator can leave out of the API (STEP_EVENTS=false) to save a write per step."""

    type: Literal["Normal", "Warning"]
    message: str
    step: bool = False


@dataclass(frozen=True)
class Alert:
    """A notification for the Canary's AlertProviders, Flagger's text; the controller adds
    the target, the threshold and the metric values of the last checks."""

    severity: Literal["info", "warn", "error"]
    message: str


Action = (InitializeTargets | ScaleTargetToZero | ScaleTargetUp | SetWeights | PromoteTemplate
          | RunHooks)


@dataclass(frozen=True)
class Decision:
    status: CanaryStatus  # the complete new status (write it only if it differs)
    actions: tuple[Action, ...]
    events: tuple[Event, ...]
    reason: str  # one line: why, with the numbers
    alerts: tuple[Alert, ...] = ()

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("every decision needs a reason")
