"""`canary-operator lab demo`: a whole canary — traffic shifting, metrics, promotion,
then a rollback — on the lab, with no cluster of your own.

It brings up the lab, the mesh simulator (a stand-in for Istio's sidecars) with Prometheus
scraping it, and the operator; applies `examples/podinfo`; bumps the image to a good
release and shows the analysis live until it is promoted; then bumps to a bad release
(20% errors) and shows the rollback and why.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from rich.console import Console
from rich.live import Live

from canary_operator.api.crdgen import custom_resource_definitions
from canary_operator.lab.build import Progress, print_progress
from canary_operator.lab.cluster import Lab
from canary_operator.lab.crds import apply_crds, established
from canary_operator.lab.errors import LabError, LabTimeout
from canary_operator.lab.liveview import Snapshot, WorkloadStats, render
from canary_operator.lab.processes import free_port
from canary_operator.lab.prometheus import static_job
from canary_operator.metrics.builtin import builtin_query
from canary_operator.metrics.prometheus import interpret_response

NAMESPACE = "demo"
NAME = "podinfo"
GOOD_IMAGE = "ghcr.io/stefanprodan/podinfo:6.9.1"
BAD_IMAGE = "ghcr.io/stefanprodan/podinfo:6.9.2"
BAD_ERROR_RATE = "0.2"
STATS_WINDOW = "15s"
RELEASE_TIMEOUT = 300.0


def examples_dir() -> Path:
    """`examples/podinfo` of a checkout, or the copy shipped inside the wheel."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[3] / "examples" / "podinfo",
                      here.parents[1] / "_examples" / "podinfo"):
        if (candidate / "canary.yaml").is_file():
            return candidate
    raise LabError("the demo's manifests (examples/podinfo) are missing from this install")


@dataclass(frozen=True)
class Release:
    """How one release ended, and how fast compared with what its spec allows."""

    image: str
    phase: str
    seconds: float
    minimum_seconds: float
    why: str


