"""The Canary resource, `flagger.app/v1beta1`: every field and default Flagger 1.44 has.

Istio pass-through structures (match, retries, corsPolicy, headers, trafficPolicy ...) are
kept as JSON objects: we copy them into the VirtualService and DestinationRules as given,
and Istio's own schema validates them there.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from canary_operator.api.base import DURATION_PATTERN, ApiModel, parse_duration
from canary_operator.api.status import CanaryStatus

GROUP = "flagger.app"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"

DEFAULT_PROGRESS_DEADLINE_SECONDS = 600
DEFAULT_INTERVAL = "1m"
DEFAULT_METRIC_INTERVAL = "1m"
DEFAULT_WEBHOOK_TIMEOUT = "10s"
# Flagger floors the analysis interval at 10 s; the operator's settings may lower the floor.
FLAGGER_MIN_INTERVAL_SECONDS = 10.0

JsonObject = dict[str, Any]

Provider = Literal[
    "apisix", "appmesh", "appmesh:v1beta2", "contour", "gatewayapi:v1", "gatewayapi:v1beta1",
    "gloo", "istio", "knative", "kubernetes", "kuma", "linkerd", "nginx", "osm", "skipper",
    "smi:v1alpha1", "smi:v1alpha2", "smi:v1alpha3", "traefik",
]


class WebhookType(StrEnum):
    ROLLOUT = "rollout"
    CONFIRM_ROLLOUT = "confirm-rollout"
    PRE_ROLLOUT = "pre-rollout"
    CONFIRM_TRAFFIC_INCREASE = "confirm-traffic-increase"
    CONFIRM_PROMOTION = "confirm-promotion"
    POST_ROLLOUT = "post-rollout"
    ROLLBACK = "rollback"
    EVENT = "event"


class LocalObjectReference(ApiModel):
    name: str


class CrossNamespaceObjectReference(ApiModel):
    name: str
    namespace: str | None = None


class TargetRef(ApiModel):
    api_version: str
    kind: Literal["DaemonSet", "Deployment", "Service"]
    name: str


class ScalerReplicas(ApiModel):
    min_replicas: int | None = Field(default=None, ge=1)
    max_replicas: int | None = Field(default=None, ge=1)


class AutoscalerRef(ApiModel):
    api_version: str
    kind: Literal["HorizontalPodAutoscaler", "ScaledObject"]
    name: str
    primary_scaler_queries: dict[str, str] | None = None
    primary_scaler_replicas: ScalerReplicas | None = None


class IngressRef(ApiModel):
    api_version: str
    kind: Literal["Ingress"]
    name: str


class RouteRef(ApiModel):
    api_version: str
    kind: Literal["ApisixRoute"]
    name: str


class UpstreamRef(ApiModel):
    api_version: str
    kind: Literal["Upstream"]
    name: str
    namespace: str | None = None


class ObjectMetadata(ApiModel):
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class UnmanagedMetadata(ApiModel):
    labels: list[str] | None = None
    annotations: list[str] | None = None


class CanaryService(ApiModel):
    port: int = Field(ge=1, le=65535)
    name: str | None = None
    port_name: str | None = None
    target_port: int | str | None = None
    app_protocol: str | None = None
    traffic_distribution: Literal["PreferClose", "PreferSameZone", "PreferSameNode"] | None = None
    port_discovery: bool | None = None
    headless: bool | None = None
    timeout: str | None = None
    backend_timeout: str | None = None
    mesh_name: str | None = None
    backends: list[str] | None = None
    hosts: list[str] | None = None
    gateways: list[str] | None = None
    gateway_refs: list[JsonObject] | None = None
    delegation: bool | None = None
    match: list[JsonObject] | None = None
    retries: JsonObject | None = None
    rewrite: JsonObject | None = None
    mirror: list[JsonObject] | None = None
    headers: JsonObject | None = None
    cors_policy: JsonObject | None = None
    traffic_policy: JsonObject | None = None
    apex: ObjectMetadata | None = None
    primary: ObjectMetadata | None = None
    canary: ObjectMetadata | None = None
    unmanaged_metadata: UnmanagedMetadata | None = None


class ThresholdRange(ApiModel):
    min: float | None = None
    max: float | None = None


class TemplateRef(ApiModel):
    name: str
    namespace: str | None = None


class CanaryMetric(ApiModel):
    name: str
    interval: str = Field(default=DEFAULT_METRIC_INTERVAL, pattern=DURATION_PATTERN)
    threshold: float | None = Field(default=None, description="deprecated: use thresholdRange")
    threshold_range: ThresholdRange | None = None
    query: str | None = None
    template_ref: TemplateRef | None = None
    template_variables: dict[str, str] | None = None

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)


class CanaryWebhook(ApiModel):
    name: str
    url: str
    type: Literal[
        "", "confirm-rollout", "pre-rollout", "rollout", "confirm-promotion", "post-rollout",
        "event", "rollback", "confirm-traffic-increase",
    ] = ""
    timeout: str = Field(default=DEFAULT_WEBHOOK_TIMEOUT, pattern=DURATION_PATTERN)
    retries: int | None = Field(default=None, ge=0)
    disable_tls: bool | None = Field(default=None, alias="disableTLS")
    mute_alert: bool | None = None
    metadata: dict[str, str] | None = None

    @property
    def kind(self) -> WebhookType:
        """The hook's type; an empty type means `rollout`, as in Flagger."""
        return WebhookType(self.type or "rollout")


