"""The chart's RBAC on the lab: minimal and sufficient.

Sufficient: the operator runs with a token of the chart's ServiceAccount (TokenRequest),
nothing else, and drives a promotion, a rollback and a revert on deletion with no 403.
Minimal: SubjectAccessReviews, asked as that ServiceAccount about every verb of every
resource the API server serves, are allowed exactly where `required_rules` says.
"""

from __future__ import annotations

import contextlib
import copy
import re
import ssl
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from canary_operator.api import Canary
from canary_operator.kube.autoscalers import build_primary_hpa
from canary_operator.kube.configs import build_primary_config
from canary_operator.kube.permissions import Grant, grants, required_rules
from canary_operator.kube.services import build_services
from canary_operator.kube.workloads import build_primary_deployment, selector_label
from canary_operator.lab import Lab
from canary_operator.lab.crds import install_crds
from canary_operator.lab.kubeconfig import write_kubeconfig
from canary_operator.lab.pki import Pki
from canary_operator.lab.processes import free_port, spawn, stop, wait_for
from canary_operator.lab.workloads import deployment
from canary_operator.routers import istio
from canary_operator.routers.istio import build_destination_rules, build_virtual_service
from tests.canary_cluster import Cluster
from tests.conftest import StartPrometheus
from tests.istio_exporter import IstioExporter
from tests.operator_harness import OperatorProcess
from tests.paths import REPO
from tests.rbac_chart import (
    CHART,
    PEERING_TEMPLATE,
    RBAC_TEMPLATE,
    SERVICE_ACCOUNT_TEMPLATE,
    Manifest,
    render,
)

NAME = "backend-service"
GOOD, BAD = "podinfo:6.9.1", "podinfo:6.9.2"
CLUSTER_WIDE, NAMESPACED = "cluster-wide", "namespaced"
ALL_NAMESPACES = ""  # a SubjectAccessReview without a namespace: cluster scope
OTHER_NAMESPACE = "kube-system"
# Verbs discovery does not list but RBAC checks: none may be granted.
SPECIAL_VERBS: tuple[Grant, ...] = (
    ("rbac.authorization.k8s.io", "clusterroles", "bind"),
    ("rbac.authorization.k8s.io", "clusterroles", "escalate"),
    ("rbac.authorization.k8s.io", "roles", "bind"),
    ("rbac.authorization.k8s.io", "roles", "escalate"),
    ("", "users", "impersonate"),
    ("", "groups", "impersonate"),
    ("", "serviceaccounts", "impersonate"),
    ("authentication.k8s.io", "uids", "impersonate"),
    ("certificates.k8s.io", "signers", "approve"),
    ("certificates.k8s.io", "signers", "sign"),
)


# -- the chart's objects in the lab ----------------------------------------------------------


