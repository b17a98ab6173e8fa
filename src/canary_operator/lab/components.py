"""The command lines of the control-plane components: pure, so they can be read and tested."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from canary_operator.lab.pki import SERVICE_CLUSTER_IP_RANGE, Pki

# kwok manages only Nodes carrying this annotation, so it never touches a real node.
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# For labs of thousands of Deployments (the benchmarks): the controller manager's and the
# scheduler's client rate limits raised, and more Deployment and ReplicaSet workers, so the
# API server's CPU, not a token bucket, bounds how fast workloads roll out. With the
# defaults (20 requests/s, 5 workers) 2,000 Deployments took 8 minutes to roll out here,
# 49 s with these. Not the default: the defaults are what a cluster runs, and status
# updates this fast show a crash-looping pod's every brief moment of availability.
FAST_CLIENT_RATE = ("--kube-api-qps=500", "--kube-api-burst=1000")
FAST_WORKERS = ("--concurrent-deployment-syncs=20", "--concurrent-replicaset-syncs=20")
KWOK_POD_CIDR = "10.244.0.0/16"


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int


@dataclass(frozen=True)
class Component:
    name: str
    argv: tuple[str, ...]
    # How to tell it is serving: a URL answering 200 (https ones are probed without
    # verifying the component's self-signed certificate).
    health_url: str


def control_plane(bin_dir: Path, pki: Pki, ports: Ports, state_dir: Path, kubeconfig: Path,
                  kwok_stages: tuple[Path, ...], fast_controllers: bool = False,
                  ) -> list[Component]:
    """Every component, in start order; all of them listen on 127.0.0.1 only."""
    rate = FAST_CLIENT_RATE if fast_controllers else ()
    workers = FAST_WORKERS if fast_controllers else ()
    etcd_client = f"http://127.0.0.1:{ports.etcd_client}"
    etcd_peer = f"http://127.0.0.1:{ports.etcd_peer}"
    apiserver = f"https://127.0.0.1:{ports.apiserver}"
    always_allow = "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics"
    return [
        Component("etcd", (
            str(bin_dir / "etcd"),
            "--name=lab",
            f"--data-dir={state_dir / 'etcd'}",
            f"--listen-client-urls={etcd_client}",
            f"--advertise-client-urls={etcd_client}",
            f"--listen-peer-urls={etcd_peer}",
            f"--initial-advertise-peer-urls={etcd_peer}",
            f"--initial-cluster=lab={etcd_peer}",
            "--listen-metrics-urls=",
            # A throwaway store: durability buys nothing and fsync costs seconds per test.
            "--unsafe-no-fsync=true",
            "--auto-compaction-retention=1",
            "--quota-backend-bytes=8589934592",
            "--log-level=warn",
        ), f"{etcd_client}/health"),
        Component("kube-apiserver", (
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers={etcd_client}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports.apiserver}",
            # Loopback cannot be advertised as the `kubernetes` Service endpoint, and nothing
            # in-cluster needs one: skip endpoint reconciliation.
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={state_dir / 'apiserver-certs'}",
            f"--tls-cert-file={pki.apiserver_cert}",
            f"--tls-private-key-file={pki.apiserver_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-issuer={apiserver}",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            "--profiling=false",
        ), f"{apiserver}/readyz"),
        Component("kube-controller-manager", (
            str(bin_dir / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports.controller_manager}",
            f"--cert-dir={state_dir / 'controller-manager-certs'}",
            always_allow,
            f"--root-ca-file={pki.ca_cert}",
            f"--service-account-private-key-file={pki.service_account_key}",
            "--use-service-account-credentials=true",
            "--node-monitor-grace-period=40s",
            *rate,
            *workers,
            "--profiling=false",
        ), f"https://127.0.0.1:{ports.controller_manager}/healthz"),
        Component("kube-scheduler", (
            str(bin_dir / "kube-scheduler"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports.scheduler}",
            f"--cert-dir={state_dir / 'scheduler-certs'}",
            always_allow,
            *rate,
            "--profiling=false",
        ), f"https://127.0.0.1:{ports.scheduler}/healthz"),
        Component("kwok", (
            str(bin_dir / "kwok"),
            f"--kubeconfig={kubeconfig}",
            f"--config={','.join(str(p) for p in kwok_stages)}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
            "--node-lease-duration-seconds=40",
            f"--cidr={KWOK_POD_CIDR}",
            "--node-ip=10.1.0.1",
            f"--server-address=127.0.0.1:{ports.kwok}",
        ), f"http://127.0.0.1:{ports.kwok}/healthz"),
    ]


def fake_node(name: str) -> dict[str, object]:
    """A Node for kwok to run: no taints, so any workload schedules without tolerations."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", KWOK_NODE_ANNOTATION: "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
        },
    }
