"""The operator's permissions, and the chart's RBAC rendered by helm: they never drift."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from canary_operator import api
from canary_operator.kube.permissions import (
    CONFIG_TRACKING_RULES,
    OPERATOR_RULES,
    PolicyRuleError,
    grants,
    policy_grants,
    required_rules,
)
from canary_operator.routers import istio
from tests.rbac_chart import (
    CHART,
    PEERING_TEMPLATE,
    RBAC_TEMPLATE,
    SERVICE_ACCOUNT_TEMPLATE,
    of_kind,
    render,
    role_grants,
)

RELEASE, RELEASE_NAMESPACE = "rbac-test", "operators"
# Write verbs that would let the operator change what it does not manage.
DANGEROUS_VERBS = {"delete", "deletecollection", "update", "bind", "escalate", "impersonate",
                   "approve", "*"}


# -- the rules themselves ------------------------------------------------------------------


def test_every_rule_names_the_code_path_that_needs_it() -> None:
    rules = required_rules(cluster_wide=True, config_tracking=True, peering=True)
    for rule in rules:
        assert len(rule.reason) > 30, rule
    resources = [(rule.api_group, rule.resource) for rule in rules]
    assert len(resources) == len(set(resources)), "one rule per resource"


def test_nothing_is_deleted_or_updated_only_patched() -> None:
    everything = grants(required_rules(cluster_wide=True, config_tracking=True, peering=True))
    risky = {g for g in everything if g[2] in DANGEROUS_VERBS}
    # The one update: blockOwnerDeletion in our owner references needs it on the owner.
    assert risky == {("flagger.app", "canaries/finalizers", "update")}


def test_secrets_and_config_maps_only_with_config_tracking() -> None:
    def resources(config_tracking: bool) -> set[str]:
        return {r.resource for r in required_rules(cluster_wide=True,
                                                   config_tracking=config_tracking)}

    assert not {"secrets", "configmaps"} & resources(False)
    assert {"secrets", "configmaps"} <= resources(True)
    assert all("list" not in r.verbs and "watch" not in r.verbs for r in CONFIG_TRACKING_RULES)


def test_peering_uses_the_peering_kind_of_the_mode() -> None:
    assert grants(required_rules(cluster_wide=True, peering=True)) - grants(OPERATOR_RULES) == {
        ("kopf.dev", "clusterkopfpeerings", verb) for verb in ("list", "watch", "patch")}
    assert grants(required_rules(cluster_wide=False, peering=True)) - grants(OPERATOR_RULES) == {
        ("kopf.dev", "kopfpeerings", verb) for verb in ("list", "watch", "patch")}
    assert required_rules(cluster_wide=True) == required_rules(cluster_wide=False)


def test_the_hpa_rule_serves_an_index_and_the_primary_copy_without_reads() -> None:
    [rule] = [r for r in OPERATOR_RULES if r.resource == "horizontalpodautoscalers"]
    assert rule.api_group == "autoscaling"
    assert set(rule.verbs) == {"list", "watch", "create", "patch"}


def test_the_rules_name_the_groups_and_kinds_the_code_uses() -> None:
    by_group = {(r.api_group, r.resource) for r in OPERATOR_RULES}
    assert {(api.GROUP, "canaries"), (api.GROUP, "canaries/status"),
            (api.GROUP, "metrictemplates"), (api.GROUP, "alertproviders")} <= by_group
    assert {(istio.GROUP, istio.VIRTUAL_SERVICES),
            (istio.GROUP, istio.DESTINATION_RULES)} <= by_group


def test_policy_grants_expands_grouped_rules() -> None:
    rules = [{"apiGroups": ["", "apps"], "resources": ["a", "b"], "verbs": ["get", "list"]}]
    assert len(policy_grants(rules)) == 8
    assert ("apps", "b", "list") in policy_grants(rules)


@pytest.mark.parametrize("rule", [
    {"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["*"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"], "resourceNames": ["x"]},
    {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
])
def test_policy_grants_refuses_what_it_cannot_compare(rule: dict[str, Any]) -> None:
    with pytest.raises(PolicyRuleError):
        policy_grants([rule])


# -- the chart, rendered -------------------------------------------------------------------

CLUSTER_WIDE_VALUES = [
    pytest.param({}, True, False, id="defaults"),  # config tracking is on, as in Flagger
    pytest.param({"configTracking": False}, False, False, id="no-config-tracking"),
    pytest.param({"replicas": 2, "configTracking": False}, False, True, id="two-replicas"),
    pytest.param({"replicas": 3}, True, True, id="both"),
]


@pytest.mark.parametrize(("values", "config_tracking", "peering"), CLUSTER_WIDE_VALUES)
def test_the_cluster_role_grants_exactly_the_required_rules(
    values: dict[str, Any], config_tracking: bool, peering: bool
) -> None:
    manifests = render(values, release=RELEASE, namespace=RELEASE_NAMESPACE)
    assert sorted(m["kind"] for m in manifests) == ["ClusterRole", "ClusterRoleBinding"]
    [cluster_role] = of_kind(manifests, "ClusterRole")
    assert role_grants(cluster_role) == grants(required_rules(
        cluster_wide=True, config_tracking=config_tracking, peering=peering))


def test_the_binding_gives_the_cluster_role_to_the_charts_service_account() -> None:
    manifests = render({}, release=RELEASE, namespace=RELEASE_NAMESPACE,
                       templates=(RBAC_TEMPLATE, SERVICE_ACCOUNT_TEMPLATE))
    [account] = of_kind(manifests, "ServiceAccount")
    [cluster_role] = of_kind(manifests, "ClusterRole")
    [binding] = of_kind(manifests, "ClusterRoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": "ClusterRole", "name": cluster_role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount",
                                    "name": account["metadata"]["name"],
                                    "namespace": RELEASE_NAMESPACE}]


@pytest.mark.parametrize(("values", "config_tracking", "peering"), [
    pytest.param({}, True, False, id="defaults"),
    pytest.param({"configTracking": False}, False, False, id="no-config-tracking"),
    pytest.param({"replicas": 2}, True, True, id="with-peering"),
])
def test_namespaced_mode_has_a_role_in_each_namespace_and_nothing_cluster_wide(
    values: dict[str, Any], config_tracking: bool, peering: bool
) -> None:
    watched = ["team-a", "team-b"]
    manifests = render({**values, "watchNamespaces": watched},
                       release=RELEASE, namespace=RELEASE_NAMESPACE,
                       templates=(RBAC_TEMPLATE, SERVICE_ACCOUNT_TEMPLATE))
    assert not of_kind(manifests, "ClusterRole")
    assert not of_kind(manifests, "ClusterRoleBinding")
    [account] = of_kind(manifests, "ServiceAccount")
    roles, bindings = of_kind(manifests, "Role"), of_kind(manifests, "RoleBinding")
    assert sorted(r["metadata"]["namespace"] for r in roles) == watched
    assert sorted(b["metadata"]["namespace"] for b in bindings) == watched
    expected = grants(required_rules(cluster_wide=False, config_tracking=config_tracking,
                                     peering=peering))
    for role in roles:
        assert role_grants(role) == expected
    for binding in bindings:
        [role] = [r for r in roles
                  if r["metadata"]["namespace"] == binding["metadata"]["namespace"]]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                      "kind": "Role", "name": role["metadata"]["name"]}
        assert binding["subjects"] == [{"kind": "ServiceAccount",
                                        "name": account["metadata"]["name"],
                                        "namespace": RELEASE_NAMESPACE}]


def test_an_existing_service_account_is_bound_when_the_chart_creates_none() -> None:
    manifests = render({"serviceAccount": {"create": False, "name": "ops-robot"}},
                       release=RELEASE, namespace=RELEASE_NAMESPACE,
                       templates=(RBAC_TEMPLATE, SERVICE_ACCOUNT_TEMPLATE))
    assert not of_kind(manifests, "ServiceAccount")
    [binding] = of_kind(manifests, "ClusterRoleBinding")
    assert binding["subjects"][0]["name"] == "ops-robot"


@pytest.mark.parametrize(("watch", "kind", "resource"), [
    pytest.param([], "ClusterKopfPeering", "clusterkopfpeerings", id="cluster-wide"),
    pytest.param(["team-a"], "KopfPeering", "kopfpeerings", id="namespaced"),
])
def test_the_peering_rule_is_for_the_peering_object_the_chart_creates(
    watch: list[str], kind: str, resource: str
) -> None:
    manifests = render({"replicas": 2, "watchNamespaces": watch}, release=RELEASE,
                       namespace=RELEASE_NAMESPACE, templates=(RBAC_TEMPLATE, PEERING_TEMPLATE))
    [peering] = of_kind(manifests, kind)
    [role] = of_kind(manifests, "ClusterRole" if not watch else "Role")
    assert {g for g in role_grants(role) if g[0] == "kopf.dev"} == {
        ("kopf.dev", resource, verb) for verb in ("list", "watch", "patch")}
    assert peering["metadata"].get("namespace") == (watch[0] if watch else None)


def test_kopf_patches_keep_alives_into_the_peering_objects_themselves() -> None:
    # No status subresource on the chart's peering CRDs: kopf's patch of the status goes to
    # the object, so the rule needs no <plural>/status.
    crds = [doc for doc in yaml.safe_load_all((CHART / "crds" / "kopf-peering.yaml").read_text())
            if doc]
    assert sorted(crd["spec"]["names"]["plural"] for crd in crds) == [
        "clusterkopfpeerings", "kopfpeerings"]
    for crd in crds:
        assert all("status" not in (version.get("subresources") or {})
                   for version in crd["spec"]["versions"])
