"""The few facts the simulator needs from VirtualServices, Services and Deployments.

Each `*_from` function takes the raw JSON of an object (as a watch delivers it) and keeps
only what routing and the behaviour model read, so thousands of objects stay cheap to hold.

A VirtualService is kept as its http rules, in order: each rule's weighted destinations,
whether it matches on anything but a `Cookie` header (an A/B rule, in the model's terms),
and where it mirrors to. The annotation `lab.canary-operator.dev/match-share` (percent,
default 10) says how many of its requests match the A/B rule (see `routing`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from canary_operator.lab.meshsim.behaviour import (
    ANNOTATION_PREFIX,
    Behaviour,
    behaviour_from_annotations,
)
from canary_operator.lab.meshsim.labels import Peer, peer_from_pod_template

MATCH_SHARE = ANNOTATION_PREFIX + "match-share"
DEFAULT_MATCH_SHARE = 10.0
COOKIE_HEADER = "cookie"


@dataclass(frozen=True)
class Route:
    """One weighted destination of an http rule."""

    host: str
    weight: int


@dataclass(frozen=True)
class HttpRule:
    """One http rule of a VirtualService."""

    routes: tuple[Route, ...]
    matches: bool = False  # has match conditions
    on_cookie: bool = False  # every condition needs a Cookie header
    mirror: str | None = None  # the host shadowed requests go to
    mirror_percent: float = 100.0  # of the rule's requests


@dataclass(frozen=True)
class VirtualServiceInfo:
    namespace: str
    name: str
    rules: tuple[HttpRule, ...]
    match_share: float = DEFAULT_MATCH_SHARE  # percent of requests matching an A/B rule
    problems: tuple[str, ...] = ()

    @property
    def default_rule(self) -> int | None:
        """The index of the rule unmatched requests take: the first without conditions,
        else the last; None without rules."""
        for index, rule in enumerate(self.rules):
            if not rule.matches:
                return index
        return len(self.rules) - 1 if self.rules else None

    @property
    def routes(self) -> tuple[Route, ...]:
        """The destinations of the default rule."""
        index = self.default_rule
        return self.rules[index].routes if index is not None else ()


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
    """The http rules, their destinations, weights and mirrors.

    As in Istio, a lone destination without a weight takes all the traffic; among several,
    a missing weight counts as 0.
    """
    namespace, name = _identity(obj)
    http = _mapping(obj.get("spec")).get("http")
    rules = tuple(_rule_from(_mapping(rule)) for rule in http) if isinstance(http, list) \
        else ()
    annotations = _strings(_mapping(obj.get("metadata")).get("annotations"))
    share = DEFAULT_MATCH_SHARE
    problems: tuple[str, ...] = ()
    if (raw := annotations.get(MATCH_SHARE)) is not None:
        number = _percent(raw)
        if number is None:
            problems = (f"VirtualService {namespace}/{name}: annotation {MATCH_SHARE} must "
                        f"be a percentage between 0 and 100 (got {raw!r}); using "
                        f"{DEFAULT_MATCH_SHARE:g}",)
        else:
            share = number
    return VirtualServiceInfo(namespace, name, rules, share, problems)


def _rule_from(rule: Mapping[str, Any]) -> HttpRule:
    raw_routes = rule.get("route")
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
    match = rule.get("match")
    conditions = [_mapping(c) for c in match] if isinstance(match, list) else []
    mirror_host = _mapping(rule.get("mirror")).get("host")
    percent = _mapping(rule.get("mirrorPercentage")).get("value")
    mirror_percent = 100.0
    if isinstance(percent, int | float) and not isinstance(percent, bool):
        mirror_percent = min(max(float(percent), 0.0), 100.0)
    return HttpRule(
        routes=tuple(routes),
        matches=bool(conditions),
        on_cookie=bool(conditions) and all(
            any(str(k).lower() == COOKIE_HEADER for k in _mapping(c.get("headers")))
            for c in conditions),
        mirror=mirror_host if isinstance(mirror_host, str) and mirror_host else None,
        mirror_percent=mirror_percent,
    )


def _percent(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and 0 <= value <= 100 else None


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
