"""What the controller asks of a traffic router, whatever the mesh behind it."""

from __future__ import annotations

from typing import Protocol

from canary_operator.api import Canary


class RouterError(Exception):
    """The mesh objects of a Canary are not in a shape the router can work with; the
    message names the object and what is missing."""


class Router(Protocol):
    """Routes a Canary's traffic between its primary and canary Services."""

    async def reconcile(self, canary: Canary) -> None:
        """Create or refresh the mesh objects; never change the weights of live routes."""

    async def get_weights(self, canary: Canary) -> tuple[int, int] | None:
        """(primary, canary) weights now routed; None before the first reconcile."""

    async def set_weights(self, canary: Canary, primary: int, canary_weight: int) -> None:
        """Route `primary`% to the primary and `canary_weight`% to the canary.

        Raises ValueError unless both are integers in 0..100 summing to 100."""


def validate_weights(primary: object, canary: object) -> tuple[int, int]:
    """The weights if they are integers in 0..100 that sum to 100; ValueError otherwise."""
    primary_weight, canary_weight = _weight("primary", primary), _weight("canary", canary)
    if primary_weight + canary_weight != 100:
        raise ValueError(
            f"primary and canary weights must sum to 100 (got {primary_weight} + {canary_weight})"
        )
    return primary_weight, canary_weight


def _weight(name: str, weight: object) -> int:
    if isinstance(weight, bool) or not isinstance(weight, int):
        raise ValueError(f"{name} weight must be an integer (got {weight!r})")
    if not 0 <= weight <= 100:
        raise ValueError(f"{name} weight must be between 0 and 100 (got {weight})")
    return weight
