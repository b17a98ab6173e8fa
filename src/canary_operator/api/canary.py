"""The Canary resource, `flagger.app/v1beta1`: every field and default Flagger 1.44 has.

Istio pass-through structures (match, retries, corsPolicy, headers, trafficPolicy ...) are
kept as JSON objects: we copy them into the VirtualService and DestinationRules as given,
and Istio's own schema validates them there.
"""

from __future__ import annotations

import itertools
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

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

# The metrics every mesh answers without a query (Flagger's builtin checks).
REQUEST_SUCCESS_RATE = "request-success-rate"
REQUEST_DURATION = "request-duration"
BUILTIN_METRICS = (REQUEST_SUCCESS_RATE, REQUEST_DURATION)


def _validations(*rules: tuple[str, str, str]) -> dict[str, Any]:
    """CEL rules for the CRD schema (`x-kubernetes-validations`): (rule, message, field)."""
    return {"x-kubernetes-validations": [
        {"rule": rule, "message": message, "fieldPath": field} for rule, message, field in rules]}

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
    """Name of the object, in the same namespace."""


class CrossNamespaceObjectReference(ApiModel):
    name: str
    """Name of the object."""
    namespace: str | None = None
    """Namespace of the object; defaults to the Canary's namespace."""


class TargetRef(ApiModel):
    api_version: str
    """API version of the workload, e.g. apps/v1."""
    kind: Literal["DaemonSet", "Deployment", "Service"]
    """Kind of the workload; the operator rolls out Deployments so far."""
    name: str
    """Name of the workload, in the Canary's namespace."""


class ScalerReplicas(ApiModel):
    min_replicas: int | None = Field(default=None, ge=1)
    """Lowest replica count of the primary's autoscaler."""
    max_replicas: int | None = Field(default=None, ge=1)
    """Highest replica count of the primary's autoscaler."""


class AutoscalerRef(ApiModel):
    api_version: str
    """API version of the autoscaler."""
    kind: Literal["HorizontalPodAutoscaler", "ScaledObject"]
    """Kind of the autoscaler."""
    name: str
    """Name of the target workload's autoscaler; a copy is made for the primary."""
    primary_scaler_queries: dict[str, str] | None = None
    """Trigger queries for the primary's ScaledObject, by trigger name."""
    primary_scaler_replicas: ScalerReplicas | None = None
    """Replica bounds for the primary's autoscaler."""


class IngressRef(ApiModel):
    api_version: str
    """API version of the Ingress."""
    kind: Literal["Ingress"]
    """Kind of the object (Ingress)."""
    name: str
    """Name of the Ingress that routes to the workload (nginx provider)."""


class RouteRef(ApiModel):
    api_version: str
    """API version of the route."""
    kind: Literal["ApisixRoute"]
    """Kind of the route (ApisixRoute)."""
    name: str
    """Name of the route to the workload (apisix provider)."""


class UpstreamRef(ApiModel):
    api_version: str
    """API version of the Upstream."""
    kind: Literal["Upstream"]
    """Kind of the object (Upstream)."""
    name: str
    """Name of the Upstream to copy settings from (gloo provider)."""
    namespace: str | None = None
    """Namespace of the Upstream."""


class ObjectMetadata(ApiModel):
    labels: dict[str, str] | None = None
    """Labels to set on the object."""
    annotations: dict[str, str] | None = None
    """Annotations to set on the object."""


class UnmanagedMetadata(ApiModel):
    labels: list[str] | None = None
    """Label keys on the generated Services that other tools own and the operator keeps."""
    annotations: list[str] | None = None
    """Annotation keys on the generated Services that other tools own."""


