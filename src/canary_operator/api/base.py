"""What every model of our Kubernetes API shares: camelCase on the wire, frozen values."""

from __future__ import annotations

import re

import durationpy
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# The durations of the spec: Go's (`time.ParseDuration`, as Flagger reads them) that also
# pass Flagger's own CRD pattern, `^[0-9]+(m|s)`: a whole number of minutes or seconds
# first. Flagger's pattern is not anchored at the end, so "1m30" passes it and then fails
# every tick; this one is, so the API server rejects it at apply time.
DURATION_PATTERN = r"^[0-9]+(ms|m|s)([0-9]+(\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))*$"
# Everything time.ParseDuration accepts (durationpy also reads days and weeks; Go does not).
_GO_DURATION = re.compile(
    r"^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$")


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
    """Seconds in a Go duration such as "1m", "30s", "1m30s", "500ms", "1h", read as
    `time.ParseDuration` reads it."""
    if not _GO_DURATION.match(text):
        raise ValueError(f"{text!r} is not a duration like 30s, 1m or 1m30s")
    return float(durationpy.from_str(text).total_seconds())