@dataclass
class Installation:
    """The chart's ServiceAccount and RBAC objects, created with the admin client."""

    api: client.ApiClient
    release_namespace: str
    manifests: list[Manifest] = field(default_factory=list)

    @property
    def service_account(self) -> str:
        [account] = [m for m in self.manifests if m["kind"] == "ServiceAccount"]
        return str(account["metadata"]["name"])

    @property
    def peering(self) -> Manifest | None:
        """The kopf peering object the replicas share, when the values make several."""
        found = [m for m in self.manifests if m["kind"] in PEERING_KINDS]
        return found[0] if found else None

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.release_namespace}:{self.service_account}"

    @property
    def groups(self) -> list[str]:
        return ["system:serviceaccounts", f"system:serviceaccounts:{self.release_namespace}",
                "system:authenticated"]

    def create(self, manifest: Manifest) -> None:
        core, rbac = client.CoreV1Api(self.api), client.RbacAuthorizationV1Api(self.api)
        namespace = manifest["metadata"].get("namespace") or self.release_namespace
        kind = manifest["kind"]
        if kind == "ServiceAccount":
            core.create_namespaced_service_account(
                namespace, client.V1ServiceAccount.model_validate(manifest))
        elif kind == "ClusterRole":
            rbac.create_cluster_role(client.V1ClusterRole.model_validate(manifest))
        elif kind == "ClusterRoleBinding":
            rbac.create_cluster_role_binding(
                client.V1ClusterRoleBinding.model_validate(manifest))
        elif kind == "Role":
            rbac.create_namespaced_role(namespace, client.V1Role.model_validate(manifest))
        elif kind == "RoleBinding":
            rbac.create_namespaced_role_binding(
                namespace, client.V1RoleBinding.model_validate(manifest))
        elif kind == "ClusterKopfPeering":
            client.CustomObjectsApi(self.api).create_cluster_custom_object(
                "kopf.dev", "v1", "clusterkopfpeerings", manifest)
        elif kind == "KopfPeering":
            client.CustomObjectsApi(self.api).create_namespaced_custom_object(
                "kopf.dev", "v1", namespace, "kopfpeerings", manifest)
        else:
            raise AssertionError(f"the RBAC templates rendered an unexpected {kind}")
        self.manifests.append(manifest)

    def delete_cluster_scoped(self) -> None:
        """Namespaced objects go with their namespaces; these would outlive the test."""
        rbac = client.RbacAuthorizationV1Api(self.api)
        custom = client.CustomObjectsApi(self.api)
        for manifest in self.manifests:
            delete = {
                "ClusterRole": rbac.delete_cluster_role,
                "ClusterRoleBinding": rbac.delete_cluster_role_binding,
                "ClusterKopfPeering": lambda name: custom.delete_cluster_custom_object(
                    "kopf.dev", "v1", "clusterkopfpeerings", name),
            }.get(manifest["kind"])
            if delete is None:
                continue
            try:
                delete(manifest["metadata"]["name"])
            except ApiException as error:
                if error.status != 404:
                    raise

    def token_kubeconfig(self, lab: Lab, path: Path, server: str | None = None) -> Path:
        """A kubeconfig holding only a TokenRequest token of the ServiceAccount (for the
        lab's API server unless another `server` is given)."""
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
        status = client.CoreV1Api(self.api).create_namespaced_service_account_token(
            self.service_account, self.release_namespace, request).status
        assert status is not None
        cluster = {"server": server or lab.state.server,
                   "certificate-authority": str(Pki(lab.state.state_dir / "pki").ca_cert)}
        return write_kubeconfig(path, {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "lab", "cluster": cluster}],
            "users": [{"name": self.service_account, "user": {"token": status.token}}],
            "contexts": [{"name": "operator", "context": {
                "cluster": "lab", "user": self.service_account,
                "namespace": self.release_namespace}}],
            "current-context": "operator",
        })


Install = Callable[..., Installation]
PEERING_KINDS = {"ClusterKopfPeering": "clusterkopfpeerings", "KopfPeering": "kopfpeerings"}


@pytest.fixture
def release_namespace(api: client.ApiClient) -> Iterator[str]:
    """The namespace the chart is installed in: the operator's own, never watched here."""
    core = client.CoreV1Api(api)
    name = f"op-{uuid.uuid4().hex[:10]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


@pytest.fixture
def install(api: client.ApiClient, release_namespace: str) -> Iterator[Install]:
    """Render the chart's ServiceAccount and RBAC with some values and create them."""
    installed: list[Installation] = []

    def install(**values: Any) -> Installation:
        release = f"rbac-{uuid.uuid4().hex[:8]}"
        installation = Installation(api, release_namespace)
        installed.append(installation)
        templates = (SERVICE_ACCOUNT_TEMPLATE, RBAC_TEMPLATE, PEERING_TEMPLATE)
        for manifest in render(values, release=release, namespace=release_namespace,
                               templates=templates):
            installation.create(manifest)
        return installation

    yield install
    for installation in installed:
        installation.delete_cluster_scoped()


def chart_values(mode: str, namespace: str, **values: Any) -> dict[str, Any]:
    return {"watchNamespaces": [namespace] if mode == NAMESPACED else [], **values}


