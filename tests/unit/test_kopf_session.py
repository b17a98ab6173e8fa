"""kopf's session is bounded: a place per watch stream plus a share for requests, with
kopf's own credentials."""

from __future__ import annotations

import kopf

import canary_operator.operator  # noqa: F401  (registers the handlers on kopf's registry)
from canary_operator.kube.kopf_session import (
    REQUEST_CONNECTIONS,
    WATCHED_KINDS,
    bounded_session,
    pool_size,
)


def test_the_pool_has_a_place_per_watch_stream_and_the_requests_share() -> None:
    assert pool_size((), peering=False) == WATCHED_KINDS + REQUEST_CONNECTIONS
    assert pool_size(("a", "b", "c"), peering=False) == 3 * WATCHED_KINDS + REQUEST_CONNECTIONS
    assert pool_size(("a", "b"), peering=True) == 2 * (WATCHED_KINDS + 1) + REQUEST_CONNECTIONS


def test_watched_kinds_counts_every_kind_the_operator_registers() -> None:
    # kopf has no public listing of the watched resources; its registries are read here so
    # that a new index or handler on another kind fails this test until counted.
    registry = kopf.get_default_registry()
    selectors = set().union(*(part.get_all_selectors() for part in (
        registry._indexing, registry._watching, registry._spawning, registry._changing)))
    assert len(selectors) == WATCHED_KINDS


async def test_the_session_carries_kopfs_credentials_on_a_bounded_pool() -> None:
    info = kopf.ConnectionInfo(server="https://127.0.0.1:6443", scheme="Bearer",
                               token="t0k3n", default_namespace="team-a", priority=5)
    context = bounded_session(info, 40)
    session = context.aiohttp_session
    try:
        assert session.connector is not None and session.connector.limit == 40
        assert session.headers["Authorization"] == "Bearer t0k3n"
        assert (context.server, context.default_namespace, context.priority) == (
            "https://127.0.0.1:6443", "team-a", 5)
    finally:
        await session.close()