class CanaryService(ApiModel):
    port: int = Field(ge=1, le=65535)
    """Port of the apex, primary and canary Services."""
    name: str | None = None
    """Name of the apex Service and VirtualService; defaults to targetRef.name."""
    port_name: str | None = None
    """Name of the Service port; defaults to http."""
    target_port: int | str | None = None
    """Container port, by number or name; defaults to port."""
    app_protocol: str | None = None
    """Application protocol of the port; tcp routes TCP instead of HTTP."""
    traffic_distribution: Literal["PreferClose", "PreferSameZone", "PreferSameNode"] | None = None
    """Traffic distribution preference of the generated Services."""
    port_discovery: bool | None = None
    """Also expose the workload's other container ports on the Services."""
    headless: bool | None = None
    """Generate headless Services (clusterIP None)."""
    timeout: str | None = None
    """Request timeout of the HTTP route, e.g. 30s."""
    backend_timeout: str | None = None
    """Timeout of each request to a backend (Gateway API only)."""
    mesh_name: str | None = None
    """App Mesh mesh name."""
    backends: list[str] | None = None
    """App Mesh virtual service backends."""
    hosts: list[str] | None = None
    """Hosts the VirtualService serves."""
    gateways: list[str] | None = None
    """Istio gateways the VirtualService is bound to; mesh means in-cluster traffic."""
    gateway_refs: list[JsonObject] | None = None
    """Gateway API parents of the HTTPRoute."""
    delegation: bool | None = None
    """Generate an Istio delegate VirtualService; hosts and gateways must then be empty."""
    match: list[JsonObject] | None = None
    """Istio HTTP match conditions of the route, copied into the VirtualService as given."""
    retries: JsonObject | None = None
    """Istio retry policy of the route: attempts, perTryTimeout, retryOn."""
    rewrite: JsonObject | None = None
    """Istio rewrite of the route's URI or authority."""
    mirror: list[JsonObject] | None = None
    """Gateway API request mirror filters."""
    headers: JsonObject | None = None
    """Header changes on the route's requests and responses."""
    cors_policy: JsonObject | None = None
    """Istio CORS policy of the route."""
    traffic_policy: JsonObject | None = None
    """Istio DestinationRule traffic policy for the primary and the canary."""
    apex: ObjectMetadata | None = None
    """Labels and annotations for the apex Service and the VirtualService."""
    primary: ObjectMetadata | None = None
    """Labels and annotations for the primary Service."""
    canary: ObjectMetadata | None = None
    """Labels and annotations for the canary Service."""
    unmanaged_metadata: UnmanagedMetadata | None = None
    """Service labels and annotations that other tools manage."""


_MIN_NOT_ABOVE_MAX = "min must not be above max: no value could pass"


class ThresholdRange(ApiModel):
    model_config = ConfigDict(json_schema_extra=_validations(
        ("!has(self.min) || !has(self.max) || self.min <= self.max", _MIN_NOT_ABOVE_MAX,
         ".min")))

    min: float | None = None
    """Lowest passing value."""
    max: float | None = None
    """Highest passing value."""

    @model_validator(mode="after")
    def _check_order(self) -> ThresholdRange:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"{_MIN_NOT_ABOVE_MAX} (min {self.min:g}, max {self.max:g})")
        return self


class TemplateRef(ApiModel):
    name: str
    """Name of the MetricTemplate."""
    namespace: str | None = None
    """Namespace of the MetricTemplate; defaults to the Canary's namespace."""


_NEEDS_A_QUERY = (f"a metric not named {' or '.join(BUILTIN_METRICS)} needs a query or a "
                  "templateRef: is the name a typo?")


class CanaryMetric(ApiModel):
    model_config = ConfigDict(json_schema_extra=_validations(
        (f"self.name in {list(BUILTIN_METRICS)!r} || has(self.query) || has(self.templateRef)",
         _NEEDS_A_QUERY, ".name")))

    name: str
    """Name of the check; request-success-rate and request-duration are built in."""
    interval: str = Field(default=DEFAULT_METRIC_INTERVAL, pattern=DURATION_PATTERN)
    """Window of the query, e.g. 1m (default 1m)."""
    threshold: float | None = Field(default=None, description="deprecated: use thresholdRange")
    threshold_range: ThresholdRange | None = None
    """Range the metric's value must stay within."""
    query: str | None = None
    """Inline PromQL query, run against metricsServer."""
    template_ref: TemplateRef | None = None
    """MetricTemplate holding the query and its provider."""
    template_variables: dict[str, str] | None = None
    """Values for {{ variables.<key> }} in the template's query."""

    @model_validator(mode="after")
    def _check_source(self) -> CanaryMetric:
        if (self.name not in BUILTIN_METRICS and self.query is None
                and self.template_ref is None):
            raise ValueError(f"{_NEEDS_A_QUERY} (name {self.name!r})")
        return self

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)