# -- asking the authorizer -------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    user: str
    groups: tuple[str, ...]


Question = tuple[str, str, str, str]  # (namespace or "", apiGroup, resource, verb)


def may(api: client.ApiClient, subject: Subject, question: Question) -> bool:
    namespace, group, resource, verb = question
    resource, _, subresource = resource.partition("/")
    review = client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
        user=subject.user, groups=list(subject.groups),
        resource_attributes=client.V1ResourceAttributes(
            namespace=namespace or None, group=group, resource=resource,
            subresource=subresource or None, verb=verb)))
    status = client.AuthorizationV1Api(api).create_subject_access_review(review).status
    return bool(status and status.allowed)


def allowed(api: client.ApiClient, subject: Subject,
            questions: Iterable[Question]) -> set[Question]:
    asked = sorted(set(questions))
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda q: may(api, subject, q), asked))
    return {q for q, yes in zip(asked, answers, strict=True) if yes}


def served_verbs(api: client.ApiClient) -> set[Grant]:
    """Every (apiGroup, resource or subresource, verb) the API server lists in discovery,
    over every served version."""
    lists = [("", client.CoreV1Api(api).get_api_resources())]
    for group in client.ApisApi(api).get_api_versions().groups:
        for version in group.versions:
            lists.append((group.name, client.CustomObjectsApi(api).get_api_resources(
                group.name, version.version)))
    return {(group, resource.name, verb)
            for group, resource_list in lists
            for resource in resource_list.resources
            for verb in resource.verbs}


def subject(installation: Installation) -> Subject:
    return Subject(installation.user, tuple(installation.groups))


def unbound(installation: Installation) -> Subject:
    """A ServiceAccount of the same namespace with no binding: what everyone may do."""
    return Subject(f"system:serviceaccount:{installation.release_namespace}:default",
                   tuple(installation.groups))


# -- sufficient: the operator's whole job with only these permissions ---------------------------


def canary(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": NAME, "namespace": namespace},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
            "service": {"port": 80, "targetPort": 9898},
            "revertOnDeletion": True,
            "analysis": {
                "interval": "1s", "threshold": 3, "maxWeight": 30, "stepWeight": 10,
                "metrics": [
                    {"name": "request-success-rate", "thresholdRange": {"min": 99},
                     "interval": "10s"},
                    {"name": "request-duration", "thresholdRange": {"max": 500},
                     "interval": "10s"},
                    # Served from the MetricTemplate index: the promotion proves it is filled.
                    {"name": "traffic", "templateRef": {"name": "traffic"},
                     "thresholdRange": {"min": 1}, "interval": "10s"},
                ],
            },
        },
    }


def metric_template(namespace: str, prometheus_url: str) -> dict[str, Any]:
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": "traffic", "namespace": namespace},
        "spec": {
            "provider": {"type": "prometheus", "address": prometheus_url},
            "query": ('sum(rate(istio_requests_total{reporter="destination",'
                      'destination_workload_namespace="{{ namespace }}",'
                      'destination_workload="{{ target }}"}[{{ interval }}]))'),
        },
    }


@pytest.fixture(scope="module")
def canary_crds(lab: Lab, api: client.ApiClient) -> None:
    """Ours, and kopf's peering CRDs as the chart ships them."""
    for path in [*sorted((REPO / "crds").glob("*.yaml")), CHART / "crds" / "kopf-peering.yaml"]:
        install_crds(api, path)


@pytest.fixture
def exporter() -> Iterator[IstioExporter]:
    with IstioExporter.start() as started:
        yield started


