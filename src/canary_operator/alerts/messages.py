"""The alert as plain data, and Flagger's rule for which alerts a Canary's alert receives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Severity = Literal["info", "warn", "error"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)

# The lowest severity each alert severity receives; "" is the API's default and means info.
_RANK = {"info": 0, "warn": 1, "error": 2}


@dataclass(frozen=True)
class AlertMessage:
    """One alert about a Canary, before it is shaped for a service.

    `text` is Flagger's alert text ("Failed checks threshold reached 3"); `fields` are
    (name, value) pairs shown under it in order, such as ("Target",
    "Deployment/podinfo.test") or a failing metric's ("request-success-rate",
    "87.20 < 99 (min)"). `cluster`, when set, is shown as a first "Cluster" field, as
    Flagger does with its -cluster-name.
    """

    canary: str
    namespace: str
    severity: Severity
    text: str
    fields: tuple[tuple[str, str], ...] = ()
    cluster: str = ""

    @property
    def subject(self) -> str:
        """`<canary>.<namespace>`, the way Flagger names the Canary in its alerts."""
        return f"{self.canary}.{self.namespace}"

    def shown_fields(self) -> tuple[tuple[str, str], ...]:
        """The fields every chat service shows: the cluster first (when set), then ours."""
        if not self.cluster:
            return self.fields
        return (("Cluster", self.cluster), *self.fields)


def routes(alert_severity: str, message_severity: str) -> bool:
    """Whether a Canary alert of `alert_severity` receives a message of `message_severity`.

    Flagger's routing: "" and "info" receive everything, "warn" receives warn and error,
    "error" receives error only. An unknown severity on either side receives nothing.
    """
    wanted = _RANK.get(alert_severity or "info")
    sent = _RANK.get(message_severity)
    if wanted is None or sent is None:
        return False
    return sent >= wanted
