"""Istio's standard metric labels, and the identities that fill them in.

Istio names both ends of a request by the same set of facts about a workload (name,
namespace, `app`/`version` labels, canonical service and revision, SPIFFE principal); `Peer`
holds them. The destination's facts come from the Deployment's pod template the way Istio
derives them from a pod: `app` and `version` labels (or their `app.kubernetes.io/*` forms),
`service.istio.io/canonical-*` labels first for the canonical name and revision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Istio's default buckets for istio_request_duration_milliseconds.
ISTIO_DURATION_BUCKETS_MS: tuple[int, ...] = (
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
    1800000, 3600000,
)

# Every label of Istio's standard request metrics (tests/istio_exporter.py uses these too).
ISTIO_LABELS: tuple[str, ...] = (
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_canonical_service",
    "source_canonical_revision",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_cluster",
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "response_flags",
    "connection_security_policy",
)

REPORTER_DESTINATION = "destination"
REPORTER_SOURCE = "source"
REPORTERS: tuple[str, ...] = (REPORTER_DESTINATION, REPORTER_SOURCE)

CLUSTER_NAME = "Kubernetes"
CLUSTER_DOMAIN = "cluster.local"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Peer:
    """One end of a request, as Istio's labels name it."""

    workload: str
    namespace: str
    app: str
    version: str
    canonical_service: str
    canonical_revision: str
    principal: str


def spiffe_principal(namespace: str, service_account: str) -> str:
    return f"spiffe://{CLUSTER_DOMAIN}/ns/{namespace}/sa/{service_account}"


# Where the simulated requests come from: the mesh's front door.
INGRESS_GATEWAY = Peer(
    workload="istio-ingressgateway",
    namespace="istio-system",
    app="istio-ingressgateway",
    version=UNKNOWN,
    canonical_service="istio-ingressgateway",
    canonical_revision="latest",
    principal=spiffe_principal("istio-system", "istio-ingressgateway-service-account"),
)

# The destination of a request no workload answered (Envoy reports it as "unknown").
NO_WORKLOAD = Peer(
    workload=UNKNOWN,
    namespace=UNKNOWN,
    app=UNKNOWN,
    version=UNKNOWN,
    canonical_service=UNKNOWN,
    canonical_revision="latest",
    principal=UNKNOWN,
)


def peer_from_pod_template(namespace: str, workload: str, labels: Mapping[str, str],
                           service_account: str = "default") -> Peer:
    """The destination identity Istio would give the pods of Deployment `workload`."""
    app = labels.get("app") or labels.get("app.kubernetes.io/name") or UNKNOWN
    version = labels.get("version") or labels.get("app.kubernetes.io/version") or UNKNOWN
    canonical_service = (
        labels.get("service.istio.io/canonical-name")
        or labels.get("app.kubernetes.io/name")
        or labels.get("app")
        or workload
    )
    canonical_revision = (
        labels.get("service.istio.io/canonical-revision")
        or labels.get("app.kubernetes.io/version")
        or labels.get("version")
        or "latest"
    )
    return Peer(
        workload=workload,
        namespace=namespace,
        app=app,
        version=version,
        canonical_service=canonical_service,
        canonical_revision=canonical_revision,
        principal=spiffe_principal(namespace, service_account),
    )


@dataclass(frozen=True)
class ServiceRef:
    """A Kubernetes Service a VirtualService destination names."""

    namespace: str
    name: str

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{self.namespace}.svc.{CLUSTER_DOMAIN}"


def series_labels(reporter: str, source: Peer, destination: Peer, service: ServiceRef,
                  response_code: str, response_flags: str) -> dict[str, str]:
    """Every label of one request series, as the `reporter` sidecar would write it."""
    return {
        "reporter": reporter,
        "source_workload": source.workload,
        "source_workload_namespace": source.namespace,
        "source_principal": source.principal,
        "source_app": source.app,
        "source_version": source.version,
        "source_canonical_service": source.canonical_service,
        "source_canonical_revision": source.canonical_revision,
        "source_cluster": CLUSTER_NAME,
        "destination_workload": destination.workload,
        "destination_workload_namespace": destination.namespace,
        "destination_principal": destination.principal,
        "destination_app": destination.app,
        "destination_version": destination.version,
        "destination_service": service.fqdn,
        "destination_service_name": service.name,
        "destination_service_namespace": service.namespace,
        "destination_canonical_service": destination.canonical_service,
        "destination_canonical_revision": destination.canonical_revision,
        "destination_cluster": CLUSTER_NAME,
        "request_protocol": "http",
        "response_code": response_code,
        "grpc_response_status": "",
        "response_flags": response_flags,
        # Only the destination sidecar terminates the mTLS connection and knows its policy.
        "connection_security_policy": (
            "mutual_tls" if reporter == REPORTER_DESTINATION else UNKNOWN
        ),
    }
