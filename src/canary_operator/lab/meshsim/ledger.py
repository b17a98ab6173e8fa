"""The request stream, kept as counts: how many requests each workload answered, how.

Nothing is drawn at random. Each (VirtualService, target) flow (a target being a
destination of one http rule, or a mirror) owes `rps * seconds * share` requests per step
and sends the whole part, carrying the fraction to the next step; its errors are owed the
same way (`requests * error_rate`). So weights 90/10 at 20 requests/s give exactly 18 and 2
requests each second, and an error rate of 0.2 exactly 1 error in 5, over any run of
steps, whatever their length. A workload's load-bound errors depend on the share of the
VirtualService's requests it answers in all (its routed and shadowed requests together).

Latency is kept as "n requests drawn from the lognormal with mean m" per series; the
histogram's cumulative buckets are the expected counts, sum(n * CDF_m(bound)) rounded to
the nearest whole request, so they are monotonic in the bound and over time, and a P99
read from them is the model's, not noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from canary_operator.lab.meshsim.behaviour import Behaviour, bucket_fractions
from canary_operator.lab.meshsim.labels import (
    NO_WORKLOAD,
    REPORTER_DESTINATION,
    REPORTER_SOURCE,
    REPORTERS,
    Peer,
    ServiceRef,
)
from canary_operator.lab.meshsim.objects import VirtualServiceInfo
from canary_operator.lab.meshsim.routing import SERVED, Target
from canary_operator.lab.meshsim.views import (
    RouteView,
    Snapshot,
    VirtualServiceView,
    WorkloadView,
)

SUCCESS_CODE = "200"
UPSTREAM_FAILURE_CODE = "503"


@dataclass(frozen=True)
class SeriesKey:
    """One request series, apart from its reporter."""

    destination: Peer
    service: ServiceRef
    response_code: str
    response_flags: str
    # Both sidecars; only the source when Envoy answered; only the destination for a
    # shadowed request. Keys differing only here share their labels for the destination
    # reporter: the exposition adds them up.
    reporters: tuple[str, ...]


@dataclass
class SeriesCounts:
    requests: int = 0
    latency_sum_ms: float = 0.0
    by_latency: dict[float, int] = field(default_factory=dict)  # mean ms -> requests

    def add(self, count: int, mean_ms: float) -> None:
        self.requests += count
        self.latency_sum_ms += count * mean_ms
        self.by_latency[mean_ms] = self.by_latency.get(mean_ms, 0) + count

    def buckets(self) -> list[int]:
        """Cumulative requests at or below each of Istio's bucket bounds."""
        totals = [0.0] * len(bucket_fractions(0.0))
        for mean_ms, count in self.by_latency.items():
            for i, fraction in enumerate(bucket_fractions(mean_ms)):
                totals[i] += count * fraction
        return [min(math.floor(total + 0.5), self.requests) for total in totals]


@dataclass
class _Flow:
    target: Target
    load: float = 0.0  # the share of the VirtualService's requests its workload answers
    owed: float = 0.0
    errors_owed: float = 0.0
    requests: int = 0
    errors: int = 0

    @property
    def key(self) -> tuple[int, bool, str, str, str]:
        target = self.target
        workload = target.workload
        return (target.rule, target.mirrored, target.host, workload.name if workload else "",
                target.response_flags)


@dataclass
class _Tally:
    requests: int
    errors: int
    behaviour: Behaviour


