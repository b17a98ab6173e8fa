"""One lab per operator under test: the control plane, the operator's CRDs, an identity
of its own (so its API requests are counted apart), the mesh simulator with Prometheus
scraping it, watches on weights and phases, and the operator as a process we sample.

The simulator runs as a process of its own: in this one it would share the interpreter
lock with the watches, and at hundreds of Canaries delay the arrival times they stamp.

    with BenchLab("ours", work_dir, data_dir) as bench:
        namespace = bench.namespace("api-1")
        operator = bench.start_operator([namespace], min_interval=10)
        ...
"""

from __future__ import annotations

import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx
from kubernetes import client

from bench import flagger as flagger_peer
from bench.apimetrics import ApiServerMetrics, install_flow_schemas
from bench.procstat import Sampler
from bench.watching import Watches
from canary_operator.lab import Lab
from canary_operator.lab.crds import apply_crds, established, install_crds, load_crds
from canary_operator.lab.kubeconfig import write_kubeconfig
from canary_operator.lab.meshsim.labels import REPORTER_DESTINATION
from canary_operator.lab.pki import Pki
from canary_operator.lab.processes import ProcessRecord, free_port, is_running
from canary_operator.lab.prometheus import static_job
from canary_operator.lab.workloads import create_namespace

Operator = Literal["ours", "flagger"]
OPERATORS: tuple[Operator, ...] = ("ours", "flagger")
IDENTITY_NAMESPACE = "bench-system"
IDENTITY = "bench-operator"
PODS_PER_NODE = 110
REPO = Path(__file__).resolve().parents[1]


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def default_data_dir() -> Path | None:
    shared = REPO.parent / "shared" / "testdata"
    return shared if shared.is_dir() else None


def nodes_for(pods: int) -> int:
    """kwok Nodes (110 pods each) for `pods` pods with a fifth to spare, at least 3."""
    return max(3, math.ceil(pods * 1.2 / PODS_PER_NODE))


@dataclass
class RunningOperator:
    """One operator process on a lab, with its own /metrics."""

    kind: Operator
    record: ProcessRecord
    metrics_url: str
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.record.pid

    def sampler(self) -> Sampler:
        return Sampler(self.pid).start()

    def metrics(self) -> str:
        try:
            return httpx.get(self.metrics_url, timeout=10).text
        except httpx.HTTPError:
            return ""

    def log(self) -> str:
        return self.record.log.read_text(errors="replace")

    def alive(self) -> bool:
        return is_running(self.record)


