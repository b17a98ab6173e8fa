"""The lab: a real control plane on 127.0.0.1, started from cached binaries.

`Lab.up` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok,
creates kwok's fake Nodes, installs the Istio CRDs, and records every pid it started in
`<state dir>/state.json`, so `Lab.attach(...).down()` (another process, later) stops
exactly those processes and removes the state directory.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client, config

from canary_operator.lab import datafiles, prometheus
from canary_operator.lab.build import Progress, ensure_toolchain, print_progress
from canary_operator.lab.components import Component, Ports, control_plane, fake_node
from canary_operator.lab.crds import install_crds
from canary_operator.lab.errors import LabError
from canary_operator.lab.kubeconfig import admin_kubeconfig, write_kubeconfig
from canary_operator.lab.pki import Pki, generate_pki
from canary_operator.lab.processes import (
    ProcessRecord,
    check_alive,
    free_port,
    is_running,
    resident_bytes,
    spawn,
    stop,
    wait_for,
)
from canary_operator.lab.versions import PINS, Pins

STARTUP_TIMEOUT = 120.0
NOT_READY_TAINT = "node.kubernetes.io/not-ready"


def default_state_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"canary-operator-lab-{os.getuid()}"


@dataclass
class LabState:
    """Everything another process needs to use or stop a running lab."""

    state_dir: Path
    server: str
    kubeconfig: Path
    bin_dir: Path
    versions: dict[str, str]
    processes: list[ProcessRecord] = field(default_factory=list)
    prometheus_url: str | None = None
    loadtester_url: str | None = None

    @property
    def file(self) -> Path:
        return self.state_dir / "state.json"

    def save(self) -> None:
        data = {
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "bin_dir": str(self.bin_dir),
            "versions": self.versions,
            "processes": [p.to_json() for p in self.processes],
            "prometheus_url": self.prometheus_url,
            "loadtester_url": self.loadtester_url,
        }
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.file)

    @classmethod
    def load(cls, state_dir: Path) -> LabState:
        path = state_dir / "state.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise LabError(
                f"no lab is running with state in {state_dir} (start one: canary-operator lab up)"
            ) from None
        return cls(
            state_dir=state_dir,
            server=data["server"],
            kubeconfig=Path(data["kubeconfig"]),
            bin_dir=Path(data["bin_dir"]),
            versions=dict(data["versions"]),
            processes=[ProcessRecord.from_json(p) for p in data["processes"]],
            prometheus_url=data.get("prometheus_url"),
            loadtester_url=data.get("loadtester_url"),
        )


def _probe(url: str, verify: ssl.SSLContext | bool) -> bool:
    try:
        return httpx.get(url, verify=verify, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


class Lab:
    """A running lab, started by `up` or found again by `attach`."""

    def __init__(self, state: LabState, progress: Progress = print_progress) -> None:
        self.state = state
        self.progress = progress

    # -- lifecycle ---------------------------------------------------------------------

    @classmethod
    def up(
        cls,
        state_dir: Path | None = None,
        data_dir: Path | None = None,
        nodes: int = 3,
        pins: Pins = PINS,
        progress: Progress = print_progress,
        fast_controllers: bool = False,
    ) -> Lab:
        state_dir = state_dir or default_state_dir()
        cls._refuse_if_running(state_dir)
        data = datafiles.resolve(data_dir, pins)
        toolchain = ensure_toolchain(pins, progress)
        started = time.monotonic()
        state_dir.mkdir(parents=True, exist_ok=True)
        pki = generate_pki(state_dir / "pki")
        ports = Ports(*(free_port() for _ in range(6)))
        server = f"https://127.0.0.1:{ports.apiserver}"
        kubeconfig = write_kubeconfig(state_dir / "admin.kubeconfig",
                                      admin_kubeconfig(server, pki))
        state = LabState(state_dir, server, kubeconfig, toolchain.bin_dir, toolchain.versions)
        lab = cls(state, progress)
        try:
            components = control_plane(toolchain.bin_dir, pki, ports, state_dir, kubeconfig,
                                       data.kwok_stages, fast_controllers)
            lab._start_components(components, pki)
            lab._create_nodes(nodes)
            crds = install_crds(lab.api_client(), data.istio_crds, watch=state.processes)
            progress(f"installed {len(crds)} Istio CRDs")
        except BaseException:
            lab.down()
            raise
        progress(f"lab up in {time.monotonic() - started:.1f}s: {server}")
        return lab

    @classmethod
    def attach(cls, state_dir: Path | None = None, progress: Progress = print_progress) -> Lab:
        return cls(LabState.load(state_dir or default_state_dir()), progress)

    @staticmethod
    def _refuse_if_running(state_dir: Path) -> None:
        try:
            existing = LabState.load(state_dir)
        except LabError:
            return
        if any(is_running(p) for p in existing.processes):
            raise LabError(
                f"a lab is already running with state in {state_dir} "
                "(use it, or stop it first: canary-operator lab down)"
            )
        Lab(existing).down()  # stale state of a lab whose processes are gone

    def down(self) -> None:
        """Stop exactly the processes this lab started (newest first) and remove its state."""
        for record in reversed(self.state.processes):
            stop(record)
        shutil.rmtree(self.state.state_dir, ignore_errors=True)

    def status(self) -> dict[str, bool]:
        return {p.name: is_running(p) for p in self.state.processes}

    def memory(self) -> dict[str, int]:
        """Resident memory in bytes of each running lab process."""
        return {p.name: resident_bytes(p.pid) for p in self.state.processes if is_running(p)}

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
        """Wait for a condition on the lab, failing at once if a component has died."""
        wait_for(condition, what, timeout, self.state.processes)

    def check_alive(self) -> None:
        check_alive(self.state.processes)

    def env(self) -> str:
        return (
            f"export KUBECONFIG={self.state.kubeconfig}\n"
            f"export PATH={self.state.bin_dir}:$PATH\n"
        )

    # -- clients -----------------------------------------------------------------------

    def api_client(self) -> client.ApiClient:
        api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.state.kubeconfig)
        )
        return api

    def _admin_tls(self) -> ssl.SSLContext:
        pki = Pki(self.state.state_dir / "pki")
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        return context

    # -- steps of `up` -----------------------------------------------------------------

    def spawn(self, name: str, argv: Sequence[str],
              env: Mapping[str, str] | None = None) -> ProcessRecord:
        """Start a process that belongs to the lab: `down` stops it with the rest."""
        record = spawn(name, argv, self.state.state_dir / "logs" / f"{name}.log", env=env)
        self.state.processes.append(record)
        self.state.save()
        return record

    def stop_process(self, name: str) -> None:
        """Stop the lab's processes called `name` and forget them."""
        kept = []
        for record in self.state.processes:
            if record.name == name:
                stop(record)
            else:
                kept.append(record)
        self.state.processes = kept
        self.state.save()

    def _start_components(self, components: Sequence[Component], pki: Pki) -> None:
        admin_tls = self._admin_tls()
        for component in components:
            t0 = time.monotonic()
            self.spawn(component.name, component.argv)
            verify: ssl.SSLContext | bool = (
                admin_tls if component.name == "kube-apiserver" else False
            )
            url = component.health_url
            wait_for(lambda url=url, verify=verify: _probe(url, verify),  # type: ignore[misc]
                     f"{component.name} to serve {url}", STARTUP_TIMEOUT, self.state.processes)
            self.progress(f"{component.name} ready in {time.monotonic() - t0:.1f}s")

    def _create_nodes(self, count: int) -> None:
        core = client.CoreV1Api(self.api_client())
        names = [f"kwok-node-{i}" for i in range(count)]
        for name in names:
            core.create_node(client.V1Node.model_validate(fake_node(name)))

        def all_ready() -> bool:
            nodes = {n.metadata.name: n for n in core.list_node().items if n.metadata}
            return all(name in nodes and _node_schedulable(nodes[name]) for name in names)

        wait_for(all_ready, f"{count} kwok Nodes to be Ready and untainted", STARTUP_TIMEOUT,
                 self.state.processes)
        self.progress(f"{count} fake Nodes Ready")

    # -- Prometheus --------------------------------------------------------------------

    def start_prometheus(self, scrape_configs: Sequence[dict[str, Any]],
                         timeout: float = STARTUP_TIMEOUT, port: int | None = None) -> str:
        """Start Prometheus scraping `scrape_configs` every second; return its URL.

        `port` reuses an earlier URL (Prometheus coming back after an outage, with its data).
        """
        binary = prometheus.find_prometheus()
        directory = self.state.state_dir / "prometheus"
        directory.mkdir(parents=True, exist_ok=True)
        config_file = prometheus.write_config(directory / "prometheus.yml", scrape_configs)
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        record = self.spawn(
            "prometheus",
            prometheus.prometheus_argv(binary, config_file, directory / "data", port),
        )
        wait_for(lambda: _probe(f"{url}/-/ready", False), "prometheus to be ready", timeout,
                 [record])
        self.state.prometheus_url = url
        self.state.save()
        return url

    def stop_prometheus(self) -> None:
        self.state.prometheus_url = None
        self.stop_process("prometheus")

    # -- the load tester ---------------------------------------------------------------

    def start_loadtester(self, port: int | None = None, timeout: float = 60.0) -> str:
        """Start `canary-operator loadtester` on 127.0.0.1 (manual gates, hey load) and
        return its URL; webhooks of the lab's Canaries point at it."""
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        record = self.spawn("loadtester", [
            sys.executable, "-m", "canary_operator.cli.main", "loadtester",
            "--host", "127.0.0.1", "--port", str(port),
        ])
        wait_for(lambda: _probe(f"{url}/healthz", False), "the load tester to serve /healthz",
                 timeout, [record])
        self.state.loadtester_url = url
        self.state.save()
        return url

    def stop_loadtester(self) -> None:
        self.state.loadtester_url = None
        self.stop_process("loadtester")


def _node_schedulable(node: Any) -> bool:
    conditions = node.status.conditions if node.status and node.status.conditions else []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    taints = node.spec.taints if node.spec and node.spec.taints else []
    return ready and not any(t.key == NOT_READY_TAINT for t in taints)
