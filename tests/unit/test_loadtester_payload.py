"""The webhook payload: what is required, what is checked, and the messages."""

from __future__ import annotations

import json

import pytest

from canary_operator.loadtester.payload import PayloadError, parse_payload


def test_the_operator_s_payload() -> None:
    body = json.dumps({"name": "podinfo", "namespace": "test", "phase": "Progressing",
                       "checksum": "5f4c", "metadata": {"type": "cmd", "cmd": "hey x"}})
    payload = parse_payload(body.encode())
    assert (payload.name, payload.namespace, payload.phase) == ("podinfo", "test", "Progressing")
    assert payload.checksum == "5f4c"
    assert payload.metadata == {"type": "cmd", "cmd": "hey x"}
    assert payload.canary == "podinfo.test"


def test_only_name_and_namespace_are_required() -> None:
    payload = parse_payload('{"name": "podinfo", "namespace": "test", "metadata": null}')
    assert (payload.phase, payload.checksum, dict(payload.metadata)) == ("", "", {})


@pytest.mark.parametrize(("body", "message"), [
    ("", "body is empty"),
    (b"  \n", "body is empty"),
    ("{", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    ("[1, 2]", "a JSON object, not list"),
    ('{"namespace": "test"}', "no `name` field"),
    ('{"name": "podinfo"}', "no `namespace` field"),
    ('{"name": "podinfo", "namespace": null}', "no `namespace` field"),
    ('{"name": 3, "namespace": "test"}', "`name` must be a non-empty string"),
    ('{"name": "p", "namespace": "t", "phase": 1}', "`phase` must be a string"),
    ('{"name": "p", "namespace": "t", "checksum": []}', "`checksum` must be a string"),
    ('{"name": "p", "namespace": "t", "metadata": ["cmd"]}', "`metadata` must be an object"),
    ('{"name": "p", "namespace": "t", "metadata": {"blocking": true}}',
     "`metadata.blocking` must be a string"),
])
def test_bodies_that_are_not_the_payload(body: str | bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message.replace("[", r"\[")):
        parse_payload(body)
