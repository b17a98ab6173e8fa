"""The body of every gate and task request: the Canary webhook payload.

The operator (like Flagger) posts `{"name", "namespace", "phase", "checksum", "metadata"}`.
People opening a gate by hand usually send less (`curl -d '{"name": "podinfo",
"namespace": "test"}' .../gate/open`, as Flagger's docs show), so only `name` and
`namespace` are required; the other fields are checked for their type when present.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field


class PayloadError(ValueError):
    """The request body is not a webhook payload; the message says what is wrong."""


@dataclass(frozen=True)
class WebhookPayload:
    name: str
    namespace: str
    phase: str = ""
    checksum: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def canary(self) -> str:
        """`<name>.<namespace>`: the key of the canary's gates and tasks (Flagger's)."""
        return f"{self.name}.{self.namespace}"


REQUIRED = ("name", "namespace")
OPTIONAL = ("phase", "checksum")


def parse_payload(body: bytes | str) -> WebhookPayload:
    """Decode and check a request body; `PayloadError` names the first problem."""
    if not body or (isinstance(body, bytes) and not body.strip()):
        raise PayloadError("the body is empty: send the Canary webhook payload as JSON "
                           "with at least `name` and `namespace`")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise PayloadError(f"the body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise PayloadError(f"the body must be a JSON object, not {type(data).__name__}")
    for key in REQUIRED:
        value = data.get(key)
        if value is None:
            raise PayloadError(f"the payload has no `{key}` field")
        if not isinstance(value, str) or not value:
            raise PayloadError(f"the payload's `{key}` must be a non-empty string")
    for key in OPTIONAL:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise PayloadError(f"the payload's `{key}` must be a string")
    raw_metadata = data.get("metadata") or {}
    if not isinstance(raw_metadata, dict):
        raise PayloadError("the payload's `metadata` must be an object of strings")
    metadata: dict[str, str] = {}
    for key, value in raw_metadata.items():
        if not isinstance(value, str):
            raise PayloadError(
                f"the payload's `metadata.{key}` must be a string (Flagger's metadata is a "
                "map of strings: quote numbers and booleans)")
        metadata[key] = value
    return WebhookPayload(
        name=data["name"], namespace=data["namespace"], phase=data.get("phase") or "",
        checksum=data.get("checksum") or "", metadata=metadata,
    )
