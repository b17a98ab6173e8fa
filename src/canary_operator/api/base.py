"""What every model of our Kubernetes API shares: camelCase on the wire, frozen values."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# Flagger's own pattern: a number then m or s (unanchored at the end, so "1m30s" passes too).
DURATION_PATTERN = r"^[0-9]+(m|s)"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


class ApiModel(BaseModel):
    """A frozen model read from and written to the API in camelCase.

    Unknown fields are ignored: the API server prunes them with the structural schema
    anyway, and an operator that crashes on a newer field would stop serving everyone.
    A string literal under a field is its description (`kubectl explain` shows it).
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="ignore",
        use_enum_values=False,
        use_attribute_docstrings=True,
    )

    def to_api(self) -> dict[str, object]:
        """The camelCase JSON form, without unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration such as "1m", "30s", "1m30s", "500ms", "1h"."""
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position == 0 or position != len(text):
        raise ValueError(f"{text!r} is not a duration like 30s, 1m or 1m30s")
    return total
