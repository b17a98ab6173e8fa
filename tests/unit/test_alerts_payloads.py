"""What each service is sent: Flagger's shapes, every field and the text in all of them."""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import pytest

from canary_operator.alerts import PROVIDER_TYPES, AlertConfigError, AlertMessage, build_payload
from canary_operator.api.alert_provider import AlertProviderSpec, AlertProviderType

FIELDS = (
    ("Target", "Deployment/podinfo.test"),
    ("Failed checks threshold", "3"),
    ("Progress deadline", "600s"),
    ("Traffic routing", "Weight step: 10 max: 50"),
    ("request-success-rate", "87.20 below 99 (min)"),
)
FAILED = AlertMessage("podinfo", "test", "error", "Failed checks threshold reached 3", FIELDS,
                      cluster="eu-west-1")


def payload(provider_type: AlertProviderType, message: AlertMessage = FAILED,
            **options: Any) -> dict[str, Any]:
    return build_payload(provider_type, message, channel="on-call", username="canary-bot",
                         **options)


def test_every_type_of_the_api_has_a_builder() -> None:
    assert get_args(AlertProviderType) == PROVIDER_TYPES
    assert set(PROVIDER_TYPES) == {"slack", "msteams", "discord", "rocket", "gchat", "webhook"}
    assert get_args(AlertProviderSpec.model_fields["type"].annotation) == PROVIDER_TYPES


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
def test_every_type_shows_the_text_and_every_field_name_and_value(
    provider_type: AlertProviderType,
) -> None:
    sent = json.dumps(payload(provider_type), ensure_ascii=False)
    assert FAILED.text in sent
    for name, value in FIELDS:
        assert json.dumps(name)[1:-1] in sent, name
        assert json.dumps(value)[1:-1] in sent, value
    assert "eu-west-1" in sent


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
def test_every_type_names_the_canary(provider_type: AlertProviderType) -> None:
    sent = json.dumps(payload(provider_type))
    assert "podinfo" in sent
    assert "test" in sent


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
def test_every_type_builds_a_message_without_fields(provider_type: AlertProviderType) -> None:
    message = AlertMessage("podinfo", "test", "info", "New revision detected, progressing "
                           "canary analysis.")
    assert message.text in json.dumps(payload(provider_type, message))


def test_slack_is_one_attachment_colored_by_severity_with_every_field_in_order() -> None:
    sent = payload("slack")
    assert sent["channel"] == "on-call"
    assert sent["username"] == "canary-bot"
    assert sent["icon_emoji"] == ":rocket:"
    [attachment] = sent["attachments"]
    assert attachment["color"] == "danger"
    assert attachment["author_name"] == "podinfo.test"
    assert attachment["text"] == "Failed checks threshold reached 3"
    assert attachment["mrkdwn_in"] == ["text"]
    assert attachment["fields"] == [
        {"title": name, "value": value, "short": False}
        for name, value in (("Cluster", "eu-west-1"), *FIELDS)
    ]


@pytest.mark.parametrize(("severity", "slack", "hex_color"), [
    ("info", "good", "0076D7"), ("warn", "warning", "FFA500"), ("error", "danger", "FF0000"),
])
def test_colors_follow_the_severity(severity: Any, slack: str, hex_color: str) -> None:
    message = AlertMessage("podinfo", "test", severity, "text")
    assert payload("slack", message)["attachments"][0]["color"] == slack
    assert payload("discord", message)["attachments"][0]["color"] == slack
    assert payload("rocket", message)["attachments"][0]["color"] == f"#{hex_color}"
    assert payload("msteams", message)["themeColor"] == hex_color


def test_slack_escapes_its_control_characters_so_a_comparison_shows_as_written() -> None:
    message = AlertMessage("podinfo", "test", "warn", "Halt: latency > 500 & rising",
                           (("request-duration", "612 > 500 (max)"),
                            ("request-success-rate", "87.20 < 99 (min)")))
    attachment = payload("slack", message)["attachments"][0]
    assert attachment["text"] == "Halt: latency &gt; 500 &amp; rising"
    assert [field["value"] for field in attachment["fields"]] == [
        "612 &gt; 500 (max)", "87.20 &lt; 99 (min)",
    ]


