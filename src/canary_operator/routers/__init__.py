"""Traffic routers behind one Protocol; Istio first."""

from canary_operator.routers.istio import (
    IstioRouter,
    build_destination_rules,
    build_routes_patch,
    build_virtual_service,
)
from canary_operator.routers.istio_routes import (
    build_http,
    merge_match_conditions,
    read_affinity,
    read_routes,
)
from canary_operator.routers.protocol import (
    AffinityCookies,
    Router,
    RouterError,
    Routes,
    validate_routes,
    validate_weights,
)

__all__ = [
    "AffinityCookies",
    "IstioRouter",
    "Router",
    "RouterError",
    "Routes",
    "build_destination_rules",
    "build_http",
    "build_routes_patch",
    "build_virtual_service",
    "merge_match_conditions",
    "read_affinity",
    "read_routes",
    "validate_routes",
    "validate_weights",
]
