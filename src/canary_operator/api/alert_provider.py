"""AlertProvider, `flagger.app/v1beta1`: where alerts about a Canary are sent."""

from __future__ import annotations

from typing import Literal

from canary_operator.api.base import ApiModel
from canary_operator.api.canary import LocalObjectReference, ObjectMeta


class AlertProviderSpec(ApiModel):
    type: Literal["slack", "msteams", "discord", "rocket", "gchat"]
    channel: str = "general"
    username: str = "flagger"
    address: str | None = None
    proxy: str | None = None
    secret_ref: LocalObjectReference | None = None


class AlertProvider(ApiModel):
    api_version: Literal["flagger.app/v1beta1"] = "flagger.app/v1beta1"
    kind: Literal["AlertProvider"] = "AlertProvider"
    metadata: ObjectMeta
    spec: AlertProviderSpec