@pytest.mark.parametrize(("mode", "replicas"), [
    pytest.param(CLUSTER_WIDE, 1, id="cluster-wide"),
    pytest.param(NAMESPACED, 1, id="namespaced"),
    pytest.param(CLUSTER_WIDE, 2, id="cluster-wide-peering"),
    pytest.param(NAMESPACED, 2, id="namespaced-peering"),
])
def test_the_operator_promotes_and_rolls_back_with_only_the_charts_permissions(
    mode: str, replicas: int, lab: Lab, api: client.ApiClient, namespace: str,
    install: Install, canary_crds: None, exporter: IstioExporter,
    prometheus: StartPrometheus, tmp_path: Path,
) -> None:
    installation = install(**chart_values(mode, namespace, replicas=replicas))
    kubeconfig = installation.token_kubeconfig(lab, tmp_path / "operator.kubeconfig")
    whoami = client.AuthenticationV1Api(lab_client(kubeconfig)).create_self_subject_review(
        client.V1SelfSubjectReview())
    assert whoami.status and whoami.status.user_info
    assert whoami.status.user_info.username == installation.user

    prometheus_url = prometheus([exporter.scrape_job()])
    cluster = Cluster(lab, api, namespace)
    cluster.custom.create_namespaced_custom_object(
        "flagger.app", "v1beta1", namespace, "metrictemplates",
        metric_template(namespace, prometheus_url))
    peering = installation.peering
    assert (peering is not None) == (replicas > 1)
    operator = OperatorProcess(
        lab, [namespace] if mode == NAMESPACED else [], prometheus_url, tmp_path / "logs",
        kubeconfig=kubeconfig,
        extra_env={"CANARY_OPERATOR_PEERING": peering["metadata"]["name"]} if peering else {},
    )
    operator.start()
    try:
        if peering is not None:
            lab.wait_for(lambda: bool(keep_alives(api, peering)),
                         "the operator's keep-alive in its peering object", 60)
        drive_promotion_rollback_and_deletion(cluster, exporter, prometheus_url)
    finally:
        operator.stop()
        release_canaries(cluster)

    assert permission_errors(operator.log()) == []


def release_canaries(cluster: Cluster) -> None:
    """After a failure: drop the finalizers the stopped operator can no longer remove, so
    the namespace can go and no later operator works on what this test left."""
    found = cluster.custom.list_namespaced_custom_object(
        "flagger.app", "v1beta1", cluster.namespace, "canaries")
    assert isinstance(found, dict)
    for item in found["items"]:
        with contextlib.suppress(ApiException):
            cluster.custom.patch_namespaced_custom_object(
                "flagger.app", "v1beta1", cluster.namespace, "canaries",
                item["metadata"]["name"], {"metadata": {"finalizers": None}})


def keep_alives(api: client.ApiClient, peering: Manifest) -> dict[str, Any]:
    """The replicas' keep-alives kopf has patched into a peering object's status."""
    custom = client.CustomObjectsApi(api)
    plural, name = PEERING_KINDS[peering["kind"]], peering["metadata"]["name"]
    namespace = peering["metadata"].get("namespace")
    live = (custom.get_namespaced_custom_object("kopf.dev", "v1", namespace, plural, name)
            if namespace else custom.get_cluster_custom_object("kopf.dev", "v1", plural, name))
    assert isinstance(live, dict)
    return dict(live.get("status") or {})


# A 403 from the API as the client libraries and kopf log it; not a timestamp's ",403".
PERMISSION_ERROR = re.compile(r"forbidden|(?<![\d,.])403(?!\d)|not enough permissions", re.I)
# Also a 403, but from admission, not authorization: nothing may be created in a namespace
# being deleted. A cluster-wide operator meets those when earlier tests' namespaces still
# hold Canaries (kopf posts its events about them there).
TERMINATING_NAMESPACE = "is being terminated"


def permission_errors(log: str) -> list[str]:
    return [line for line in log.splitlines()
            if PERMISSION_ERROR.search(line) and TERMINATING_NAMESPACE not in line]


def lab_client(kubeconfig: Path) -> client.ApiClient:
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig))
    return api