class Demo:
    def __init__(self, lab: Lab, say: Progress, live: bool) -> None:
        self.lab, self.say, self.live = lab, say, live
        api = lab.api_client()
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.api = api
        self.prometheus_url = ""
        manifests = examples_dir()
        self.deployment = yaml.safe_load((manifests / "deployment.yaml").read_text())
        self.canary_manifest = yaml.safe_load((manifests / "canary.yaml").read_text())

    # -- set-up ------------------------------------------------------------------------

    def start(self) -> None:
        crds = custom_resource_definitions()
        names = apply_crds(self.api, crds)
        self.lab.wait_for(lambda: established(self.api, names), "our CRDs to be Established")
        mesh_port = free_port()
        self.lab.spawn("meshsim", (
            sys.executable, "-m", "canary_operator.cli.main", "lab", "meshsim",
            "--kubeconfig", str(self.lab.state.kubeconfig), "--port", str(mesh_port),
            "--namespace", NAMESPACE,
        ))
        self.lab.wait_for(lambda: _serves(f"http://127.0.0.1:{mesh_port}/metrics"),
                          "the mesh simulator to serve /metrics", 60)
        self.prometheus_url = self.lab.start_prometheus(
            [static_job("meshsim", [f"127.0.0.1:{mesh_port}"])])
        self.say(f"mesh simulator on 127.0.0.1:{mesh_port}, Prometheus on {self.prometheus_url}")
        self.lab.spawn("canary-operator", (
            sys.executable, "-m", "canary_operator.cli.main", "run",
        ), env=self._operator_env())
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
            name=NAMESPACE)))
        self.lab.wait_for(self._default_service_account, "the demo namespace", 60)
        self.apps.create_namespaced_deployment(
            NAMESPACE, client.V1Deployment.model_validate(self.deployment))
        self.custom.create_namespaced_custom_object(
            "flagger.app", "v1beta1", NAMESPACE, "canaries", self.canary_manifest)
        self.say(f"applied examples/podinfo: Deployment and Canary {NAMESPACE}/{NAME}")
        self.lab.wait_for(lambda: self._status().get("phase") == "Initialized",
                          "the Canary to be Initialized", 120)
        self.say("initialized: podinfo-primary serves 100% of the traffic")

    def _operator_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "KUBECONFIG": str(self.lab.state.kubeconfig),
            "CANARY_OPERATOR_PROMETHEUS_URL": self.prometheus_url,
            "CANARY_OPERATOR_NAMESPACES": NAMESPACE,
            "CANARY_OPERATOR_MIN_INTERVAL_SECONDS": "1",
            "CANARY_OPERATOR_LIVENESS_ENDPOINT": f"http://127.0.0.1:{free_port()}/healthz",
            "CANARY_OPERATOR_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        })
        return env

    def _default_service_account(self) -> bool:
        try:
            self.core.read_namespaced_service_account("default", NAMESPACE)
        except ApiException:
            return False
        return True

    # -- releases ----------------------------------------------------------------------

    def release(self, image: str, annotations: Mapping[str, str], expect: str) -> Release:
        before = self._status().get("lastAppliedSpec")
        patch = {"spec": {"template": {
            "metadata": {"annotations": dict(annotations)},
            "spec": {"containers": [{"name": NAME, "image": image}]},
        }}}
        self.apps.patch_namespaced_deployment(NAME, NAMESPACE, patch)
        started = time.monotonic()

        def finished() -> bool:
            status = self._status()
            return (status.get("lastAppliedSpec") != before
                    and status.get("phase") in ("Succeeded", "Failed"))

        with self._view(started) as refresh:
            deadline = started + RELEASE_TIMEOUT
            while not finished():
                self.lab.check_alive()
                if time.monotonic() > deadline:
                    raise LabTimeout(f"the release of {image} did not finish in "
                                     f"{RELEASE_TIMEOUT:.0f}s")
                refresh()
                time.sleep(0.5)
            refresh()
        status = self._status()
        return Release(image, str(status.get("phase")), time.monotonic() - started,
                       self._minimum_seconds(expect), explain(status))

    def _minimum_seconds(self, expect: str) -> float:
        """What the spec allows at best: steps times interval to promote, threshold times
        interval to roll back."""
        analysis = self.canary_manifest["spec"]["analysis"]
        interval = float(str(analysis["interval"]).rstrip("s"))
        if expect == "Succeeded":
            return len(range(analysis["stepWeight"], analysis["maxWeight"] + 1,
                             analysis["stepWeight"])) * interval
        return float(analysis["threshold"]) * interval

    @contextmanager
    def _view(self, started: float) -> Iterator[Callable[[], None]]:
        if self.live:
            console = Console()
            with Live(render(self.snapshot(started)), console=console,
                      refresh_per_second=4) as live:
                yield lambda: live.update(render(self.snapshot(started)))
            return
        last: list[str] = []

        def say_changes() -> None:
            snap = self.snapshot(started)
            line = (f"{snap.phase:<12} weight {snap.canary_weight:3d}%  "
                    f"failed checks {snap.failed_checks}/{snap.threshold}  "
                    f"{snap.last_event}")
            if not last or last[-1] != line:
                last.append(line)
                self.say(f"  {snap.elapsed_seconds:5.1f}s  {line}")

        yield say_changes

    # -- observation for the view ------------------------------------------------------

    def _status(self) -> dict[str, Any]:
        canary: dict[str, Any] = self.custom.get_namespaced_custom_object(  # type: ignore[assignment]
            "flagger.app", "v1beta1", NAMESPACE, "canaries", NAME)
        status: dict[str, Any] = canary.get("status") or {}
        return status

    def _weight(self) -> int:
        try:
            vs: dict[str, Any] = self.custom.get_namespaced_custom_object(  # type: ignore[assignment]
                "networking.istio.io", "v1beta1", NAMESPACE, "virtualservices", NAME)
        except ApiException:
            return 0
        for route in vs["spec"]["http"][0]["route"]:
            if route["destination"]["host"] == f"{NAME}-canary":
                return int(route.get("weight", 0))
        return 0

    def _last_event(self) -> str:
        events = self.core.list_namespaced_event(
            NAMESPACE, field_selector=f"involvedObject.name={NAME},involvedObject.kind=Canary"
        ).items
        if not events:
            return ""
        latest = max(events, key=_event_time)
        return latest.message or ""

    def _query(self, promql: str) -> float | None:
        try:
            response = httpx.get(f"{self.prometheus_url}/api/v1/query",
                                 params={"query": promql}, timeout=2.0)
        except httpx.HTTPError:
            return None
        return interpret_response(promql, response.status_code, response.content,
                                  self.prometheus_url).value

    def _stats(self, workload: str) -> WorkloadStats:
        return WorkloadStats(
            workload,
            self._query(builtin_query("request-success-rate", NAMESPACE, workload,
                                      STATS_WINDOW)),
            self._query(builtin_query("request-duration", NAMESPACE, workload, STATS_WINDOW)),
        )

    def snapshot(self, started: float) -> Snapshot:
        status = self._status()
        analysis = self.canary_manifest["spec"]["analysis"]
        return Snapshot(
            canary=f"{NAMESPACE}/{NAME}",
            phase=str(status.get("phase", "")),
            canary_weight=self._weight(),
            max_weight=int(analysis["maxWeight"]),
            failed_checks=int(status.get("failedChecks", 0)),
            threshold=int(analysis["threshold"]),
            primary=self._stats(f"{NAME}-primary"),
            canary_stats=self._stats(NAME),
            last_event=self._last_event(),
            elapsed_seconds=time.monotonic() - started,
        )


