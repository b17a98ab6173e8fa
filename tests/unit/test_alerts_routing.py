"""Which Canary alerts receive which messages (Flagger's severity routing), and the public
surface of canary_operator.alerts."""

import pytest

from canary_operator import alerts
from canary_operator.alerts import AlertMessage, routes

# alert severity -> the message severities it receives
ROUTING = {
    "": {"info", "warn", "error"},
    "info": {"info", "warn", "error"},
    "warn": {"warn", "error"},
    "error": {"error"},
}


@pytest.mark.parametrize("alert_severity", list(ROUTING))
@pytest.mark.parametrize("message_severity", ["info", "warn", "error"])
def test_an_alert_receives_messages_at_or_above_its_severity(
    alert_severity: str, message_severity: str
) -> None:
    expected = message_severity in ROUTING[alert_severity]
    assert routes(alert_severity, message_severity) is expected


def test_the_routing_table_covers_every_severity_pair() -> None:
    assert sorted(ROUTING) == ["", "error", "info", "warn"]
    assert set(alerts.SEVERITIES) == {"info", "warn", "error"}


@pytest.mark.parametrize(("alert_severity", "message_severity"), [
    ("critical", "error"), ("info", "critical"), ("warn", ""),
])
def test_an_unknown_severity_on_either_side_receives_nothing(
    alert_severity: str, message_severity: str
) -> None:
    assert not routes(alert_severity, message_severity)


def test_the_cluster_is_shown_as_a_first_field_like_flaggers_cluster_name() -> None:
    message = AlertMessage("podinfo", "test", "info", "hi", (("Target", "Deployment/x.test"),),
                           cluster="eu-1")
    assert message.shown_fields() == (("Cluster", "eu-1"), ("Target", "Deployment/x.test"))
    assert AlertMessage("podinfo", "test", "info", "hi").shown_fields() == ()
    assert message.subject == "podinfo.test"


def test_exported_names_are_guarded() -> None:
    assert alerts.__all__ == [
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
    for name in alerts.__all__:
        assert hasattr(alerts, name), name


def test_config_and_delivery_errors_are_alert_errors() -> None:
    assert issubclass(alerts.AlertConfigError, alerts.AlertError)
    assert issubclass(alerts.AlertDeliveryError, alerts.AlertError)
    assert alerts.AlertDeliveryError("refused", status=500).status == 500
