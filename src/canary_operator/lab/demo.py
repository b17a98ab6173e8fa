"""`canary-operator lab demo`: the control plane up, a Deployment rolling out on it.

(The full canary demo, with the operator and the mesh simulator, builds on this.)
"""

from __future__ import annotations

import time
from pathlib import Path

from kubernetes import client, watch

from canary_operator.lab.build import Progress, print_progress
from canary_operator.lab.cluster import Lab
from canary_operator.lab.errors import LabTimeout
from canary_operator.lab.workloads import deployment, rollout_complete, rollout_progress

NAMESPACE = "demo"
NAME = "podinfo"
IMAGE = "ghcr.io/stefanprodan/podinfo"


def follow_rollout(apps: client.AppsV1Api, namespace: str, name: str, timeout: float,
                   say: Progress) -> None:
    """Print every change of the rollout's progress, from a watch, until it completes."""
    deadline = time.monotonic() + timeout
    last = ""
    while (remaining := deadline - time.monotonic()) > 0:
        stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
            apps.list_namespaced_deployment, namespace,
            field_selector=f"metadata.name={name}", timeout_seconds=max(int(remaining), 1),
        )
        for event in stream:
            current: client.V1Deployment = event["object"]
            line = rollout_progress(current)
            if line != last:
                say(f"  {namespace}/{name}: {line}")
                last = line
            if rollout_complete(current):
                return
    raise LabTimeout(f"deployment {namespace}/{name} did not finish rolling out in {timeout}s")


def run_demo(state_dir: Path | None, data_dir: Path | None, keep: bool,
             say: Progress = print_progress) -> None:
    lab = Lab.up(state_dir=state_dir, data_dir=data_dir, progress=say)
    try:
        api = lab.api_client()
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
        say(f"creating {NAMESPACE}/{NAME} ({IMAGE}:6.9.0, 3 replicas on kwok's fake nodes)")
        apps.create_namespaced_deployment(
            NAMESPACE, client.V1Deployment.model_validate(deployment(NAME, f"{IMAGE}:6.9.0"))
        )
        follow_rollout(apps, NAMESPACE, NAME, 120, say)
        say(f"bumping the image to {IMAGE}:6.9.1: a rolling update")
        patch = {"spec": {"template": {"spec": {"containers": [
            {"name": NAME, "image": f"{IMAGE}:6.9.1"}]}}}}
        apps.patch_namespaced_deployment(NAME, NAMESPACE, patch)
        follow_rollout(apps, NAMESPACE, NAME, 120, say)
        say("rolled out")
        if keep:
            say("the lab keeps running; use it with:")
            print(lab.env(), end="")
            say("stop it with: canary-operator lab down")
    except BaseException:
        lab.down()
        raise
    if not keep:
        lab.down()
        say("lab stopped")