class BenchLab:
    """A lab with everything one operator's scenarios need (see the module docstring)."""

    def __init__(self, operator: Operator, work_dir: Path, data_dir: Path | None = None,
                 rps: float = 20.0, nodes: int = 3, scrape_interval: str = "1s") -> None:
        self.operator_kind = operator
        self.work_dir = work_dir
        self.data_dir = data_dir if data_dir is not None else default_data_dir()
        self.rps, self.nodes, self.scrape_interval = rps, nodes, scrape_interval
        self.lab: Lab | None = None
        self.prometheus_url = ""
        self.watches: Watches | None = None
        self.apiserver: ApiServerMetrics | None = None
        self.operator: RunningOperator | None = None
        self.kubeconfig: Path | None = None  # the operator's: its ServiceAccount's token
        self.operator_env: dict[str, str] = {}  # extra settings for ours (CANARY_OPERATOR_*)
        self._api: client.ApiClient | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> BenchLab:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.down()

    def up(self) -> None:
        state = self.work_dir / f"lab-{self.operator_kind}-{uuid.uuid4().hex[:6]}"
        # Controllers that roll thousands of Deployments out in seconds, not minutes.
        self.lab = Lab.up(state_dir=state, data_dir=self.data_dir, nodes=self.nodes,
                          progress=lambda m: say(f"lab: {m}"), fast_controllers=True)
        self._api = self.lab.api_client()
        self._install_crds()
        self.kubeconfig = self._identity()
        install_flow_schemas(self.api, IDENTITY, IDENTITY_NAMESPACE)
        job = {**static_job("meshsim", [self._start_meshsim()]),
               "scrape_interval": self.scrape_interval, "scrape_timeout": self.scrape_interval}
        self.prometheus_url = self.lab.start_prometheus([job])
        self.watches = Watches(self.lab).start()
        self.apiserver = ApiServerMetrics(self.lab)
        say(f"{self.operator_kind} lab ready: {self.lab.state.server}, "
            f"Prometheus {self.prometheus_url}")

    def down(self) -> None:
        if self.operator is not None:
            self.stop_operator()
        closers = [self.watches.stop if self.watches else None,
                   self.apiserver.close if self.apiserver else None]
        for close in closers:
            if close is not None:
                try:
                    close()
                except Exception as error:  # tear down the rest regardless
                    say(f"teardown: {error}")
        if self.lab is not None:
            self.lab.down()
            self.lab = None

    def _start_meshsim(self) -> str:
        """The simulator (destination reporters only: half the series, the same queries)
        as a lab process; its scrape address."""
        lab = self.the_lab()
        address = f"127.0.0.1:{free_port()}"
        lab.spawn("meshsim", (
            sys.executable, "-m", "canary_operator.cli.main", "lab", "meshsim",
            "--kubeconfig", str(lab.state.kubeconfig), "--port", address.rsplit(":", 1)[1],
            "--rps", f"{self.rps:g}", "--reporters", REPORTER_DESTINATION))

        def serves() -> bool:
            try:
                return httpx.get(f"http://{address}/metrics", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        lab.wait_for(serves, "the mesh simulator's /metrics", 60)
        return address

    @property
    def api(self) -> client.ApiClient:
        if self._api is None:
            raise RuntimeError("the bench lab is not up")
        return self._api

    def the_lab(self) -> Lab:
        if self.lab is None:
            raise RuntimeError("the bench lab is not up")
        return self.lab

    # -- set-up steps ------------------------------------------------------------------

    def _install_crds(self) -> None:
        lab = self.the_lab()
        if self.operator_kind == "flagger":
            if self.data_dir is None:
                raise RuntimeError("Flagger's CRDs come from the shared testdata (--data-dir)")
            names = install_crds(self.api, self.data_dir / "flagger" / "crd-v1.44.0.yaml")
        else:
            crds = [crd for path in sorted((REPO / "crds").glob("*.yaml"))
                    for crd in load_crds(path)]
            names = apply_crds(self.api, crds)
            lab.wait_for(lambda: established(self.api, names), "our CRDs to be Established")
        say(f"installed {len(names)} {self.operator_kind} CRDs")

    def _identity(self) -> Path:
        """A ServiceAccount bound to cluster-admin and a kubeconfig with its token: the
        operator's requests are then told apart from the lab's own (admin) clients."""
        lab = self.the_lab()
        core = client.CoreV1Api(self.api)
        core.create_namespace(client.V1Namespace(
            metadata=client.V1ObjectMeta(name=IDENTITY_NAMESPACE)))
        core.create_namespaced_service_account(IDENTITY_NAMESPACE, client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name=IDENTITY)))
        client.CustomObjectsApi(self.api).create_cluster_custom_object(
            "rbac.authorization.k8s.io", "v1", "clusterrolebindings", {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": IDENTITY},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": IDENTITY,
                              "namespace": IDENTITY_NAMESPACE}],
            })
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=24 * 3600))
        status = core.create_namespaced_service_account_token(
            IDENTITY, IDENTITY_NAMESPACE, request).status
        if status is None:
            raise RuntimeError("the API server returned no token")
        ca = str(Pki(lab.state.state_dir / "pki").ca_cert)
        return write_kubeconfig(lab.state.state_dir / "operator.kubeconfig", {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "lab", "cluster": {"server": lab.state.server,
                                                    "certificate-authority": ca}}],
            "users": [{"name": IDENTITY, "user": {"token": status.token}}],
            "contexts": [{"name": "bench", "context": {"cluster": "lab", "user": IDENTITY}}],
            "current-context": "bench",
        })

    # -- namespaces and objects --------------------------------------------------------

    def namespace(self, prefix: str) -> str:
        """A fresh namespace whose default ServiceAccount exists."""
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        create_namespace(self.api, name, self.wait)
        return name

    def wait(self, condition: Callable[[], bool], what: str, timeout: float) -> None:
        """Wait for `condition`, failing early when a lab process or the operator died."""
        def checked() -> bool:
            if self.operator is not None and not self.operator.alive():
                raise RuntimeError(f"the {self.operator.kind} operator died; log: "
                                   f"{self.operator.record.log}")
            return condition()

        self.the_lab().wait_for(checked, what, timeout)

    def create_all(self, namespace: str, bodies: Sequence[dict[str, Any]],
                   workers: int = 8) -> None:
        """Create Deployments and Canaries, several at once."""
        apps = client.AppsV1Api(self.api)
        custom = client.CustomObjectsApi(self.api)

        def create(body: dict[str, Any]) -> None:
            if body["kind"] == "Deployment":
                apps.create_namespaced_deployment(
                    namespace, client.V1Deployment.model_validate(body))
            else:
                custom.create_namespaced_custom_object(
                    "flagger.app", "v1beta1", namespace, "canaries", body)

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(create, bodies))

    def patch_all(self, namespace: str, patches: Iterable[tuple[str, dict[str, Any]]],
                  workers: int = 8) -> None:
        apps = client.AppsV1Api(self.api)

        def patch(item: tuple[str, dict[str, Any]]) -> None:
            apps.patch_namespaced_deployment(item[0], namespace, item[1])

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(patch, patches))

    def available(self, namespace: str) -> int:
        """Deployments in `namespace` with every wanted replica available."""
        items = client.AppsV1Api(self.api).list_namespaced_deployment(namespace).items
        return sum(1 for d in items
                   if d.status is not None and d.spec is not None
                   and (d.status.available_replicas or 0) >= (d.spec.replicas or 0))

    def phases(self, namespace: str) -> dict[str, str]:
        """The current phase of every Canary in `namespace` (from the watch)."""
        if self.watches is None:
            return {}
        return {name: str(changes[-1].value)
                for name, changes in self.watches.phases.in_namespace(namespace).items()}

    def count_phase(self, namespace: str, phase: str) -> int:
        return sum(1 for p in self.phases(namespace).values() if p == phase)

    # -- the operator ------------------------------------------------------------------

    def start_operator(self, namespaces: Sequence[str],
                       min_interval: float = 10.0) -> RunningOperator:
        """Start the operator under test, limited to `namespaces`."""
        if self.operator is not None:
            raise RuntimeError("one operator per lab at a time")
        lab = self.the_lab()
        if self.kubeconfig is None:
            raise RuntimeError("no operator identity")
        port = free_port()
        if self.operator_kind == "flagger":
            if len(namespaces) != 1:
                raise ValueError("Flagger watches one namespace or all; give one")
            record = lab.spawn("flagger", flagger_peer.flagger_argv(
                flagger_peer.ensure_flagger(), self.kubeconfig, self.prometheus_url, port,
                namespaces[0]))
        else:
            env = dict(os.environ)
            env.update({
                "KUBECONFIG": str(self.kubeconfig),
                "CANARY_OPERATOR_PROMETHEUS_URL": self.prometheus_url,
                "CANARY_OPERATOR_NAMESPACES": ",".join(namespaces),
                "CANARY_OPERATOR_MIN_INTERVAL_SECONDS": str(min_interval),
                "CANARY_OPERATOR_LIVENESS_ENDPOINT": f"http://127.0.0.1:{free_port()}/healthz",
                "CANARY_OPERATOR_METRICS_ADDRESS": f"127.0.0.1:{port}",
                **self.operator_env,
            })
            record = lab.spawn("canary-operator", (
                sys.executable, "-m", "canary_operator.cli.main", "run"), env=env)
        self.operator = RunningOperator(self.operator_kind, record,
                                        f"http://127.0.0.1:{port}/metrics")
        self.wait(lambda: _serves(self.operator), f"the {self.operator_kind} operator's "
                  "/metrics", 60)
        return self.operator

    def component_pids(self) -> dict[str, list[int]]:
        """The lab's processes (control plane, Prometheus, mesh simulator, the operator),
        pids grouped by component name."""
        groups: dict[str, list[int]] = {}
        for record in self.the_lab().state.processes:
            groups.setdefault(record.name, []).append(record.pid)
        return groups

    def stop_operator(self) -> None:
        if self.operator is not None:
            # Through the lab, which then forgets it (a stopped component is no failure).
            self.the_lab().stop_process(self.operator.record.name)
            self.operator = None


def _serves(operator: RunningOperator | None) -> bool:
    if operator is None:
        return False
    try:
        return httpx.get(operator.metrics_url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def prometheus_queries(prometheus_url: str) -> float:
    """Queries Prometheus has answered so far (instant and range), from its own /metrics."""
    text = httpx.get(f"{prometheus_url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("prometheus_http_requests_total{") and (
                'handler="/api/v1/query"' in line or 'handler="/api/v1/query_range"' in line):
            total += float(line.rsplit(" ", 1)[1])
    return total
