"""The mesh simulator: a stand-in for Istio's Envoy sidecars in the lab.

There is no mesh in the lab (kwok plays the pods), so nothing would answer requests or
report `istio_requests_total`. The simulator fills that gap the way the operator sees it:

- it watches VirtualServices, Services and Deployments, and follows each VirtualService's
  http rules as Envoy would (see `routing`): the requests take the default rule and its
  weights, except a share (annotation `lab.canary-operator.dev/match-share`, percent,
  default 10) that matches the A/B rule before it; a rule's mirror shadows its requests
  (`mirrorPercentage`, default all) to another host, seen by that destination's sidecar
  only; a destination host names a Service, the Service's selector a Deployment
  (`destination_workload`);
- it sends each VirtualService `rps` requests a second (default 20), split that way,
  counted per tick rather than one by one (see `ledger`: exact fractional accounting, no
  randomness), so thousands of VirtualServices are cheap;
- each workload answers as its pod template's annotations say (see `behaviour`):
  `lab.canary-operator.dev/error-rate`, `.../latency-ms` (the mean of a lognormal with 20%
  spread) and `.../error-code`; a destination with no available replica gets Envoy's 503
  `UH` (no healthy upstream), reported by the source sidecar only, so the destination
  series Flagger reads show no traffic for it;
- it serves `istio_requests_total` and `istio_request_duration_milliseconds` (Istio's
  default buckets) with Istio's standard labels, from both reporters, at
  http://127.0.0.1:<port>/metrics.

In-process: `MeshSimulator(kubeconfig).start()`; from a shell: `canary-operator lab meshsim`.
"""

from canary_operator.lab.meshsim.behaviour import (
    ERROR_CODE,
    ERROR_RATE,
    LATENCY_MS,
    Behaviour,
    behaviour_from_annotations,
)
from canary_operator.lab.meshsim.engine import Engine
from canary_operator.lab.meshsim.labels import ISTIO_DURATION_BUCKETS_MS, ISTIO_LABELS
from canary_operator.lab.meshsim.simulator import (
    DEFAULT_RPS,
    DEFAULT_TICK_SECONDS,
    MeshSimError,
    MeshSimulator,
)
from canary_operator.lab.meshsim.views import (
    RouteView,
    Snapshot,
    VirtualServiceView,
    WorkloadView,
)

__all__ = [
    "DEFAULT_RPS",
    "DEFAULT_TICK_SECONDS",
    "ERROR_CODE",
    "ERROR_RATE",
    "ISTIO_DURATION_BUCKETS_MS",
    "ISTIO_LABELS",
    "LATENCY_MS",
    "Behaviour",
    "Engine",
    "MeshSimError",
    "MeshSimulator",
    "RouteView",
    "Snapshot",
    "VirtualServiceView",
    "WorkloadView",
    "behaviour_from_annotations",
]
