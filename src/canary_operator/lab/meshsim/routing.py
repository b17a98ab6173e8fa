"""From a VirtualService's rules to the workloads that answer its requests.

Requests follow the rules as Envoy would. Every simulated request satisfies the rule
unmatched requests take (the first rule without conditions, else the last: the default);
`match_share` percent of them also satisfy the first A/B rule before it (a rule matching on
anything but a `Cookie` header) and take that one instead. The simulated clients keep no
cookies, so rules matching only on a cookie (session affinity) get no requests. Within a
rule, requests are split by the destinations' weights. A rule's `mirror` shadows
`mirrorPercentage` of its requests (all by default) to another host: the shadow is answered
and reported by the destination's sidecar only, the original request still counts where it
was routed.

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
    rule: int = 0  # the index of the http rule routing these requests
    mirrored: bool = False  # shadowed requests, not routed ones


class Lookup(Protocol):
    def service(self, namespace: str, name: str) -> ServiceInfo | None: ...

    def selected(self, namespace: str, selector: Mapping[str, str]) -> Iterable[DeploymentInfo]:
        """The Deployments of `namespace` whose pod-template labels `selector` matches."""
        ...


def service_ref(host: str, namespace: str) -> ServiceRef:
    """The Service a destination host names, a short name being in `namespace`."""
    name, _, rest = host.partition(".")
    return ServiceRef(rest.split(".", 1)[0] if rest else namespace, name)


def rule_shares(vs: VirtualServiceInfo) -> list[float]:
    """The share (0..1) of `vs`'s requests each of its rules takes."""
    shares = [0.0] * len(vs.rules)
    default = vs.default_rule
    if default is None:
        return shares
    ab = next((index for index, rule in enumerate(vs.rules[:default])
               if rule.matches and not rule.on_cookie), None)
    matching = vs.match_share / 100 if ab is not None else 0.0
    shares[default] = 1.0 - matching
    if ab is not None:
        shares[ab] = matching
    return shares


def resolve(vs: VirtualServiceInfo, lookup: Lookup) -> tuple[Target, ...]:
    """The targets of every destination of the rules taking requests, weight-0 ones
    included (share 0), then those of their mirrors."""
    targets: list[Target] = []
    mirrors: list[Target] = []
    for index, (rule, rule_share) in enumerate(zip(vs.rules, rule_shares(vs), strict=True)):
        if rule_share <= 0 and index != vs.default_rule:
            continue
        total = sum(route.weight for route in rule.routes)
        for route in rule.routes:
            share = rule_share * route.weight / total if total > 0 else 0.0
            targets.extend(_targets(route.host, vs.namespace, share, lookup, index))
        if rule.mirror is not None and rule_share > 0 and rule.mirror_percent > 0:
            # A shadow nobody can answer is dropped by Envoy without a trace.
            mirrors.extend(
                target for target in _targets(rule.mirror, vs.namespace,
                                              rule_share * rule.mirror_percent / 100,
                                              lookup, index, mirrored=True)
                if target.workload is not None)
    return (*targets, *mirrors)


def _targets(host: str, namespace: str, share: float, lookup: Lookup, rule: int,
             mirrored: bool = False) -> list[Target]:
    ref = service_ref(host, namespace)
    service = lookup.service(ref.namespace, ref.name)
    if service is None:
        return [Target(host, ref, share, None, NO_CLUSTER, rule, mirrored)]
    ready = sorted(
        (d for d in lookup.selected(ref.namespace, service.selector)
         if d.available_replicas > 0),
        key=lambda d: d.name,
    )
    if not ready:
        return [Target(host, ref, share, None, NO_HEALTHY_UPSTREAM, rule, mirrored)]
    replicas = sum(d.available_replicas for d in ready)
    return [Target(host, ref, share * d.available_replicas / replicas, d, SERVED, rule,
                   mirrored) for d in ready]