class CanaryWebhook(ApiModel):
    name: str
    """Name of the hook."""
    url: str
    """Address the hook's payload is POSTed to."""
    type: Literal[
        "", "confirm-rollout", "pre-rollout", "rollout", "confirm-promotion", "post-rollout",
        "event", "rollback", "confirm-traffic-increase",
    ] = ""
    """When the hook is called; empty means rollout."""
    timeout: str = Field(default=DEFAULT_WEBHOOK_TIMEOUT, pattern=DURATION_PATTERN)
    """Request timeout, e.g. 10s (default 10s)."""
    retries: int | None = Field(default=None, ge=0)
    """Retries after a failed request."""
    disable_tls: bool | None = Field(default=None, alias="disableTLS")
    """Skip TLS certificate verification for this hook."""
    mute_alert: bool | None = None
    """Send no alert when this hook fails."""
    metadata: dict[str, str] | None = None
    """Key-value pairs sent in the payload's metadata."""

    @property
    def kind(self) -> WebhookType:
        """The hook's type; an empty type means `rollout`, as in Flagger."""
        return WebhookType(self.type or "rollout")


class CanaryAlert(ApiModel):
    name: str
    """Name of the alert."""
    severity: Literal["", "info", "warn", "error"] = ""
    """Lowest severity sent: info, warn or error; empty means info."""
    provider_ref: CrossNamespaceObjectReference
    """The AlertProvider that receives the alerts."""


class SessionAffinity(ApiModel):
    cookie_name: str
    """Cookie that keeps a user on the canary."""
    primary_cookie_name: str | None = None
    """Cookie that keeps a user on the primary."""
    domain: str | None = None
    """Domain attribute of the cookies."""
    http_only: bool | None = None
    """HttpOnly attribute of the cookies."""
    max_age: int = 86400
    """Lifetime of the cookies in seconds (default 86400)."""
    partitioned: bool | None = None
    """Partitioned attribute of the cookies."""
    path: str | None = None
    """Path attribute of the cookies."""
    same_site: Literal["Strict", "Lax", "None"] | None = None
    """SameSite attribute of the cookies."""
    secure: bool | None = None
    """Secure attribute of the cookies."""


_INCREASING = "stepWeights must increase from one step to the next, e.g. [5, 10, 25, 50]"


