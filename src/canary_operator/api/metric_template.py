"""MetricTemplate, `flagger.app/v1beta1`: a reusable query for a metrics provider."""

from __future__ import annotations

from typing import Literal

from canary_operator.api.base import ApiModel
from canary_operator.api.canary import LocalObjectReference, ObjectMeta

MetricProviderType = Literal[
    "prometheus", "influxdb", "datadog", "externalmetrics", "stackdriver", "cloudwatch",
    "newrelic", "graphite", "dynatrace", "keptn", "splunk",
]


class MetricTemplateProvider(ApiModel):
    type: MetricProviderType
    """Kind of metrics backend."""
    address: str | None = None
    """API address of the backend."""
    headers: dict[str, list[str]] | None = None
    """HTTP headers sent with every query."""
    secret_ref: LocalObjectReference | None = None
    """Secret with the backend's credentials (prometheus: token, or username and password)."""
    region: str | None = None
    """Region of the backend (cloudwatch)."""
    insecure_skip_verify: bool | None = None
    """Skip TLS certificate verification for the address."""


class MetricTemplateSpec(ApiModel):
    provider: MetricTemplateProvider
    """The backend that runs the query."""
    query: str
    """Query text with placeholders such as {{ target }}, {{ namespace }} and {{ interval }}."""


class MetricTemplate(ApiModel):
    api_version: Literal["flagger.app/v1beta1"] = "flagger.app/v1beta1"
    kind: Literal["MetricTemplate"] = "MetricTemplate"
    metadata: ObjectMeta
    spec: MetricTemplateSpec