class CanaryAlert(ApiModel):
    name: str
    severity: Literal["", "info", "warn", "error"] = ""
    provider_ref: CrossNamespaceObjectReference


class SessionAffinity(ApiModel):
    cookie_name: str
    primary_cookie_name: str | None = None
    domain: str | None = None
    http_only: bool | None = None
    max_age: int = 86400
    partitioned: bool | None = None
    path: str | None = None
    same_site: Literal["Strict", "Lax", "None"] | None = None
    secure: bool | None = None


class Analysis(ApiModel):
    interval: str = Field(default=DEFAULT_INTERVAL, pattern=DURATION_PATTERN)
    iterations: int | None = Field(default=None, ge=0)
    threshold: int | None = None
    max_weight: int | None = Field(default=None, ge=0, le=100)
    step_weight: int | None = Field(default=None, ge=1, le=100)
    step_weights: list[int] | None = None
    step_weight_promotion: int | None = Field(default=None, ge=0, le=100)
    mirror: bool | None = None
    mirror_weight: int | None = Field(default=None, ge=0, le=100)
    primary_ready_threshold: int = Field(default=100, ge=0, le=100)
    canary_ready_threshold: int = Field(default=100, ge=0, le=100)
    match: list[JsonObject] | None = None
    session_affinity: SessionAffinity | None = None
    metrics: list[CanaryMetric] | None = None
    webhooks: list[CanaryWebhook] | None = None
    alerts: list[CanaryAlert] | None = None

    @model_validator(mode="after")
    def _check_steps(self) -> Analysis:
        for index, weight in enumerate(self.step_weights or []):
            if not 1 <= weight <= 100:
                raise ValueError(
                    f"analysis.stepWeights[{index}] must be between 1 and 100 (got {weight})"
                )
        return self

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)

    @property
    def effective_threshold(self) -> int:
        """Failed checks tolerated before rollback; Flagger treats <= 0 as 1."""
        return self.threshold if self.threshold and self.threshold > 0 else 1

    @property
    def effective_max_weight(self) -> int:
        """maxWeight (default 100); with stepWeights, at most their last step."""
        if self.step_weights and not self.step_weight:
            return min(100, self.step_weights[-1])
        return self.max_weight if self.max_weight is not None else 100


class CanarySpec(ApiModel):
    target_ref: TargetRef
    service: CanaryService
    analysis: Analysis | None = None
    provider: Provider | None = None
    metrics_server: str | None = None
    progress_deadline_seconds: int = Field(default=DEFAULT_PROGRESS_DEADLINE_SECONDS, ge=0)
    autoscaler_ref: AutoscalerRef | None = None
    ingress_ref: IngressRef | None = None
    route_ref: RouteRef | None = None
    upstream_ref: UpstreamRef | None = None
    skip_analysis: bool = False
    revert_on_deletion: bool = False
    suspend: bool = False

    @property
    def apex_name(self) -> str:
        """The apex Service and VirtualService name: service.name, else the target's."""
        return self.service.name or self.target_ref.name

    @property
    def analysis_skipped(self) -> bool:
        return self.skip_analysis or self.analysis is None


class ObjectMeta(ApiModel):
    name: str
    namespace: str = "default"
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class Canary(ApiModel):
    api_version: Literal["flagger.app/v1beta1"] = "flagger.app/v1beta1"
    kind: Literal["Canary"] = "Canary"
    metadata: ObjectMeta
    spec: CanarySpec
    status: CanaryStatus | None = None

    @property
    def key(self) -> str:
        """`namespace/name`, as in error messages and logs."""
        return f"{self.metadata.namespace}/{self.metadata.name}"
