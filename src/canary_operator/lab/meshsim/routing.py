"""From a VirtualService's weights to the workloads that answer its requests.

A destination host (`podinfo-canary`, `podinfo-canary.test`, or the FQDN
`podinfo-canary.test.svc.cluster.local`) names a Service; a short name is relative to the
VirtualService's namespace. The Service's selector picks the Deployments whose pod-template
labels match it, and the destination's share is split between them by available replicas,
as kube-proxy and Envoy spread requests over ready endpoints.

When nobody can answer, Envoy answers at the source: 503 with response flag `NC` (no
cluster: the Service does not exist) or `UH` (no healthy upstream: no available replica).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from canary_operator.lab.meshsim.labels import ServiceRef
from canary_operator.lab.meshsim.objects import DeploymentInfo, ServiceInfo, VirtualServiceInfo

SERVED = "-"
NO_CLUSTER = "NC"
NO_HEALTHY_UPSTREAM = "UH"


@dataclass(frozen=True)
class Target:
    """Where a share of a VirtualService's requests ends up."""

    host: str
    service: ServiceRef
    share: float  # of the VirtualService's requests, 0..1
    workload: DeploymentInfo | None  # None: Envoy answers 503 itself
    response_flags: str = SERVED


class Lookup(Protocol):
    def service(self, namespace: str, name: str) -> ServiceInfo | None: ...

    def deployments(self, namespace: str) -> Iterable[DeploymentInfo]: ...


def service_ref(host: str, namespace: str) -> ServiceRef:
    """The Service a destination host names, a short name being in `namespace`."""
    name, _, rest = host.partition(".")
    return ServiceRef(rest.split(".", 1)[0] if rest else namespace, name)


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A Service selector matches the labels (an empty selector matches no pods)."""
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def resolve(vs: VirtualServiceInfo, lookup: Lookup) -> tuple[Target, ...]:
    """The targets of every destination of `vs`, weight-0 ones included (share 0)."""
    total = sum(route.weight for route in vs.routes)
    targets: list[Target] = []
    for route in vs.routes:
        share = route.weight / total if total > 0 else 0.0
        ref = service_ref(route.host, vs.namespace)
        service = lookup.service(ref.namespace, ref.name)
        if service is None:
            targets.append(Target(route.host, ref, share, None, NO_CLUSTER))
            continue
        ready = sorted(
            (d for d in lookup.deployments(ref.namespace)
             if d.available_replicas > 0 and selects(service.selector, d.template_labels)),
            key=lambda d: d.name,
        )
        replicas = sum(d.available_replicas for d in ready)
        if not ready:
            targets.append(Target(route.host, ref, share, None, NO_HEALTHY_UPSTREAM))
            continue
        targets.extend(
            Target(route.host, ref, share * d.available_replicas / replicas, d)
            for d in ready
        )
    return tuple(targets)
