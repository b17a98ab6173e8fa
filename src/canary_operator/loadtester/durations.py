"""Durations written the Go way (`time.ParseDuration`): `1m`, `90s`, `1h30m`, `250ms`.

Flagger users write them in hey's `-z` and in the load tester's `-timeout`; a bare number
is taken as seconds as well. The Go syntax is read by the one parser of the project,
`api.base.parse_duration`.
"""

from __future__ import annotations

from canary_operator.api.base import parse_duration as parse_go_duration


def parse_duration(text: str) -> float:
    """Seconds in `text`; `ValueError` when it is not a duration, or a negative one."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = parse_go_duration(value)
    if seconds < 0:
        raise ValueError(f"invalid duration {text!r}: negative")
    return seconds
