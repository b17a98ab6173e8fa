"""Alerts about Canaries to chat services (Flagger's AlertProvider types slack, msteams,
discord, rocket and gchat) and to a generic JSON `webhook`.

`routes` says whether a Canary's alert receives a message; `build_payload` shapes an
`AlertMessage` for a service (pure); `resolve_target` finds an AlertProvider's address,
token and proxy (reading its Secret); `AlertSender.send` POSTs the payload. Failures
raise `AlertError`, whose message names the AlertProvider and the fix.
"""

from canary_operator.alerts.errors import AlertConfigError, AlertDeliveryError, AlertError
from canary_operator.alerts.messages import SEVERITIES, AlertMessage, Severity, routes
from canary_operator.alerts.payloads import PROVIDER_TYPES, build_payload
from canary_operator.alerts.sending import AlertSender, request_headers
from canary_operator.alerts.targets import (
    AlertTarget,
    delivery_address,
    resolve_target,
    shown_address,
    target_from_provider,
    target_from_secret,
)

__all__ = [
    "PROVIDER_TYPES",
    "SEVERITIES",
    "AlertConfigError",
    "AlertDeliveryError",
    "AlertError",
    "AlertMessage",
    "AlertSender",
    "AlertTarget",
    "Severity",
    "build_payload",
    "delivery_address",
    "request_headers",
    "resolve_target",
    "routes",
    "shown_address",
    "target_from_provider",
    "target_from_secret",
]