def drive_promotion_rollback_and_deletion(cluster: Cluster, exporter: IstioExporter,
                                          prometheus_url: str) -> None:
    namespace = cluster.namespace
    exporter.set_behaviour(namespace, f"{NAME}-primary", rps=20)
    exporter.set_behaviour(namespace, NAME, rps=20, error_rate=0, latency_ms=40)
    cluster.create_target()
    cluster.apply_canary(canary(namespace))
    cluster.wait_phase("Initialized", timeout=60)
    # The checks run a second apart: the canary's series must be in Prometheus before the
    # release, or the first checks find no data and roll it back.
    cluster.lab.wait_for(lambda: has_traffic(prometheus_url, namespace, NAME),
                         f"Prometheus to have a rate of {NAME}'s requests", 60)
    # kopf could patch its finalizer in: the Canary is watched and patched as this account.
    assert "canary-operator.dev/finalizer" in cluster.canary()["metadata"]["finalizers"]

    release(cluster, GOOD, "Succeeded")
    assert image(cluster, f"{NAME}-primary") == GOOD
    assert cluster.weights() == (100, 0)

    exporter.set_behaviour(namespace, NAME, rps=20, error_rate=0.2)
    release(cluster, BAD, "Failed")
    assert image(cluster, f"{NAME}-primary") == GOOD
    assert cluster.weights() == (100, 0)
    cluster.lab.wait_for(lambda: replicas(cluster, NAME) == 0, "the canary scaled to zero")
    events = cluster.wait_event(f"Canary failed! Scaling down {NAME}.")
    assert any(m.startswith(f"Canary failed! Scaling down {NAME}.") for m in events), events

    cluster.custom.delete_namespaced_custom_object(
        "flagger.app", "v1beta1", namespace, "canaries", NAME)
    cluster.lab.wait_for(lambda: canary_gone(cluster), "the Canary's finalizer to finish", 60)
    assert replicas(cluster, NAME) == 2  # revertOnDeletion scaled the target back


def has_traffic(prometheus_url: str, namespace: str, workload: str) -> bool:
    query = (f'sum(rate(istio_requests_total{{destination_workload_namespace="{namespace}",'
             f'destination_workload="{workload}"}}[10s]))')
    answer = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": query}, timeout=5)
    return bool(answer.status_code == 200 and answer.json()["data"]["result"])


def release(cluster: Cluster, new_image: str, verdict: str) -> None:
    """Roll out `new_image` and wait for the analysis of that revision to end; say why
    when it ends the other way."""
    before = cluster.canary()["status"].get("lastAppliedSpec")
    cluster.set_image(new_image)

    def ended() -> bool:
        status = cluster.canary().get("status", {})
        return (status.get("lastAppliedSpec") != before
                and status.get("phase") in ("Succeeded", "Failed"))

    cluster.lab.wait_for(ended, f"the analysis of {new_image} to end ({verdict})", 120)
    status = cluster.canary()["status"]
    assert status["phase"] == verdict, (status, cluster.events())


def image(cluster: Cluster, deployment: str) -> str | None:
    spec = cluster.deployment(deployment).spec
    assert spec and spec.template.spec
    return spec.template.spec.containers[0].image


def replicas(cluster: Cluster, deployment: str) -> int:
    spec = cluster.deployment(deployment).spec
    return (spec.replicas if spec else None) or 0


def canary_gone(cluster: Cluster) -> bool:
    try:
        cluster.canary()
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


# -- minimal: nothing beyond the rules, anywhere ------------------------------------------------

VARIANTS = [  # config tracking is on by default, as in Flagger
    pytest.param(CLUSTER_WIDE, {}, True, False, id="cluster-wide"),
    pytest.param(NAMESPACED, {}, True, False, id="namespaced"),
    pytest.param(CLUSTER_WIDE, {"configTracking": False}, False, False,
                 id="cluster-wide-no-config-tracking"),
    pytest.param(CLUSTER_WIDE, {"replicas": 2, "configTracking": False}, False, True,
                 id="cluster-wide-peering-no-config-tracking"),
    pytest.param(NAMESPACED, {"replicas": 2}, True, True, id="namespaced-peering"),
]


