"""What the simulator is doing, for a live view: `MeshSimulator.snapshot()`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from canary_operator.lab.meshsim.behaviour import Behaviour


@dataclass(frozen=True)
class RouteView:
    """One destination of a VirtualService's http rule (or its mirror) and the requests
    sent to it so far."""

    host: str
    weight: int  # for a mirror: the percentage of the rule's requests shadowed
    workloads: tuple[str, ...]  # the Deployments answering; () when Envoy answers 503
    response_flags: str  # "-" served, "UH" no healthy upstream, "NC" no such Service
    requests: int
    errors: int  # answered with the workload's error code, or Envoy's 503
    rule: int = 0  # the index of the http rule
    mirror: bool = False  # the rule's mirror: shadowed requests


@dataclass(frozen=True)
class VirtualServiceView:
    namespace: str
    name: str
    routes: tuple[RouteView, ...]


@dataclass(frozen=True)
class WorkloadView:
    """A Deployment that has answered requests (counters never go down)."""

    namespace: str
    name: str
    requests: int
    errors: int
    behaviour: Behaviour


@dataclass(frozen=True)
class Snapshot:
    rps: float  # requests per second per VirtualService
    virtual_services: tuple[VirtualServiceView, ...]
    workloads: tuple[WorkloadView, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain data (e.g. for JSON): `{"rps": .., "virtual_services": {"ns/name": [..]},
        "workloads": {"ns/name": {..}}}`."""
        return {
            "rps": self.rps,
            "virtual_services": {
                f"{vs.namespace}/{vs.name}": [asdict(route) for route in vs.routes]
                for vs in self.virtual_services
            },
            "workloads": {
                f"{w.namespace}/{w.name}": {
                    "requests": w.requests, "errors": w.errors, **asdict(w.behaviour),
                }
                for w in self.workloads
            },
        }
