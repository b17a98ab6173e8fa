"""What the controller saw in one tick: plain values, no clients, no clock of our own.

The controller builds an `Observation` from its watch caches, the router and (only when
`needs_metrics` says so) the metric provider; `decide` reads nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from canary_operator.api.canary import WebhookType


@dataclass(frozen=True)
class Readiness:
    """Whether a Deployment may take traffic; `retriable=False` means stop waiting."""

    ready: bool
    retriable: bool = True
    message: str = ""


@dataclass(frozen=True)
class MetricObservation:
    """One metric query's result, made by the controller from the provider's answer."""

    name: str  # the metric's name in the Canary spec
    query: str  # the rendered query
    window: str  # the metric interval, e.g. "1m"
    value: float | None  # None: no data (an empty result or NaN)
    error: str | None = None  # the provider or the query failed (down, bad query, timeout)
    # The error is the Canary's configuration (a missing or unrenderable template, a query
    # rejected as invalid, refused credentials, an unsupported provider), not an outage.
    invalid: bool = False


@dataclass(frozen=True)
class HookResult:
    """One webhook's answer: `ok` is any 2xx (Flagger wrongly refuses 204)."""

    name: str
    ok: bool
    message: str = ""  # why not: "HTTP 403 Forbidden: closed", "timed out after 10s"


@dataclass(frozen=True)
class Command:
    """A one-shot command given with `kubectl canary` (an annotation on the Canary)."""

    action: str  # promote, promote-full, abort, retry
    id: str
    user: str | None = None


@dataclass(frozen=True)
class Observation:
    """The world as one tick sees it.

    `name` and `namespace` are the Canary's own (event texts name it as `<name>.<ns>`);
    the target's name comes from the spec. `primary_replicas` is the primary's
    `spec.replicas`, used to scale the canary up when the target sits at zero.
    """

    now: datetime  # timezone-aware UTC
    name: str
    namespace: str
    target_exists: bool
    target_hash: str | None  # stable hash of the target's pod template; None if missing
    target_replicas: int | None  # the target's spec.replicas; None if unset
    canary: Readiness  # readiness of the target ("canary") Deployment
    primary_exists: bool
    primary: Readiness  # readiness of <target>-primary
    weights: tuple[int, int] | None  # (primary, canary) on the route; None if not there yet
    metrics: tuple[MetricObservation, ...] | None = None  # None: not measured this tick
    primary_replicas: int | None = None
    # Whether the route shadows traffic to the canary (Istio mirror).
    mirrored: bool = False
    # The webhooks called this tick, by type; a type absent here was not called (yet).
    hooks: Mapping[WebhookType, tuple[HookResult, ...]] = field(default_factory=dict)
    # Checksums of the ConfigMaps and Secrets the target uses ("configmap/<name>" -> sum);
    # they are part of `target_hash` already. None: config tracking is off.
    tracked_configs: Mapping[str, str] | None = None
    # minReplicas of the target's HorizontalPodAutoscaler (autoscalerRef), if any.
    autoscaler_min_replicas: int | None = None
    # `kubectl canary` input: the pending command, and who paused the Canary (None: not
    # paused). Handled commands are recognised by `status.lastCommand.id`.
    command: Command | None = None
    paused_by: str | None = None
    resumed_by: str | None = None  # who resumed it last, for the event
    # How many metric checks `status.history` keeps.
    history_limit: int = 20