@pytest.mark.parametrize(("mode", "values", "config_tracking", "peering"), VARIANTS)
def test_the_service_account_may_do_exactly_what_the_rules_list(
    mode: str, values: dict[str, Any], config_tracking: bool, peering: bool,
    api: client.ApiClient, namespace: str, install: Install,
) -> None:
    installation = install(**chart_values(mode, namespace, **values))
    needed = grants(required_rules(cluster_wide=mode == CLUSTER_WIDE,
                                   config_tracking=config_tracking, peering=peering))
    candidates = served_verbs(api) | needed | set(SPECIAL_VERBS)
    scopes = (namespace, installation.release_namespace, OTHER_NAMESPACE, ALL_NAMESPACES)
    questions = {(scope, *grant) for scope in scopes for grant in candidates}

    everyone = allowed(api, unbound(installation), questions)
    granted = allowed(api, subject(installation), questions) - everyone

    where = scopes if mode == CLUSTER_WIDE else (namespace,)
    expected = {(scope, *grant) for scope in where for grant in needed}
    assert not expected & everyone, "the check must not rest on what everyone may do"
    assert granted - expected == set(), "granted beyond the rules"
    assert expected - granted == set(), "the rules are not all granted"


# Each of these, in the watched namespace, another one and cluster-wide.
NEVER: tuple[Grant, ...] = (
    ("", "secrets", "list"),
    ("", "secrets", "watch"),
    ("", "secrets", "delete"),
    ("", "configmaps", "list"),
    ("", "configmaps", "watch"),
    ("", "configmaps", "delete"),
    ("autoscaling", "horizontalpodautoscalers", "get"),
    ("autoscaling", "horizontalpodautoscalers", "update"),
    ("autoscaling", "horizontalpodautoscalers", "delete"),
    ("autoscaling", "horizontalpodautoscalers/status", "patch"),
    ("", "namespaces", "create"),
    ("", "namespaces", "delete"),
    ("", "namespaces", "list"),
    ("rbac.authorization.k8s.io", "clusterroles", "create"),
    ("rbac.authorization.k8s.io", "clusterroles", "patch"),
    ("rbac.authorization.k8s.io", "clusterroles", "escalate"),
    ("rbac.authorization.k8s.io", "clusterrolebindings", "create"),
    ("rbac.authorization.k8s.io", "roles", "create"),
    ("rbac.authorization.k8s.io", "rolebindings", "create"),
    ("rbac.authorization.k8s.io", "rolebindings", "patch"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "patch"),
    ("apps", "deployments", "delete"),
    ("apps", "deployments", "deletecollection"),
    ("apps", "deployments", "update"),
    ("apps", "deployments/scale", "patch"),
    ("", "services", "delete"),
    ("networking.istio.io", "virtualservices", "delete"),
    ("networking.istio.io", "destinationrules", "delete"),
    ("flagger.app", "canaries", "create"),
    ("flagger.app", "canaries", "delete"),
    ("flagger.app", "metrictemplates", "patch"),
    ("", "pods", "create"),
    ("", "pods/exec", "create"),
    ("", "serviceaccounts/token", "create"),
    ("", "serviceaccounts", "impersonate"),
    ("apps", "statefulsets", "patch"),
    ("networking.istio.io", "gateways", "patch"),
    ("", "events", "delete"),
)


@pytest.mark.parametrize("mode", [CLUSTER_WIDE, NAMESPACED])
def test_the_service_account_cannot_touch_what_it_does_not_manage(
    mode: str, api: client.ApiClient, namespace: str, install: Install,
) -> None:
    installation = install(**chart_values(mode, namespace))
    scopes = (namespace, OTHER_NAMESPACE, ALL_NAMESPACES)
    questions = {(scope, *grant) for scope in scopes for grant in NEVER}
    assert allowed(api, subject(installation), questions) == set()


