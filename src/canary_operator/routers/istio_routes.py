"""The `http` rules of a Canary's VirtualService, for given routes (Flagger's
pkg/router/istio.go: Reconcile, SetRoutes and getSessionAffinityRouteRules).

Everything here is pure: a Canary and the routes in, plain JSON out; and the reverse, the
routes and cookies read back from a live VirtualService. The shapes, rule by rule:

- canary / blue-green: `[weighted]`, the weighted rule carrying `service.match` and the
  route options (rewrite, timeout, retries, corsPolicy, headers) and routing
  primary/canary by weight; `mirror` (+ `mirrorPercentage`) on it while mirrored;
- A/B testing (`analysis.match`): `[weighted, default]`, the weighted rule matching each
  `analysis.match` condition combined with each `service.match` one, the default rule
  matching `service.match` (no match when empty) and routing 100% to the primary;
- session affinity (`analysis.sessionAffinity`, not with A/B): while the canary takes
  traffic, `[sticky canary, (sticky primary), (expiry), weighted]`: a request carrying the
  canary cookie goes 100% to the canary, one carrying the primary cookie 100% to the
  primary; on the weighted rule the canary (and the primary) destination answer with
  `Set-Cookie`; a request with the previous analysis' cookie gets it back expired. At
  weight 0 only the expiry rule stays before the weighted one.

The weighted rule is the last rule that routes to the canary host; the routes of a live
VirtualService are read from it (as Flagger's GetRoutes does).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from canary_operator.api import Canary
from canary_operator.api.canary import SessionAffinity
from canary_operator.kube.client import JsonDict
from canary_operator.routers.protocol import AffinityCookies, Routes, validate_routes

MESH_GATEWAY = "mesh"
COOKIE_HEADER = "Cookie"
SET_COOKIE_HEADER = "Set-Cookie"
EXPIRED = "Max-Age=-1"
# The VirtualService http fields carried from the Canary's service onto every rule.
_ROUTE_OPTIONS = (("rewrite", "rewrite"), ("timeout", "timeout"), ("retries", "retries"),
                  ("cors_policy", "corsPolicy"), ("headers", "headers"))
# HTTPMatchRequest fields that are maps: merged key by key when conditions are combined.
_MAP_CONDITIONS = ("headers", "queryParams", "withoutHeaders", "sourceLabels")
_REGEX_SPECIALS = frozenset("\\.+*?()|[]{}^$")
ALL_TO_PRIMARY = Routes(100, 0)


def primary_host(canary: Canary) -> str:
    return f"{canary.spec.apex_name}-primary"


def canary_host(canary: Canary) -> str:
    return f"{canary.spec.apex_name}-canary"


def is_ab_testing(canary: Canary) -> bool:
    """Whether the Canary's routes take the A/B shape: it has `analysis.match`."""
    return bool(canary.spec.analysis and canary.spec.analysis.match)


def session_affinity(canary: Canary) -> SessionAffinity | None:
    """The Canary's session-affinity settings, unless it has none or is an A/B test (the
    match conditions keep each user on one version there)."""
    if canary.spec.analysis is None or is_ab_testing(canary):
        return None
    return canary.spec.analysis.session_affinity


# -- building ------------------------------------------------------------------------------


def destination(canary: Canary, host: str, weight: int) -> JsonDict:
    """One weighted destination; through a gateway (or as a delegate) the discovered
    ports need the port named."""
    service = canary.spec.service
    target: JsonDict = {"host": host}
    gateways = service.gateways or [MESH_GATEWAY]
    if service.port_discovery and (gateways[0] != MESH_GATEWAY or service.delegation):
        target["port"] = {"number": service.port}
    return {"destination": target, "weight": weight}


def _split(canary: Canary, primary: int, canary_weight: int) -> list[JsonDict]:
    return [destination(canary, primary_host(canary), primary),
            destination(canary, canary_host(canary), canary_weight)]


def _rule(canary: Canary, match: Sequence[Mapping[str, Any]] | None,
          route: list[JsonDict]) -> JsonDict:
    """An http rule with the service's route options, matching `match` (none: all)."""
    rule: JsonDict = {}
    if match:
        rule["match"] = copy.deepcopy(list(match))
    service = canary.spec.service
    for attribute, field in _ROUTE_OPTIONS:
        value = getattr(service, attribute)
        if value:
            rule[field] = copy.deepcopy(value)
    rule["route"] = route
    return rule


