"""The few facts the simulator needs from VirtualServices, Services and Deployments.

Each `*_from` function takes the raw JSON of an object (as a watch delivers it) and keeps
only what routing and the behaviour model read, so thousands of objects stay cheap to hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from canary_operator.lab.meshsim.behaviour import Behaviour, behaviour_from_annotations
from canary_operator.lab.meshsim.labels import Peer, peer_from_pod_template


@dataclass(frozen=True)
class Route:
    """One destination of a VirtualService's first http route."""

    host: str
    weight: int


@dataclass(frozen=True)
class VirtualServiceInfo:
    namespace: str
    name: str
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class ServiceInfo:
    namespace: str
    name: str
    selector: Mapping[str, str]


@dataclass(frozen=True)
class DeploymentInfo:
    namespace: str
    name: str
    template_labels: Mapping[str, str]
    available_replicas: int
    peer: Peer
    behaviour: Behaviour
    problems: tuple[str, ...] = ()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in _mapping(value).items()}


def _identity(obj: Mapping[str, Any]) -> tuple[str, str]:
    metadata = _mapping(obj.get("metadata"))
    return str(metadata.get("namespace", "")), str(metadata.get("name", ""))


def virtual_service_from(obj: Mapping[str, Any]) -> VirtualServiceInfo:
    """The destinations and weights of the first http route.

    As in Istio, a lone destination without a weight takes all the traffic; among several,
    a missing weight counts as 0.
    """
    namespace, name = _identity(obj)
    http = _mapping(obj.get("spec")).get("http")
    first = _mapping(http[0]) if isinstance(http, list) and http else {}
    raw_routes = first.get("route")
    entries = [_mapping(r) for r in raw_routes] if isinstance(raw_routes, list) else []
    routes = []
    for entry in entries:
        host = _mapping(entry.get("destination")).get("host")
        if not isinstance(host, str) or not host:
            continue
        weight = entry.get("weight")
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
            weight = 100 if len(entries) == 1 and weight is None else 0
        routes.append(Route(host, weight))
    return VirtualServiceInfo(namespace, name, tuple(routes))


def service_from(obj: Mapping[str, Any]) -> ServiceInfo:
    namespace, name = _identity(obj)
    return ServiceInfo(namespace, name, _strings(_mapping(obj.get("spec")).get("selector")))


def deployment_from(obj: Mapping[str, Any]) -> DeploymentInfo:
    """The pod template's identity and behaviour, and how many replicas can serve."""
    namespace, name = _identity(obj)
    template = _mapping(_mapping(obj.get("spec")).get("template"))
    template_meta = _mapping(template.get("metadata"))
    labels = _strings(template_meta.get("labels"))
    pod_spec = _mapping(template.get("spec"))
    service_account = pod_spec.get("serviceAccountName") or "default"
    behaviour, problems = behaviour_from_annotations(
        _strings(template_meta.get("annotations")), f"Deployment {namespace}/{name}"
    )
    available = _mapping(obj.get("status")).get("availableReplicas") or 0
    return DeploymentInfo(
        namespace=namespace,
        name=name,
        template_labels=labels,
        available_replicas=int(available),
        peer=peer_from_pod_template(namespace, name, labels, str(service_account)),
        behaviour=behaviour,
        problems=problems,
    )