def test_discord_and_rocket_take_slacks_shape_without_slacks_escaping() -> None:
    message = AlertMessage("podinfo", "test", "error", "text",
                           (("request-success-rate", "87.20 < 99 (min)"),))
    for provider_type in ("discord", "rocket"):
        sent = payload(provider_type, message)
        assert sent["channel"] == "on-call"
        assert sent["username"] == "canary-bot"
        [attachment] = sent["attachments"]
        assert attachment["author_name"] == "podinfo.test"
        assert attachment["fields"] == [
            {"title": "request-success-rate", "value": "87.20 < 99 (min)", "short": False},
        ]


def test_msteams_is_a_message_card_with_the_fields_as_facts() -> None:
    sent = payload("msteams")
    assert sent["@type"] == "MessageCard"
    assert sent["@context"] == "http://schema.org/extensions"
    assert sent["summary"] == "podinfo.test"
    [section] = sent["sections"]
    assert section["activityTitle"] == "Failed checks threshold reached 3"
    assert section["activitySubtitle"] == "podinfo.test"
    assert section["facts"] == [
        {"name": name, "value": value} for name, value in (("Cluster", "eu-west-1"), *FIELDS)
    ]


def test_gchat_is_a_card_with_the_text_then_one_labelled_line_per_field() -> None:
    message = AlertMessage("podinfo", "test", "error", "Failed checks threshold reached 3",
                           (("request-success-rate", "87.20 < 99 (min)"),))
    sent = payload("gchat", message)
    assert sent["fallbackText"] == "podinfo.test: Failed checks threshold reached 3"
    [card] = sent["cardsV2"]
    assert card["card"]["header"] == {"title": "canary-bot", "subtitle": "podinfo.test"}
    [section] = card["card"]["sections"]
    assert section["widgets"] == [
        {"textParagraph": {"text": "<b>Failed checks threshold reached 3</b>"}},
        {"decoratedText": {"topLabel": "request-success-rate", "text": "87.20 &lt; 99 (min)",
                           "wrapText": True}},
    ]


def test_webhook_is_the_alert_as_plain_json() -> None:
    sent = payload("webhook", sent_at=datetime(2025, 5, 1, 12, 0, 3, tzinfo=UTC))
    assert sent == {
        "canary": "podinfo",
        "namespace": "test",
        "severity": "error",
        "text": "Failed checks threshold reached 3",
        "fields": dict(FIELDS),
        "cluster": "eu-west-1",
        "timestamp": "2025-05-01T12:00:03Z",
    }
    assert list(sent["fields"]) == [name for name, _ in FIELDS]


def test_webhook_has_no_timestamp_unless_given_and_converts_it_to_utc() -> None:
    assert "timestamp" not in payload("webhook")
    two_hours_east = timezone(timedelta(hours=2))
    sent = payload("webhook", sent_at=datetime(2025, 5, 1, 14, 0, tzinfo=two_hours_east))
    assert sent["timestamp"] == "2025-05-01T12:00:00Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        payload("webhook", sent_at=datetime(2025, 5, 1, 14, 0))


def test_webhook_keeps_a_repeated_field_name_under_a_numbered_key() -> None:
    message = AlertMessage("podinfo", "test", "warn", "text",
                           (("check", "a"), ("check", "b"), ("check", "c")))
    assert payload("webhook", message)["fields"] == {
        "check": "a", "check (2)": "b", "check (3)": "c",
    }


def test_the_builder_is_pure() -> None:
    assert payload("webhook") == payload("webhook")
    assert payload("gchat") == payload("gchat")


def test_an_unknown_type_names_the_supported_ones() -> None:
    with pytest.raises(AlertConfigError, match="'pagerduty' is not supported; use one of "
                       "slack, msteams, discord, rocket, gchat, webhook"):
        build_payload("pagerduty", FAILED, channel="c", username="u")  # type: ignore[arg-type]