class Analysis(ApiModel):
    model_config = ConfigDict(json_schema_extra=_validations(
        ("!has(self.stepWeights) || (self.stepWeights.isSorted() && self.stepWeights.all("
         "w, self.stepWeights.indexOf(w) == self.stepWeights.lastIndexOf(w)))",
         _INCREASING, ".stepWeights")))

    interval: str = Field(default=DEFAULT_INTERVAL, pattern=DURATION_PATTERN)
    """Time between analysis steps, e.g. 30s or 1m (default 1m)."""
    iterations: int | None = Field(default=None, ge=0)
    """Number of checks for Blue/Green and A/B testing."""
    threshold: int | None = None
    """Failed checks tolerated before rollback; 0 or less means 1."""
    max_weight: int | None = Field(default=None, ge=0, le=100)
    """Highest canary traffic weight before promotion (default 100)."""
    step_weight: int | None = Field(default=None, ge=1, le=100)
    """Canary traffic weight added at every step."""
    step_weights: list[Annotated[int, Field(ge=1, le=100)]] | None = Field(
        default=None, max_length=100)
    """Canary traffic weights, one per step; ignored when stepWeight is set."""
    step_weight_promotion: int | None = Field(default=None, ge=0, le=100)
    """Weight moved back to the primary per step while promoting; 0 moves it at once."""
    mirror: bool | None = None
    """Mirror traffic to the canary before shifting it (Istio)."""
    mirror_weight: int | None = Field(default=None, ge=0, le=100)
    """Percentage of traffic mirrored to the canary."""
    primary_ready_threshold: int = Field(default=100, ge=0, le=100)
    """Percentage of primary pods that must be available (default 100)."""
    canary_ready_threshold: int = Field(default=100, ge=0, le=100)
    """Percentage of canary pods that must be available (default 100)."""
    match: list[JsonObject] | None = None
    """A/B testing conditions: headers, queryParams, sourceLabels."""
    session_affinity: SessionAffinity | None = None
    """Keep each user on the version they first reached, by cookie."""
    metrics: list[CanaryMetric] | None = None
    """Metric checks run at every step."""
    webhooks: list[CanaryWebhook] | None = None
    """Hooks and gates called during the rollout."""
    alerts: list[CanaryAlert] | None = None
    """Where alerts about this Canary go."""

    @model_validator(mode="after")
    def _check_steps(self) -> Analysis:
        weights = self.step_weights or []
        for index, weight in enumerate(weights):
            if not 1 <= weight <= 100:
                raise ValueError(
                    f"analysis.stepWeights[{index}] must be between 1 and 100 (got {weight})"
                )
        if any(later <= earlier for earlier, later in itertools.pairwise(weights)):
            raise ValueError(f"{_INCREASING} (got {weights})")
        return self

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)

    def webhooks_of(self, kind: WebhookType) -> list[CanaryWebhook]:
        """The webhooks of one type, in the spec's order."""
        return [hook for hook in self.webhooks or [] if hook.kind is kind]

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


def _analysis_required(schema: dict[str, Any]) -> None:
    # Flagger's CRD requires it. The model keeps it optional: a Canary stored without one
    # (before our CRD required it) is promoted at once, as skipAnalysis would.
    schema.setdefault("required", []).append("analysis")


class CanarySpec(ApiModel):
    model_config = ConfigDict(json_schema_extra=_analysis_required)

    target_ref: TargetRef
    """The workload to roll out."""
    service: CanaryService
    """The Services and routes in front of the workload."""
    analysis: Analysis | None = None
    """How a new revision is judged and traffic shifted; without it, it is promoted at once."""
    provider: Provider | None = None
    """Traffic router; empty means the operator's default (istio)."""
    metrics_server: str | None = None
    """Prometheus URL for the built-in metrics and inline queries."""
    progress_deadline_seconds: int = Field(default=DEFAULT_PROGRESS_DEADLINE_SECONDS, ge=0)
    """Seconds a rollout may stay unready before it fails (default 600)."""
    autoscaler_ref: AutoscalerRef | None = None
    """Autoscaler of the workload; a copy is made for the primary."""
    ingress_ref: IngressRef | None = None
    """Ingress in front of the workload (nginx provider)."""
    route_ref: RouteRef | None = None
    """Route in front of the workload (apisix provider)."""
    upstream_ref: UpstreamRef | None = None
    """Upstream to copy settings from (gloo provider)."""
    skip_analysis: bool = False
    """Promote new revisions without analysis."""
    revert_on_deletion: bool = False
    """Restore the workload and routes to their original state when the Canary is deleted."""
    suspend: bool = False
    """Pause the Canary: it is skipped until suspend is false again."""

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
    """What to roll out, how to route it and how to judge it."""
    status: CanaryStatus | None = None
    """Progress of the rollout, written by the operator."""

    @property
    def key(self) -> str:
        """`namespace/name`, as in error messages and logs."""
        return f"{self.metadata.namespace}/{self.metadata.name}"