# Config tracking off: not even a Secret or a ConfigMap by name.
CONFIG_TRACKING_ONLY: tuple[Grant, ...] = (
    ("", "secrets", "get"), ("", "secrets", "create"), ("", "secrets", "patch"),
    ("", "configmaps", "get"), ("", "configmaps", "create"), ("", "configmaps", "patch"),
)


@pytest.mark.parametrize("mode", [CLUSTER_WIDE, NAMESPACED])
def test_without_config_tracking_secrets_and_config_maps_are_out_of_reach(
    mode: str, api: client.ApiClient, namespace: str, install: Install,
) -> None:
    installation = install(**chart_values(mode, namespace, configTracking=False))
    scopes = (namespace, OTHER_NAMESPACE, ALL_NAMESPACES)
    questions = {(scope, *grant) for scope in scopes for grant in CONFIG_TRACKING_ONLY}
    assert allowed(api, subject(installation), questions) == set()


def test_in_namespaced_mode_it_sees_nothing_outside_its_namespace(
    api: client.ApiClient, namespace: str, install: Install,
) -> None:
    installation = install(**chart_values(NAMESPACED, namespace))
    reads = [("apps", "deployments", "list"), ("apps", "deployments", "get"),
             ("flagger.app", "canaries", "list"), ("flagger.app", "metrictemplates", "list"),
             ("flagger.app", "alertproviders", "list"),
             ("autoscaling", "horizontalpodautoscalers", "list"), ("", "secrets", "get"),
             ("", "services", "get"), ("networking.istio.io", "virtualservices", "get")]
    inside = {(namespace, *read) for read in reads}
    outside = {(scope, *read) for read in reads
               for scope in (installation.release_namespace, OTHER_NAMESPACE, ALL_NAMESPACES)}
    assert allowed(api, subject(installation), inside | outside) == inside


# -- the one rule the lab's API server does not exercise ------------------------------------

ENFORCING_PLUGIN = "OwnerReferencesPermissionEnforcement"


@pytest.fixture
def enforcing_apiserver(lab: Lab, tmp_path: Path) -> Iterator[str]:
    """A second kube-apiserver on the lab's etcd, with the admission plugin OpenShift and
    hardened clusters turn on: setting blockOwnerDeletion needs update on the owner's
    finalizers."""
    [apiserver] = [p for p in lab.state.processes if p.name == "kube-apiserver"]
    port = free_port()
    argv = [arg for arg in apiserver.argv
            if not arg.startswith(("--secure-port=", "--cert-dir="))]
    argv += [f"--secure-port={port}", f"--cert-dir={tmp_path / 'apiserver-certs'}",
             f"--enable-admission-plugins={ENFORCING_PLUGIN}"]
    record = spawn("kube-apiserver-enforcing", argv, tmp_path / "apiserver.log")
    server = f"https://127.0.0.1:{port}"
    ca = ssl.create_default_context(cafile=str(Pki(lab.state.state_dir / "pki").ca_cert))

    def ready() -> bool:
        try:
            return httpx.get(f"{server}/readyz", verify=ca, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, f"a kube-apiserver with {ENFORCING_PLUGIN}", 60, [record])
        yield server
    finally:
        stop(record)


def without_finalizers(installation: Installation) -> Installation:
    """The chart's namespaced ServiceAccount, Role and RoleBinding again, under another
    name and without the canaries/finalizers rule."""
    other = Installation(installation.api, installation.release_namespace)
    for original in installation.manifests:
        manifest = copy.deepcopy(original)
        manifest["metadata"]["name"] += "-no-finalizers"
        if manifest["kind"] == "Role":
            manifest["rules"] = [rule for rule in manifest["rules"]
                                 if "canaries/finalizers" not in rule["resources"]]
        if manifest["kind"] == "RoleBinding":
            manifest["roleRef"]["name"] += "-no-finalizers"
            manifest["subjects"][0]["name"] += "-no-finalizers"
        other.create(manifest)
    return other


