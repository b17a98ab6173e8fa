"""AlertProvider, `flagger.app/v1beta1`: where alerts about a Canary are sent."""

from __future__ import annotations

from typing import Literal

from canary_operator.api.base import ApiModel
from canary_operator.api.canary import LocalObjectReference, ObjectMeta

AlertProviderType = Literal["slack", "msteams", "discord", "rocket", "gchat", "webhook"]
"""Flagger's five chat services, plus our generic JSON `webhook`."""


class AlertProviderSpec(ApiModel):
    type: AlertProviderType
    """Service to post to: slack, msteams, discord, rocket, gchat, or webhook (generic JSON)."""
    channel: str = "general"
    """Channel to post to (default general)."""
    username: str = "flagger"
    """Name the messages are posted as (default flagger)."""
    address: str | None = None
    """Webhook address of the chat service."""
    proxy: str | None = None
    """HTTP(S) proxy for the requests."""
    secret_ref: LocalObjectReference | None = None
    """Secret with an address key (wins over address) and an optional token key (a token)."""


class AlertProvider(ApiModel):
    api_version: Literal["flagger.app/v1beta1"] = "flagger.app/v1beta1"
    kind: Literal["AlertProvider"] = "AlertProvider"
    metadata: ObjectMeta
    spec: AlertProviderSpec
