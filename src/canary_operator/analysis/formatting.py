"""Numbers and durations printed the way Flagger (Go's `%v`) prints them in events."""

from __future__ import annotations

import math
import re

_MS_PER_SECOND = 1000
_MS_PER_MINUTE = 60 * _MS_PER_SECOND
_MS_PER_HOUR = 60 * _MS_PER_MINUTE
_WHITESPACE = re.compile(r"\s+")


def go_number(value: float) -> str:
    """`%v` of a float64: 99 -> "99", 99.5 -> "99.5", 1e-05 -> "1e-05"."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def go_duration(milliseconds: int) -> str:
    """`time.Duration.String()` of whole milliseconds: 812ms, 1.5s, 2m0s, 1h0m0s."""
    if milliseconds == 0:
        return "0s"
    sign = "-" if milliseconds < 0 else ""
    rest = abs(milliseconds)
    if rest < _MS_PER_SECOND:
        return f"{sign}{rest}ms"
    hours, rest = divmod(rest, _MS_PER_HOUR)
    minutes, rest = divmod(rest, _MS_PER_MINUTE)
    whole, fraction = divmod(rest, _MS_PER_SECOND)
    seconds = f"{whole}" + (f".{fraction:03d}".rstrip("0") if fraction else "") + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return f"{sign}{seconds}"


def one_line(text: str) -> str:
    """A query or message on one line, for events and status messages."""
    return _WHITESPACE.sub(" ", text).strip()