def owned_objects(canary_object: Canary) -> list[Manifest]:
    """What the operator creates with an owner reference to the Canary, as it builds them."""
    target = deployment(NAME, GOOD, replicas=2)
    target["metadata"]["namespace"] = canary_object.metadata.namespace
    with_hpa = Canary.model_validate({
        **canary_object.model_dump(mode="json", by_alias=True, exclude_none=True),
        "spec": {**canary_object.model_dump(mode="json", by_alias=True,
                                            exclude_none=True)["spec"],
                 "autoscalerRef": {"apiVersion": "autoscaling/v2",
                                   "kind": "HorizontalPodAutoscaler", "name": NAME}},
    })
    target_hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                  "metadata": {"name": NAME},
                  "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": NAME},
                           "minReplicas": 1, "maxReplicas": 3}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
              "data": {"a": "1"}}
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "token"}, "data": {"t": "dA=="}}
    return [build_primary_deployment(canary_object, target),
            *build_services(canary_object, selector_label(target)),
            *build_destination_rules(canary_object),
            build_virtual_service(canary_object),
            build_primary_hpa(with_hpa, target_hpa),
            build_primary_config(canary_object, config),
            build_primary_config(canary_object, secret)]


def dry_run_create(api: client.ApiClient, manifest: Manifest) -> ApiException | None:
    """Create `manifest` without storing it (admission runs); the refusal, if any."""
    namespace, kind = manifest["metadata"]["namespace"], manifest["kind"]
    try:
        if kind == "Deployment":
            client.AppsV1Api(api).create_namespaced_deployment(
                namespace, client.V1Deployment.model_validate(manifest), dry_run="All")
        elif kind == "Service":
            client.CoreV1Api(api).create_namespaced_service(
                namespace, client.V1Service.model_validate(manifest), dry_run="All")
        elif kind == "HorizontalPodAutoscaler":
            client.AutoscalingV2Api(api).create_namespaced_horizontal_pod_autoscaler(
                namespace, client.V2HorizontalPodAutoscaler.model_validate(manifest),
                dry_run="All")
        elif kind == "ConfigMap":
            client.CoreV1Api(api).create_namespaced_config_map(
                namespace, client.V1ConfigMap.model_validate(manifest), dry_run="All")
        elif kind == "Secret":
            client.CoreV1Api(api).create_namespaced_secret(
                namespace, client.V1Secret.model_validate(manifest), dry_run="All")
        else:
            plural = {"VirtualService": istio.VIRTUAL_SERVICES,
                      "DestinationRule": istio.DESTINATION_RULES}[kind]
            client.CustomObjectsApi(api).create_namespaced_custom_object(
                istio.GROUP, istio.VERSION, namespace, plural, manifest, dry_run="All")
    except ApiException as error:
        return error
    return None


def test_blocking_owner_references_need_update_on_canary_finalizers(
    lab: Lab, api: client.ApiClient, namespace: str, install: Install, canary_crds: None,
    enforcing_apiserver: str, tmp_path: Path,
) -> None:
    chart = install(**chart_values(NAMESPACED, namespace))
    lacking = without_finalizers(chart)
    Cluster(lab, api, namespace).apply_canary(canary(namespace))
    owner = Canary.model_validate(Cluster(lab, api, namespace).canary())
    objects = owned_objects(owner)
    assert all(o["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] for o in objects)

    with_rule = lab_client(chart.token_kubeconfig(
        lab, tmp_path / "chart.kubeconfig", enforcing_apiserver))
    assert [dry_run_create(with_rule, o) for o in objects] == [None] * len(objects)

    without_rule = lab_client(lacking.token_kubeconfig(
        lab, tmp_path / "lacking.kubeconfig", enforcing_apiserver))
    refusals = [dry_run_create(without_rule, o) for o in objects]
    assert all(r is not None and r.status == 403 and "blockOwnerDeletion" in str(r.body)
               for r in refusals), refusals

    # The lab's own API server does not enforce it: that is why this test needs its own.
    plain = lab_client(lacking.token_kubeconfig(lab, tmp_path / "plain.kubeconfig"))
    assert dry_run_create(plain, objects[0]) is None
