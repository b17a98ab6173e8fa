"""What the metrics package promises its callers: query results, the provider seam, errors.

Errors raised while turning a Canary's metric into a query (provider failures are never
raised; they come back as `QueryResult.error`):

    ValueError
     └── MetricConfigError   the metric has no usable builtin name, query or template
          └── TemplateError  a query template cannot be rendered (unknown key, bad action)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


class MetricConfigError(ValueError):
    """A Canary metric cannot be turned into a query; the message names the fix."""


class TemplateError(MetricConfigError):
    """A query template uses a key or an action we cannot render (Flagger: missingkey=error).

    `key` is the offending key or action as written (None for a syntax error such as an
    unclosed `{{`); `template` is the template text.
    """

    def __init__(self, message: str, *, key: str | None, template: str) -> None:
        super().__init__(message)
        self.key = key
        self.template = template


@dataclass(frozen=True)
class QueryResult:
    """One instant query's outcome: a value, no data, or a provider error.

    `value is None and error is None` is "no values found": an empty vector, or NaN such as
    0/0 when the target gets no traffic. The controller reports it as its own outcome.

    `invalid` tells an error that asking again cannot cure (the query or its configuration
    is wrong: rejected as bad data, refused credentials, a matrix instead of a number)
    from an outage (no connection, a timeout, a 5xx, a 429): the first is a failed check,
    the second holds the analysis (`analysis.checks`).
    """

    query: str
    value: float | None
    error: str | None = None
    invalid: bool = False

    @property
    def ok(self) -> bool:
        """True when the provider answered with a number."""
        return self.error is None and self.value is not None

    @property
    def no_data(self) -> bool:
        """True when the provider answered but had no value (Flagger's "no values found")."""
        return self.error is None and self.value is None


@dataclass(frozen=True)
class SeriesResult:
    """An instant query's whole vector: each series' labels and value (None for NaN), or
    the provider error. Used when one query answers for many workloads at once."""

    query: str
    series: tuple[tuple[Mapping[str, str], float | None], ...]
    error: str | None = None
    invalid: bool = False  # as in QueryResult


class MetricProvider(Protocol):
    """A metrics backend that answers instant queries; it never raises for backend failures."""

    async def query(self, promql: str) -> QueryResult: ...

    async def is_online(self) -> bool:
        """True when the backend answers `vector(1)` with 1."""
        ...
