"""The JSON each service is sent for an alert: pure builders, no I/O and no clock.

Shapes follow what Flagger posts (`pkg/notifier`), with these deliberate differences:

- warn has its own color (Flagger colors only error differently);
- Slack gets `&`, `<` and `>` escaped as Slack requires, and Google Chat gets its
  HTML escaped, so a check like "87.20 < 99 (min)" shows as written;
- Google Chat gets a `cardsV2` card (the format Chat documents for webhooks) with one
  labelled line per field, and a plain-text fallback for notifications;
- `webhook` is ours: the alert as plain JSON, for anything that is not a chat.

Every builder shows the text and every field (the cluster first when set): a failing
check's value and threshold reach the reader whichever service they use.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, get_args

from canary_operator.alerts.errors import AlertConfigError
from canary_operator.alerts.messages import AlertMessage, Severity
from canary_operator.api.alert_provider import AlertProviderType

JsonDict = dict[str, Any]
PROVIDER_TYPES: tuple[AlertProviderType, ...] = get_args(AlertProviderType)

SLACK_COLORS: Mapping[Severity, str] = {"info": "good", "warn": "warning", "error": "danger"}
HEX_COLORS: Mapping[Severity, str] = {"info": "0076D7", "warn": "FFA500", "error": "FF0000"}
ICON_EMOJI = ":rocket:"


def build_payload(provider_type: AlertProviderType, message: AlertMessage, *,
                  channel: str = "general", username: str = "flagger",
                  sent_at: datetime | None = None) -> JsonDict:
    """The JSON body to POST to a `provider_type` service for `message`.

    `channel` and `username` are the AlertProvider's (the chat services that take them
    use them); `sent_at` is only shown by `webhook`, as its `timestamp`.
    """
    match provider_type:
        case "slack":
            return slack_payload(message, channel, username)
        case "discord":
            return discord_payload(message, channel, username)
        case "rocket":
            return rocket_payload(message, channel, username)
        case "msteams":
            return msteams_payload(message)
        case "gchat":
            return gchat_payload(message, username)
        case "webhook":
            return webhook_payload(message, sent_at)
    raise AlertConfigError(
        f"alert provider type {provider_type!r} is not supported; use one of "
        f"{', '.join(PROVIDER_TYPES)}"
    )


def slack_payload(message: AlertMessage, channel: str, username: str) -> JsonDict:
    """Slack's incoming-webhook message: one attachment colored by severity, with fields."""
    return _slack_shaped(message, channel, username, SLACK_COLORS[message.severity],
                         escape=_slack_escape)


def discord_payload(message: AlertMessage, channel: str, username: str) -> JsonDict:
    """Discord takes Slack's shape at `<webhook>/slack` (see `targets.delivery_address`)."""
    return _slack_shaped(message, channel, username, SLACK_COLORS[message.severity],
                         escape=_as_is)


def rocket_payload(message: AlertMessage, channel: str, username: str) -> JsonDict:
    """Rocket.Chat's incoming webhook takes Slack's shape, with hex colors."""
    return _slack_shaped(message, channel, username, f"#{HEX_COLORS[message.severity]}",
                         escape=_as_is)


def msteams_payload(message: AlertMessage) -> JsonDict:
    """A Microsoft Teams MessageCard: the text as title, the fields as facts."""
    return {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": HEX_COLORS[message.severity],
        "summary": message.subject,
        "sections": [{
            "activityTitle": message.text,
            "activitySubtitle": message.subject,
            "facts": [{"name": name, "value": value} for name, value in message.shown_fields()],
        }],
    }


def gchat_payload(message: AlertMessage, username: str) -> JsonDict:
    """A Google Chat card: the text, then one labelled line per field."""
    widgets: list[JsonDict] = [
        {"textParagraph": {"text": f"<b>{html.escape(message.text)}</b>"}},
    ]
    widgets.extend(
        {"decoratedText": {"topLabel": html.escape(name), "text": html.escape(value),
                           "wrapText": True}}
        for name, value in message.shown_fields()
    )
    return {
        "fallbackText": f"{message.subject}: {message.text}",
        "cardsV2": [{
            "cardId": f"canary-{message.subject}",
            "card": {
                "header": {"title": username, "subtitle": message.subject},
                "sections": [{"widgets": widgets}],
            },
        }],
    }


def webhook_payload(message: AlertMessage, sent_at: datetime | None = None) -> JsonDict:
    """The alert as plain JSON: `fields` is an object in the message's order.

    A field name seen again gets " (2)", " (3)", ... so that no field is lost;
    `timestamp` (RFC 3339, UTC) is there only when `sent_at` is given.
    """
    payload: JsonDict = {
        "canary": message.canary,
        "namespace": message.namespace,
        "severity": message.severity,
        "text": message.text,
        "fields": _unique_keys(message.fields),
        "cluster": message.cluster,
    }
    if sent_at is not None:
        payload["timestamp"] = _rfc3339(sent_at)
    return payload


def _slack_shaped(message: AlertMessage, channel: str, username: str, color: str, *,
                  escape: Callable[[str], str]) -> JsonDict:
    return {
        "channel": channel,
        "username": username,
        "icon_emoji": ICON_EMOJI,
        "attachments": [{
            "color": color,
            "author_name": message.subject,
            "fallback": escape(f"{message.subject}: {message.text}"),
            "text": escape(message.text),
            "mrkdwn_in": ["text"],
            "fields": [
                {"title": escape(name), "value": escape(value), "short": False}
                for name, value in message.shown_fields()
            ],
        }],
    }


def _slack_escape(text: str) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _as_is(text: str) -> str:
    return text


def _unique_keys(fields: tuple[tuple[str, str], ...]) -> dict[str, str]:
    unique: dict[str, str] = {}
    for name, value in fields:
        key, seen = name, 1
        while key in unique:
            seen += 1
            key = f"{name} ({seen})"
        unique[key] = value
    return unique


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"sent_at must be timezone-aware (got {moment.isoformat()})")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")