def explain(status: Mapping[str, Any]) -> str:
    """The last decision and the checks behind it, with their numbers."""
    parts = [str(status.get("message", ""))]
    for check in status.get("checks") or []:
        if check.get("outcome") == "Pass":
            continue
        value = check.get("value")
        shown = "no data" if value is None else f"{value:.2f}"
        parts.append(f"{check['name']} {check['outcome']}: {shown} "
                     f"(needs {check.get('threshold')}, over {check.get('window')})")
    return "; ".join(p for p in parts if p)


def _event_time(event: client.CoreV1Event) -> dt.datetime:
    stamp = event.last_timestamp or event.event_time or (
        event.metadata.creation_timestamp if event.metadata else None)
    return stamp or dt.datetime.min.replace(tzinfo=dt.UTC)


def _serves(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _report(release: Release, say: Progress) -> None:
    say(f"{release.image}: {release.phase} after {release.seconds:.1f}s "
        f"(the spec allows {release.minimum_seconds:.0f}s at best, "
        f"{release.seconds / release.minimum_seconds:.2f}x)")
    if release.why:
        say(f"  why: {release.why}")


def run_demo(state_dir: Path | None, data_dir: Path | None, keep: bool,
             say: Progress = print_progress, live: bool | None = None) -> list[Release]:
    """Run the whole demo; `live` defaults to a live view when stdout is a terminal."""
    live = sys.stdout.isatty() if live is None else live
    lab = Lab.up(state_dir=state_dir, data_dir=data_dir, progress=say)
    releases: list[Release] = []
    try:
        demo = Demo(lab, say, live)
        demo.start()
        say(f"release 1: {GOOD_IMAGE} (healthy)")
        releases.append(demo.release(GOOD_IMAGE, {}, "Succeeded"))
        _report(releases[-1], say)
        say(f"release 2: {BAD_IMAGE} answering {float(BAD_ERROR_RATE):.0%} errors")
        releases.append(demo.release(
            BAD_IMAGE, {"lab.canary-operator.dev/error-rate": BAD_ERROR_RATE}, "Failed"))
        _report(releases[-1], say)
        if keep:
            say("the lab keeps running; use it with:")
            print(lab.env(), end="")
            say(f"  kubectl -n {NAMESPACE} get canaries -w")
            say("stop it with: canary-operator lab down")
    except BaseException:
        with suppress(Exception):
            lab.down()
        raise
    if not keep:
        lab.down()
        say("lab stopped")
    return releases
