"""The kustomize manifests: the base is the chart rendered, the Istio overlay builds with
kubectl's kustomize and passes a server-side dry run on the lab."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from canary_operator.lab import Lab
from canary_operator.lab.build import ensure_helm
from tests.deploy_tools import KUSTOMIZE, DeployTools, Manifest, documents, of_kind

ISTIO_OVERLAY = KUSTOMIZE / "overlays" / "istio"


@pytest.fixture(scope="module")
def tools(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> DeployTools:
    return DeployTools(lab, ensure_helm().path("helm"), tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def istio_build(tools: DeployTools) -> str:
    return tools.kubectl("kustomize", str(ISTIO_OVERLAY)).stdout


def _env(deployment: Manifest) -> dict[str, str]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_the_base_is_the_chart_rendered_with_its_defaults(tools: DeployTools) -> None:
    done = subprocess.run(
        [sys.executable, str(KUSTOMIZE / "render.py"), "--check", "--helm",
         str(tools.helm_binary)],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr


def test_the_istio_overlay_sets_istio_and_its_prometheus(istio_build: str) -> None:
    manifests = documents(istio_build)
    (deployment,) = of_kind(manifests, "Deployment")
    env = _env(deployment)
    assert env["CANARY_OPERATOR_MESH_PROVIDER"] == "istio"
    assert env["CANARY_OPERATOR_PROMETHEUS_URL"] == "http://prometheus.istio-system:9090"
    # Everything else is the base's.
    assert env["CANARY_OPERATOR_NAMESPACES"] == ""
    kinds = {m["kind"] for m in manifests}
    assert {"Namespace", "CustomResourceDefinition", "ServiceAccount", "Deployment"} <= kinds


@pytest.fixture
def operator_namespace(api: client.ApiClient, istio_build: str) -> Iterator[Manifest]:
    """The overlay's Namespace, created for real: namespaced objects cannot be dry-run into a
    namespace that is itself only dry-run. Removed afterwards if this test created it."""
    (namespace,) = of_kind(documents(istio_build), "Namespace")
    core = client.CoreV1Api(api)
    try:
        core.create_namespace(namespace)
        created = True
    except ApiException as error:
        if error.status != 409:
            raise
        created = False
    yield namespace
    if created:
        core.delete_namespace(namespace["metadata"]["name"])


def test_the_istio_overlay_passes_a_server_side_dry_run(
    tools: DeployTools, istio_build: str, operator_namespace: Manifest
) -> None:
    labels = operator_namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    result = tools.server_dry_run(istio_build)
    applied = result.stdout.splitlines()
    assert len(applied) == len(documents(istio_build))
    assert all(line.endswith("(server dry run)") for line in applied), result.stdout
    # The namespace enforces and warns about the restricted Pod Security Standard.
    assert "would violate PodSecurity" not in result.stderr, result.stderr

