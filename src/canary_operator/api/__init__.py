"""Our Kubernetes API, `flagger.app/v1beta1`: the single source of truth for field names
and defaults; the CRDs in `crds/` are generated from these models."""

from canary_operator.api.base import ApiModel, parse_duration
from canary_operator.api.canary import (
    API_VERSION,
    GROUP,
    VERSION,
    Analysis,
    Canary,
    CanaryAlert,
    CanaryMetric,
    CanaryService,
    CanarySpec,
    CanaryWebhook,
    TargetRef,
    ThresholdRange,
    WebhookType,
)
from canary_operator.api.status import CanaryCondition, CanaryStatus, Phase

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "Analysis",
    "ApiModel",
    "Canary",
    "CanaryAlert",
    "CanaryCondition",
    "CanaryMetric",
    "CanaryService",
    "CanarySpec",
    "CanaryStatus",
    "CanaryWebhook",
    "Phase",
    "TargetRef",
    "ThresholdRange",
    "WebhookType",
    "parse_duration",
]
