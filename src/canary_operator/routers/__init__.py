"""Traffic routers behind one Protocol; Istio first."""

from canary_operator.routers.istio import (
    IstioRouter,
    build_destination_rules,
    build_virtual_service,
    build_weight_patch,
    route_weights,
)
from canary_operator.routers.protocol import Router, RouterError, validate_weights

__all__ = [
    "IstioRouter",
    "Router",
    "RouterError",
    "build_destination_rules",
    "build_virtual_service",
    "build_weight_patch",
    "route_weights",
    "validate_weights",
]
