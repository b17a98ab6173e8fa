"""What the controller asks of a traffic router, whatever the mesh behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from canary_operator.api import Canary


class RouterError(Exception):
    """The mesh objects of a Canary are not in a shape the router can work with; the
    message names the object and what is missing."""


@dataclass(frozen=True)
class Routes:
    """Where a Canary's traffic goes: `primary`% and `canary`% of it, and whether the
    primary's requests are also shadowed to the canary (`mirrored`).

    With A/B testing (`analysis.match`) the weights are those of the route taken by the
    matching requests; every other request goes to the primary."""

    primary: int
    canary: int
    mirrored: bool = False


@dataclass(frozen=True)
class AffinityCookies:
    """The session-affinity cookies routed on, each as `<name>=<value>`.

    `canary` keeps a user on the canary once it has answered them (set while the canary
    takes traffic); `primary` does the same for the primary (with
    `sessionAffinity.primaryCookieName`); `previous` is the canary cookie of an earlier
    analysis, answered with an expired copy so browsers drop it."""

    canary: str | None
    primary: str | None = None
    previous: str | None = None


class Router(Protocol):
    """Routes a Canary's traffic between its primary and canary Services."""

    async def reconcile(self, canary: Canary) -> None:
        """Create or refresh the mesh objects; never change the live routes (weights,
        mirroring, session-affinity cookies)."""

    async def sync(self, canary: Canary) -> bool:
        """Bring the existing mesh objects to the spec, keeping the live routes, with no
        request when nothing drifted; False when they do not exist yet."""

    async def get_routes(self, canary: Canary) -> Routes | None:
        """The routes live now; None before the first reconcile."""

    async def set_routes(self, canary: Canary, routes: Routes,
                         affinity: AffinityCookies | None = None) -> None:
        """Route as `routes` says, keeping users on their version by `affinity`'s cookies
        when the Canary asks for session affinity.

        Raises ValueError unless both weights are integers in 0..100 summing to 100."""


def validate_weights(primary: object, canary: object) -> tuple[int, int]:
    """The weights if they are integers in 0..100 that sum to 100; ValueError otherwise."""
    primary_weight, canary_weight = _weight("primary", primary), _weight("canary", canary)
    if primary_weight + canary_weight != 100:
        raise ValueError(
            f"primary and canary weights must sum to 100 (got {primary_weight} + {canary_weight})"
        )
    return primary_weight, canary_weight


def validate_routes(routes: Routes) -> Routes:
    """`routes` if its weights are valid (see `validate_weights`) and `mirrored` is a bool."""
    validate_weights(routes.primary, routes.canary)
    if not isinstance(routes.mirrored, bool):
        raise ValueError(f"mirrored must be a bool (got {routes.mirrored!r})")
    return routes


def _weight(name: str, weight: object) -> int:
    if isinstance(weight, bool) or not isinstance(weight, int):
        raise ValueError(f"{name} weight must be an integer (got {weight!r})")
    if not 0 <= weight <= 100:
        raise ValueError(f"{name} weight must be between 0 and 100 (got {weight})")
    return weight
