"""Durations written the Go way (`time.ParseDuration`): `1m`, `90s`, `1h30m`, `250ms`.

Flagger users write them in hey's `-z` and in the load tester's `-timeout`; a bare number
is taken as seconds as well.
"""

from __future__ import annotations

import re

UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
         "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in `text`; `ValueError` when it is not a duration."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if seconds < 0:
            raise ValueError(f"invalid duration {text!r}: negative")
        return seconds
    sign = 1.0
    if value and value[0] in "+-":
        sign = -1.0 if value[0] == "-" else 1.0
        value = value[1:]
    if not value:
        raise ValueError(f"invalid duration {text!r}")
    total, position = 0.0, 0
    while position < len(value):
        match = _PART.match(value, position)
        if not match:
            raise ValueError(f"invalid duration {text!r} (e.g. 30s, 1m, 1h30m, 500ms)")
        total += float(match[1]) * UNITS[match[2]]
        position = match.end()
    if sign < 0 and total:
        raise ValueError(f"invalid duration {text!r}: negative")
    return total
