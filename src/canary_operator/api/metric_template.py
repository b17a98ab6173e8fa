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
    address: str | None = None
    headers: dict[str, list[str]] | None = None
    secret_ref: LocalObjectReference | None = None
    region: str | None = None
    insecure_skip_verify: bool | None = None


class MetricTemplateSpec(ApiModel):
    provider: MetricTemplateProvider
    query: str


class MetricTemplate(ApiModel):
    api_version: Literal["flagger.app/v1beta1"] = "flagger.app/v1beta1"
    kind: Literal["MetricTemplate"] = "MetricTemplate"
    metadata: ObjectMeta
    spec: MetricTemplateSpec
