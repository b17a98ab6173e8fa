"""The Helm chart on the lab's real API server: lint, server-side dry run, install, uninstall.

kwok plays the operator's pods (no image runs here), so a Deployment becomes available
once the API server, the scheduler and Pod Security admission have accepted its pods.
CRDs are cluster-wide and shared with the other tests of the session: Helm skips the ones
that exist and never deletes any, which is what these tests rely on.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client

from canary_operator.lab import Lab
from canary_operator.lab.build import ensure_helm
from canary_operator.lab.crds import established, install_crds, load_crds
from tests.deploy_tools import CHART, DeployTools, Manifest, documents, of_kind, set_flags

RBAC_TEMPLATE = CHART / "templates" / "rbac.yaml"
POD_SECURITY_WARNING = "would violate PodSecurity"

# Value sets the tests install and dry-run, named for what they turn on.
CLUSTER_WIDE: dict[str, str] = {}


def namespaced(namespace: str) -> dict[str, str]:
    """Watching one namespace with two peered replicas and a disruption budget."""
    return {"watchNamespaces": json.dumps([namespace]), "replicas": "2",
            "podDisruptionBudget.enabled": "true"}


@pytest.fixture(scope="module")
def tools(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> DeployTools:
    return DeployTools(lab, ensure_helm().path("helm"), tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def chart_crds(api: client.ApiClient) -> list[str]:
    """The chart's CRDs, installed for real, so custom objects of them (the kopf peering
    objects) can be dry-run; idempotent when another test installed them already."""
    names: list[str] = []
    for path in sorted((CHART / "crds").glob("*.yaml")):
        names += install_crds(api, path)
    return names


@pytest.fixture
def restricted(api: client.ApiClient, namespace: str) -> str:
    """The test's namespace, enforcing (and warning about) the restricted Pod Security
    Standard: a pod that is not hardened is refused."""
    labels = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn")}
    client.CoreV1Api(api).patch_namespace(namespace, {"metadata": {"labels": labels}})
    return namespace


def _release(namespace: str) -> str:
    return f"co-{namespace.removeprefix('t-')}"  # cluster-scoped names stay unique per test


def _template(tools: DeployTools, namespace: str, values: dict[str, str]) -> str:
    return tools.helm("template", _release(namespace), str(CHART), "--namespace", namespace,
                      *set_flags(values)).stdout


def _container(deployment: Manifest) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def _env(deployment: Manifest) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in _container(deployment)["env"]}


def assert_hardened(deployment: Manifest) -> None:
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = _container(deployment)
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert context["runAsNonRoot"] is True
    # A read-only root needs somewhere to write.
    tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert tmp and any("emptyDir" in v for v in pod["volumes"] if v["name"] == tmp[0]["name"])
    for probe in ("livenessProbe", "readinessProbe"):
        action = container[probe]["httpGet"]
        assert (action["path"], action["port"]) == ("/healthz", "healthz"), probe
    (port,) = [p for p in container["ports"] if p["name"] == "healthz"]
    liveness = _env(deployment)["CANARY_OPERATOR_LIVENESS_ENDPOINT"]
    assert liveness.endswith(f":{port['containerPort']}/healthz")
    assert container["resources"]["requests"] and container["resources"]["limits"]


# --- lint and render ----------------------------------------------------------------------

@pytest.mark.parametrize("values", [
    {},
    {"replicas": "3", "watchNamespaces": '["a", "b"]', "serviceMonitor.enabled": "true",
     "podDisruptionBudget.enabled": "true", "podDisruptionBudget.minAvailable": '"50%"',
     "configTracking": "true", "logFormat": '"text"', "logLevel": '"debug"'},
], ids=["defaults", "everything-on"])
def test_helm_lint_passes(tools: DeployTools, values: dict[str, str]) -> None:
    result = tools.helm("lint", "--strict", str(CHART), *set_flags(values))
    assert "0 chart(s) failed" in result.stdout


def test_helm_refuses_values_the_schema_forbids(tools: DeployTools) -> None:
    with pytest.raises(AssertionError, match="logFormat"):
        tools.helm("template", "x", str(CHART), "--set", "logFormat=xml")
    with pytest.raises(AssertionError, match="additional properties"):
        tools.helm("template", "x", str(CHART), "--set", "replica=2")


def test_one_replica_runs_standalone_and_is_never_doubled_by_an_upgrade(
    tools: DeployTools,
) -> None:
    manifests = documents(_template(tools, "t-standalone", CLUSTER_WIDE))
    (deployment,) = of_kind(manifests, "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert _env(deployment)["CANARY_OPERATOR_PEERING"] == ""
    assert not of_kind(manifests, "ClusterKopfPeering") + of_kind(manifests, "KopfPeering")


def test_several_replicas_peer_through_kopf(tools: DeployTools) -> None:
    cluster_wide = documents(_template(tools, "t-peered", {"replicas": "3"}))
    (deployment,) = of_kind(cluster_wide, "Deployment")
    peering = _env(deployment)["CANARY_OPERATOR_PEERING"]
    assert peering == deployment["metadata"]["name"]
    assert "strategy" not in deployment["spec"]  # a rolling update: peers hand over
    (cluster_peering,) = of_kind(cluster_wide, "ClusterKopfPeering")
    assert cluster_peering["metadata"]["name"] == peering

    per_namespace = documents(_template(tools, "t-peered", {
        "replicas": "2", "watchNamespaces": '["team-a", "team-b"]'}))
    peerings = of_kind(per_namespace, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["team-a", "team-b"]
    assert {p["metadata"]["name"] for p in peerings} == {peering}
    assert not of_kind(per_namespace, "ClusterKopfPeering")


def test_values_reach_the_operator_s_settings(tools: DeployTools) -> None:
    manifests = documents(_template(tools, "t-settings", {
        "prometheus.url": '"http://prometheus.istio-system:9090"',
        "watchNamespaces": '["a", "b"]', "selectorLabels": '["app"]', "logLevel": '"debug"',
        "logFormat": '"text"', "minIntervalSeconds": "2.5", "queryTimeoutSeconds": "3",
        "image.repository": '"registry.example/canary-operator"', "image.tag": '"dev"',
    }))
    (deployment,) = of_kind(manifests, "Deployment")
    env = _env(deployment)
    assert {key: env[f"CANARY_OPERATOR_{key}"] for key in (
        "PROMETHEUS_URL", "NAMESPACES", "SELECTOR_LABELS", "LOG_LEVEL", "LOG_FORMAT",
        "MIN_INTERVAL_SECONDS", "QUERY_TIMEOUT_SECONDS", "MESH_PROVIDER")} == {
        "PROMETHEUS_URL": "http://prometheus.istio-system:9090", "NAMESPACES": "a,b",
        "SELECTOR_LABELS": "app", "LOG_LEVEL": "debug", "LOG_FORMAT": "text",
        "MIN_INTERVAL_SECONDS": "2.5", "QUERY_TIMEOUT_SECONDS": "3", "MESH_PROVIDER": "istio",
    }
    assert _container(deployment)["image"] == "registry.example/canary-operator:dev"


def test_the_service_monitor_scrapes_the_operator_s_metrics_port(tools: DeployTools) -> None:
    assert not of_kind(documents(_template(tools, "t-monitor", {})), "ServiceMonitor")
    manifests = documents(_template(tools, "t-monitor", {
        "serviceMonitor.enabled": "true", "serviceMonitor.labels": '{"release": "prom"}'}))
    (monitor,) = of_kind(manifests, "ServiceMonitor")
    (service,) = of_kind(manifests, "Service")
    (deployment,) = of_kind(manifests, "Deployment")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items())
    (endpoint,) = monitor["spec"]["endpoints"]
    (service_port,) = service["spec"]["ports"]
    assert endpoint["port"] == service_port["name"]
    assert service_port["targetPort"] in {p["name"] for p in _container(deployment)["ports"]}
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


# --- against the API server ----------------------------------------------------------------

def test_the_chart_s_crds_pass_a_server_side_dry_run(tools: DeployTools,
                                                      chart_crds: list[str]) -> None:
    tools.server_dry_run("\n---\n".join(
        (CHART / "crds" / p.name).read_text() for p in sorted((CHART / "crds").glob("*.yaml"))
    ))
    expected = {crd["metadata"]["name"] for path in (CHART / "crds").glob("*.yaml")
                for crd in load_crds(path)}
    assert set(chart_crds) == expected


@pytest.mark.parametrize("mode", ["cluster-wide", "cluster-wide-peered", "namespaced"])
def test_the_rendered_chart_passes_a_server_side_dry_run(
    tools: DeployTools, chart_crds: list[str], restricted: str, mode: str
) -> None:
    values = {"cluster-wide": CLUSTER_WIDE, "cluster-wide-peered": {"replicas": "2"},
              "namespaced": namespaced(restricted)}[mode]
    result = tools.server_dry_run(_template(tools, restricted, values))
    assert "(server dry run)" in result.stdout
    assert POD_SECURITY_WARNING not in result.stderr, result.stderr


def test_the_dry_run_would_catch_a_pod_that_is_not_hardened(
    tools: DeployTools, restricted: str
) -> None:
    # The check above is only worth something if the namespace really objects.
    manifests = documents(_template(tools, restricted, CLUSTER_WIDE))
    (deployment,) = of_kind(manifests, "Deployment")
    del _container(deployment)["securityContext"]
    result = tools.server_dry_run(yaml.safe_dump(deployment))
    assert POD_SECURITY_WARNING in result.stderr


def _kubectl_name(manifest: Manifest) -> str:
    """An object as `kubectl get -o name` spells it: `deployment.apps/x`, `serviceaccount/x`."""
    api_version: str = manifest["apiVersion"]
    kind = manifest["kind"].lower()
    resource = f"{kind}.{api_version.rsplit('/', 1)[0]}" if "/" in api_version else kind
    return f"{resource}/{manifest['metadata']['name']}"


def _release_objects(tools: DeployTools, release: str, namespace: str) -> str:
    return tools.helm("get", "manifest", release, "--namespace", namespace).stdout


def _existing(tools: DeployTools, manifest: str) -> set[str]:
    names = tools.kubectl("get", "--ignore-not-found", "-o", "name", "-f", "-", stdin=manifest)
    return set(names.stdout.split())


@pytest.fixture
def uninstall_afterwards(tools: DeployTools) -> Iterator[list[tuple[str, str]]]:
    installed: list[tuple[str, str]] = []
    yield installed
    for release, namespace in installed:
        # After a failure, whatever the release left (cluster-wide RBAC) is removed too.
        with contextlib.suppress(AssertionError):
            tools.helm("uninstall", release, "--namespace", namespace, "--ignore-not-found")


@pytest.mark.parametrize("mode", ["cluster-wide", "namespaced"])
def test_install_creates_the_operator_and_uninstall_removes_it(
    tools: DeployTools, lab: Lab, api: client.ApiClient, restricted: str, mode: str,
    uninstall_afterwards: list[tuple[str, str]],
) -> None:
    namespace, release = restricted, _release(restricted)
    values = CLUSTER_WIDE if mode == "cluster-wide" else namespaced(namespace)
    uninstall_afterwards.append((release, namespace))
    installed = tools.helm("install", release, str(CHART), "--namespace", namespace,
                           *set_flags(values))
    assert f"is installed as {release}-canary-operator in namespace {namespace}" in (
        installed.stdout)  # NOTES.txt

    manifest = _release_objects(tools, release, namespace)
    objects = documents(manifest)
    kinds = {m["kind"] for m in objects}
    assert {"ServiceAccount", "Deployment"} <= kinds
    if RBAC_TEMPLATE.exists():
        wanted = ({"ClusterRole", "ClusterRoleBinding"} if mode == "cluster-wide"
                  else {"Role", "RoleBinding"})
        assert wanted <= kinds, kinds
    if mode == "namespaced":
        assert {"KopfPeering", "PodDisruptionBudget"} <= kinds
    expected = {_kubectl_name(m) for m in objects}
    assert _existing(tools, manifest) == expected

    (deployment,) = of_kind(objects, "Deployment")
    name, replicas = deployment["metadata"]["name"], deployment["spec"]["replicas"]
    apps = client.AppsV1Api(api)

    def available() -> bool:
        status = apps.read_namespaced_deployment_status(name, namespace).status
        return (status.available_replicas or 0) == replicas

    # Pods are admitted under the restricted Pod Security Standard, scheduled, and Ready.
    lab.wait_for(available, f"deployment {namespace}/{name} available", timeout=120)
    stored = api.sanitize_for_serialization(apps.read_namespaced_deployment(name, namespace))
    assert_hardened(stored)
    service_account = stored["spec"]["template"]["spec"]["serviceAccountName"]
    client.CoreV1Api(api).read_namespaced_service_account(service_account, namespace)

    extensions = client.ApiextensionsV1Api(api)
    crds = {crd.metadata.name for crd in extensions.list_custom_resource_definition().items}
    chart_crds = {crd["metadata"]["name"] for path in (CHART / "crds").glob("*.yaml")
                  for crd in load_crds(path)}
    assert chart_crds <= crds
    assert established(api, chart_crds)

    tools.helm("uninstall", release, "--namespace", namespace)
    lab.wait_for(lambda: not _existing(tools, manifest),
                 f"release {release}'s objects to be deleted", timeout=60)
    # Helm never deletes CRDs: every Canary in the cluster would go with them.
    assert established(api, chart_crds)

