"""AlertProvider, `flagger.app/v1beta1`: where alerts about a Canary are sent."""

from __future__ import annotations

from typing import Literal

from canary_operator.api.base import ApiModel
from canary_operator.api.canary import LocalObjectReference, ObjectMeta


class AlertProviderSpec(ApiModel):
    type: Literal["slack", "msteams", "discord", "rocket", "gchat"]
    """Chat service to post to."""
    channel: str = "general"
    """Channel to post to (default general)."""
    username: str = "flagger"
    """Name the messages are posted as (default flagger)."""
    address: str | None = None
    """Webhook address of the chat service."""
    proxy: str | None = None
    """HTTP(S) proxy for the requests."""
    secret_ref: LocalObjectReference | None = None
    """Secret whose address key holds the webhook address (and token key, a token)."""


class AlertProvider(ApiModel):
    api_version: Literal["flagger.app/v1beta1"] = "flagger.app/v1beta1"
    kind: Literal["AlertProvider"] = "AlertProvider"
    metadata: ObjectMeta
    spec: AlertProviderSpec