def merge_match_conditions(conditions: Iterable[Mapping[str, Any]],
                           defaults: Sequence[Mapping[str, Any]] | None) -> list[JsonDict]:
    """Every condition combined with every default, so a request must satisfy both.

    Flagger pairs them the same way but keeps only the condition's headers and
    sourceLabels, so an `analysis.match` on queryParams alone would match every request;
    here all of the condition's fields count: map fields (headers, queryParams,
    withoutHeaders, sourceLabels) are merged key by key, the condition winning a clash, and
    any other field of the condition replaces the default's."""
    wanted: list[JsonDict] = [copy.deepcopy(dict(c)) for c in conditions]
    if not defaults:
        return wanted
    merged: list[JsonDict] = []
    for condition in wanted:
        for default in defaults:
            combined = copy.deepcopy(dict(default))
            for field, value in condition.items():
                if field in _MAP_CONDITIONS and isinstance(combined.get(field), Mapping) \
                        and isinstance(value, Mapping):
                    combined[field] = {**combined[field], **copy.deepcopy(dict(value))}
                else:
                    combined[field] = copy.deepcopy(value)
            merged.append(combined)
    return merged


def build_cookie(settings: SessionAffinity, cookie: str, max_age: int) -> str:
    """The Set-Cookie value for `cookie` (`name=value`) with the spec's attributes, in
    Flagger's order."""
    parts = [cookie, f"Max-Age={max_age}"]
    if settings.domain:
        parts.append(f"Domain={settings.domain}")
    if settings.http_only:
        parts.append("HttpOnly")
    if settings.partitioned:
        parts.append("Partitioned")
    if settings.path:
        parts.append(f"Path={settings.path}")
    if settings.same_site:
        parts.append(f"SameSite={settings.same_site}")
    if settings.secure:
        parts.append("Secure")
    return "; ".join(parts)


def cookie_match(cookie: str) -> JsonDict:
    """A match on requests carrying `cookie` (`name=value`): Flagger's regex
    `.*<name>.*<value>.*`, with regex metacharacters escaped."""
    name, _, value = cookie.partition("=")
    return {"headers": {COOKIE_HEADER: {"regex": f".*{_escape(name)}.*{_escape(value)}.*"}}}


def _escape(text: str) -> str:
    return "".join(f"\\{c}" if c in _REGEX_SPECIALS else c for c in text)


def _set_cookie(target: JsonDict, value: str) -> None:
    """Add a Set-Cookie response header to a destination or a rule."""
    headers = target.setdefault("headers", {})
    response = headers.setdefault("response", {})
    response.setdefault("add", {})[SET_COOKIE_HEADER] = value


def build_http(canary: Canary, routes: Routes | None = None,
               affinity: AffinityCookies | None = None) -> list[JsonDict]:
    """The VirtualService's `http` rules routing as `routes` says (default: all to the
    primary), keeping users on their version by `affinity` (see the module doc)."""
    routes = validate_routes(routes or ALL_TO_PRIMARY)
    service_match = canary.spec.service.match
    analysis = canary.spec.analysis
    if is_ab_testing(canary):
        assert analysis is not None and analysis.match
        weighted = _rule(canary, merge_match_conditions(analysis.match, service_match),
                         _split(canary, routes.primary, routes.canary))
        default = _rule(canary, service_match,
                        [destination(canary, primary_host(canary), 100)])
        rules = [weighted, default]
    else:
        weighted = _rule(canary, service_match, _split(canary, routes.primary, routes.canary))
        settings = session_affinity(canary)
        rules = [*(_affinity_rules(canary, settings, routes, affinity, weighted)
                   if settings is not None and affinity is not None else []), weighted]
    if routes.mirrored:
        weighted["mirror"] = {"host": canary_host(canary)}
        if analysis is not None and analysis.mirror_weight:
            weighted["mirrorPercentage"] = {"value": analysis.mirror_weight}
    return rules