class Ledger:
    """Requests per VirtualService, split by the live weights, counted per series."""

    def __init__(self, rps: float) -> None:
        if not math.isfinite(rps) or rps < 0:
            raise ValueError(f"rps must be a finite number >= 0 (got {rps})")
        self.rps = rps
        self._routes: dict[tuple[str, str], tuple[VirtualServiceInfo, list[_Flow]]] = {}
        self._series: dict[SeriesKey, SeriesCounts] = {}
        self._tallies: dict[tuple[str, str], _Tally] = {}

    def set_routes(self, vs: VirtualServiceInfo, targets: Sequence[Target]) -> None:
        """Route `vs`'s requests to `targets` from now on, keeping what each flow owes."""
        key = (vs.namespace, vs.name)
        previous = {flow.key: flow for flow in self._routes.get(key, (vs, []))[1]}
        loads: dict[str, float] = {}
        for target in targets:
            if target.workload is not None:
                loads[target.workload.name] = loads.get(target.workload.name, 0.0) + \
                    target.share
        flows = []
        for target in targets:
            flow = _Flow(target, loads.get(target.workload.name, 0.0) if target.workload
                         else 0.0)
            if (kept := previous.get(flow.key)) is not None:
                flow.owed, flow.errors_owed = kept.owed, kept.errors_owed
                flow.requests, flow.errors = kept.requests, kept.errors
            flows.append(flow)
            self._create_series(target)
        self._routes[key] = (vs, flows)

    def remove(self, namespace: str, name: str) -> None:
        """Stop `namespace/name`'s traffic; the series it fed stay, as counters do."""
        self._routes.pop((namespace, name), None)

    def advance(self, seconds: float) -> None:
        """Send the requests of `seconds` of traffic through every VirtualService."""
        requests_due = self.rps * seconds
        for _vs, flows in self._routes.values():
            for flow in flows:
                flow.owed += requests_due * flow.target.share
                count = int(flow.owed)
                if count:
                    flow.owed -= count
                    self._serve(flow, count)

    def _serve(self, flow: _Flow, count: int) -> None:
        target = flow.target
        flow.requests += count
        workload = target.workload
        if workload is None:
            flow.errors += count
            self._counts(target, UPSTREAM_FAILURE_CODE).add(count, 0.0)
            return
        behaviour = workload.behaviour
        flow.errors_owed += count * behaviour.error_rate_at(flow.load)
        errors = min(int(flow.errors_owed), count)
        flow.errors_owed -= errors
        flow.errors += errors
        if errors:
            self._counts(target, str(behaviour.error_code)).add(errors, behaviour.latency_ms)
        if count > errors:
            self._counts(target, SUCCESS_CODE).add(count - errors, behaviour.latency_ms)
        tally = self._tallies.get((workload.namespace, workload.name))
        if tally is None:
            tally = self._tallies[workload.namespace, workload.name] = _Tally(0, 0, behaviour)
        tally.requests += count
        tally.errors += errors
        tally.behaviour = behaviour

    def _counts(self, target: Target, response_code: str) -> SeriesCounts:
        key = _series_key(target, response_code)
        counts = self._series.get(key)
        if counts is None:
            counts = self._series[key] = SeriesCounts()
        return counts

    def _create_series(self, target: Target) -> None:
        # Series exist from the moment a route can reach them, at 0, so that rate() has a
        # starting point when the first request (or the first error) arrives.
        if target.workload is None:
            if target.share > 0:
                self._counts(target, UPSTREAM_FAILURE_CODE)
            return
        self._counts(target, SUCCESS_CODE)
        if target.workload.behaviour.error_rate > 0:
            self._counts(target, str(target.workload.behaviour.error_code))

    def series(self) -> Iterable[tuple[SeriesKey, SeriesCounts]]:
        return self._series.items()

    def snapshot(self) -> Snapshot:
        return Snapshot(
            rps=self.rps,
            virtual_services=tuple(
                VirtualServiceView(vs.namespace, vs.name, _route_views(vs, flows))
                for vs, flows in sorted(self._routes.values(),
                                        key=lambda item: (item[0].namespace, item[0].name))
            ),
            workloads=tuple(
                WorkloadView(namespace, name, tally.requests, tally.errors, tally.behaviour)
                for (namespace, name), tally in sorted(self._tallies.items())
            ),
        )


def _series_key(target: Target, response_code: str) -> SeriesKey:
    if target.workload is None:
        return SeriesKey(NO_WORKLOAD, target.service, response_code, target.response_flags,
                         (REPORTER_SOURCE,))
    reporters = (REPORTER_DESTINATION,) if target.mirrored else REPORTERS
    return SeriesKey(target.workload.peer, target.service, response_code,
                     target.response_flags, reporters)


def _route_views(vs: VirtualServiceInfo, flows: Sequence[_Flow]) -> tuple[RouteView, ...]:
    views = []
    for index, rule in enumerate(vs.rules):
        shown = [(route.host, route.weight, False) for route in rule.routes]
        if rule.mirror is not None:
            shown.append((rule.mirror, round(rule.mirror_percent), True))
        for host, weight, mirrored in shown:
            mine = [flow for flow in flows if flow.target.rule == index
                    and flow.target.mirrored == mirrored and flow.target.host == host]
            views.append(RouteView(
                host=host,
                weight=weight,
                workloads=tuple(f.target.workload.name for f in mine if f.target.workload),
                response_flags=mine[0].target.response_flags if mine else SERVED,
                requests=sum(f.requests for f in mine),
                errors=sum(f.errors for f in mine),
                rule=index,
                mirror=mirrored,
            ))
    return tuple(views)
