"""The chart's optional load tester: rendered with `loadtester.enabled=true`, linted, and
dry-run on the lab's API server in a namespace that enforces the restricted Pod Security
Standard."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from kubernetes import client

from canary_operator.lab import Lab
from canary_operator.lab.build import ensure_helm
from tests.deploy_tools import CHART, DeployTools, Manifest, documents, of_kind, set_flags

ENABLED = {"loadtester.enabled": "true"}
POD_SECURITY_WARNING = "would violate PodSecurity"


@pytest.fixture(scope="module")
def tools(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> DeployTools:
    return DeployTools(lab, ensure_helm().path("helm"), tmp_path_factory.mktemp("helm-home"))


@pytest.fixture
def restricted(api: client.ApiClient, namespace: str) -> str:
    labels = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn")}
    client.CoreV1Api(api).patch_namespace(namespace, {"metadata": {"labels": labels}})
    return namespace


def render(tools: DeployTools, values: dict[str, str], namespace: str = "t-lt") -> list[Manifest]:
    return documents(tools.helm("template", "co", str(CHART), "--namespace", namespace,
                                *set_flags(values)).stdout)


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    (found,) = [m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name]
    return found


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def _container(deployment: Manifest) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def test_off_by_default(tools: DeployTools) -> None:
    names = {m["metadata"]["name"] for m in render(tools, {})}
    assert not {name for name in names if "loadtester" in name}


def test_lint_passes_with_the_load_tester(tools: DeployTools) -> None:
    result = tools.helm("lint", "--strict", str(CHART), *set_flags({
        **ENABLED, "loadtester.namespaceRegexp": '"^team-(a|b)$"',
        "loadtester.timeout": '"30m"'}))
    assert "0 chart(s) failed" in result.stdout


def test_the_schema_refuses_bad_load_tester_values(tools: DeployTools) -> None:
    with pytest.raises(AssertionError, match="timeout"):
        tools.helm("template", "x", str(CHART), *set_flags({"loadtester.timeout": '"soon"'}))
    with pytest.raises(AssertionError, match="additional properties"):
        tools.helm("template", "x", str(CHART), *set_flags({"loadtester.replicas": "2"}))


def test_a_deployment_and_a_service_on_port_80_run_the_operator_s_image(
    tools: DeployTools,
) -> None:
    manifests = render(tools, {**ENABLED, "loadtester.namespaceRegexp": '"^team-"',
                               "loadtester.timeout": '"20m"', "image.tag": '"dev"'})
    operator = named(manifests, "Deployment", "co-canary-operator")
    deployment = named(manifests, "Deployment", "co-canary-operator-loadtester")
    service = named(manifests, "Service", "co-canary-operator-loadtester")
    container = _container(deployment)
    assert container["image"] == _container(operator)["image"] == "canary-operator:dev"
    # The image's ENTRYPOINT is `canary-operator run`: the command replaces it.
    assert container["command"] == ["canary-operator"]
    assert container["args"] == ["loadtester", "--host=0.0.0.0", "--port=8080",
                                 "--timeout=20m", "--namespace-regexp=^team-"]
    assert deployment["spec"]["replicas"] == 1  # gates live in one process's memory
    (port,) = service["spec"]["ports"]
    (container_port,) = container["ports"]
    assert (port["port"], port["targetPort"]) == (80, container_port["name"])
    assert container_port["containerPort"] == 8080
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_the_pod_is_hardened_and_has_no_credentials(tools: DeployTools) -> None:
    deployment = named(render(tools, ENABLED), "Deployment", "co-canary-operator-loadtester")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in pod
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = _container(deployment)["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in _container(deployment)["volumeMounts"]}
    assert any(v["name"] == mounts["/tmp"] and "emptyDir" in v for v in pod["volumes"])
    assert _container(deployment)["resources"]["limits"]["memory"] == "256Mi"


def test_selectors_never_mix_the_operator_and_the_load_tester(tools: DeployTools) -> None:
    manifests = render(tools, {**ENABLED, "serviceMonitor.enabled": "true",
                               "podDisruptionBudget.enabled": "true"})
    operator = named(manifests, "Deployment", "co-canary-operator")
    loadtester = named(manifests, "Deployment", "co-canary-operator-loadtester")
    operator_pod = operator["spec"]["template"]["metadata"]["labels"]
    loadtester_pod = loadtester["spec"]["template"]["metadata"]["labels"]
    operator_selectors = [operator["spec"]["selector"]["matchLabels"],
                          named(manifests, "Service", "co-canary-operator-metrics")["spec"][
                              "selector"],
                          of_kind(manifests, "PodDisruptionBudget")[0]["spec"]["selector"][
                              "matchLabels"]]
    for selector in operator_selectors:
        assert _matches(selector, operator_pod)
        assert not _matches(selector, loadtester_pod), selector
    service = named(manifests, "Service", "co-canary-operator-loadtester")
    for selector in (loadtester["spec"]["selector"]["matchLabels"], service["spec"]["selector"]):
        assert _matches(selector, loadtester_pod)
        assert not _matches(selector, operator_pod)


def test_the_load_tester_passes_a_server_side_dry_run(
    tools: DeployTools, restricted: str,
) -> None:
    manifests = render(tools, {**ENABLED, "loadtester.namespaceRegexp": '"^team-"'},
                       namespace=restricted)
    objects = [m for m in manifests if m["metadata"]["name"].endswith("-loadtester")]
    assert {m["kind"] for m in objects} == {"Deployment", "Service"}
    result = tools.server_dry_run("\n---\n".join(yaml.safe_dump(m) for m in objects))
    assert result.stdout.count("(server dry run)") == 2, result.stdout
    assert POD_SECURITY_WARNING not in result.stderr, result.stderr


def test_the_dry_run_would_catch_a_load_tester_that_is_not_hardened(
    tools: DeployTools, restricted: str,
) -> None:
    deployment = named(render(tools, ENABLED, namespace=restricted), "Deployment",
                       "co-canary-operator-loadtester")
    del _container(deployment)["securityContext"]
    result = tools.server_dry_run(yaml.safe_dump(deployment))
    assert POD_SECURITY_WARNING in result.stderr