def _affinity_rules(canary: Canary, settings: SessionAffinity, routes: Routes,
                    cookies: AffinityCookies, weighted: JsonDict) -> list[JsonDict]:
    """The cookie rules that go before `weighted`; adds the Set-Cookie headers to its
    destinations while the canary takes traffic."""
    service_match = canary.spec.service.match
    rules: list[JsonDict] = []
    sticky = routes.canary > 0 and cookies.canary
    if sticky:
        assert cookies.canary is not None
        primary_dest, canary_dest = weighted["route"]
        _set_cookie(canary_dest, build_cookie(settings, cookies.canary, settings.max_age))
        rules.append(_rule(canary, merge_match_conditions([cookie_match(cookies.canary)],
                                                          service_match),
                           _split(canary, 0, 100)))
        if cookies.primary:
            # As Flagger: the primary cookie lasts one interval, so a user kept on the
            # primary gets another draw at the next, larger, canary weight.
            interval = int(canary.spec.analysis.interval_seconds) if canary.spec.analysis \
                else 60
            _set_cookie(primary_dest, build_cookie(settings, cookies.primary, interval))
            rules.append(_rule(canary, merge_match_conditions(
                [cookie_match(cookies.primary)], service_match), _split(canary, 100, 0)))
    if cookies.previous and not (sticky and cookies.previous == cookies.canary):
        expiry = _rule(canary, merge_match_conditions([cookie_match(cookies.previous)],
                                                      service_match),
                       copy.deepcopy(weighted["route"]))
        _set_cookie(expiry, f"{cookies.previous}; {EXPIRED}")
        rules.append(expiry)
    return rules


# -- reading back --------------------------------------------------------------------------


def destination_host(route_destination: Mapping[str, Any]) -> str | None:
    host = (route_destination.get("destination") or {}).get("host")
    return str(host) if host is not None else None


def http_rules(virtual_service: Mapping[str, Any]) -> list[Any]:
    return list((virtual_service.get("spec") or {}).get("http") or [])


def weighted_rule_index(http: Sequence[Mapping[str, Any]], canary: Canary) -> int | None:
    """The index of the last rule routing to the canary host; None when none does."""
    found = None
    for index, rule in enumerate(http):
        if any(destination_host(r) == canary_host(canary) for r in rule.get("route") or []):
            found = index
    return found


def read_routes(virtual_service: Mapping[str, Any], canary: Canary) -> Routes | None:
    """The weights of the weighted rule (a missing weight is 0), and whether it mirrors;
    None when no rule routes to the canary host."""
    http = http_rules(virtual_service)
    index = weighted_rule_index(http, canary)
    if index is None:
        return None
    rule = http[index]
    weights = {destination_host(r): _int(r.get("weight")) for r in rule.get("route") or []}
    mirror = rule.get("mirror")
    return Routes(weights.get(primary_host(canary), 0), weights[canary_host(canary)],
                  mirrored=isinstance(mirror, Mapping) and bool(mirror.get("host")))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def read_affinity(virtual_service: Mapping[str, Any],
                  canary: Canary) -> AffinityCookies | None:
    """The cookies a live VirtualService routes on, read from the Set-Cookie headers it
    answers with; None when the Canary has no session affinity or none is routed."""
    if session_affinity(canary) is None:
        return None
    http = http_rules(virtual_service)
    index = weighted_rule_index(http, canary)
    if index is None:
        return None
    hosts = {destination_host(r): r for r in http[index].get("route") or []}
    canary_cookie = _cookie_set_by(hosts.get(canary_host(canary)) or {})
    primary_cookie = _cookie_set_by(hosts.get(primary_host(canary)) or {})
    previous = None
    for rule in http[:index]:
        value = _set_cookie_value(rule)
        if value and value.endswith(f"; {EXPIRED}"):
            previous = value.split(";", 1)[0]
    if not (canary_cookie or primary_cookie or previous):
        return None
    return AffinityCookies(canary_cookie, primary_cookie, previous)


def _set_cookie_value(holder: Mapping[str, Any]) -> str | None:
    value = (((holder.get("headers") or {}).get("response") or {}).get("add") or {}).get(
        SET_COOKIE_HEADER)
    return value if isinstance(value, str) else None


def _cookie_set_by(holder: Mapping[str, Any]) -> str | None:
    value = _set_cookie_value(holder)
    return value.split(";", 1)[0] if value else None
