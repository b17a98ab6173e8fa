"""The pure builders of canary_operator.kube: the primary clone, its promotion patch, the
three Services, and the merge patches that keep the appliers idempotent."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from canary_operator.api import Canary
from canary_operator.kube import (
    ROUTER_ANNOTATIONS,
    TargetError,
    build_primary_deployment,
    build_promotion_patch,
    build_service_patch,
    build_services,
    is_owned_by,
    merge_patch,
    owner_reference,
    pod_template_hash,
    selector_label,
)
from canary_operator.kube.services import build_apex_revert_patch
from canary_operator.kube.workloads import CONFIG_CHECKSUM, FLAGGER_ID
from tests.fake_api import apply_merge_patch

UID = "7d1c0e0a-0000-4000-8000-000000000001"


def make_canary(service: dict[str, Any] | None = None, **spec: Any) -> Canary:
    return Canary.model_validate({
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": UID},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898, **(service or {})},
            **spec,
        },
    })


def make_target(**overrides: Any) -> dict[str, Any]:
    """A Deployment as the API returns it (camelCase JSON, defaults filled in)."""
    target: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "podinfo",
            "namespace": "test",
            "uid": "target-uid",
            "resourceVersion": "41",
            "labels": {"app": "podinfo", "team": "web"},
            "annotations": {
                "deployment.kubernetes.io/revision": "3",
                "kustomize.toolkit.fluxcd.io/checksum": "abc",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "owner": "team-web",
            },
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "podinfo"}},
            "progressDeadlineSeconds": 60,
            "minReadySeconds": 5,
            "revisionHistoryLimit": 4,
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": "podinfo", "version": "6.9"},
                             "annotations": {"prometheus.io/scrape": "true"}},
                "spec": {
                    "containers": [{
                        "name": "podinfo",
                        "image": "podinfo:6.9.0",
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        "envFrom": [{"configMapRef": {"name": "podinfo-config"}}],
                    }],
                    "affinity": {"podAntiAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": [{
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app": "podinfo"}},
                        }],
                        "preferredDuringSchedulingIgnoredDuringExecution": [{
                            "weight": 100,
                            "podAffinityTerm": {
                                "topologyKey": "zone",
                                "labelSelector": {"matchExpressions": [{
                                    "key": "app", "operator": "In",
                                    "values": ["podinfo", "other"],
                                }]},
                            },
                        }],
                    }},
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": "zone",
                        "whenUnsatisfiable": "DoNotSchedule",
                        "labelSelector": {"matchLabels": {"app": "podinfo", "tier": "podinfo2"}},
                    }],
                },
            },
        },
    }
    target["spec"].update(overrides)
    return target


# -- selector_label -----------------------------------------------------------------------


def test_selector_label_is_the_first_configured_key_in_match_labels() -> None:
    target = make_target(selector={"matchLabels": {
        "app.kubernetes.io/name": "podinfo-x", "name": "podinfo-n"}})
    assert selector_label(target) == ("name", "podinfo-n")
    assert selector_label(target, ["app.kubernetes.io/name", "name"]) == (
        "app.kubernetes.io/name", "podinfo-x")


def test_selector_label_error_names_the_deployment_and_the_keys_like_flagger() -> None:
    target = make_target(selector={"matchLabels": {"tier": "web"}})
    with pytest.raises(TargetError) as error:
        selector_label(target)
    assert str(error.value).startswith(
        "deployment podinfo.test spec.selector.matchLabels must contain one of "
        "[app name app.kubernetes.io/name]"
    )
    assert "tier" in str(error.value)


# -- pod_template_hash --------------------------------------------------------------------


def _reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed_keys(v) for v in value]
    return value


def test_pod_template_hash_is_stable_under_key_reordering() -> None:
    target = make_target()
    reordered = _reversed_keys(target)
    assert list(reordered["spec"]["template"]) != list(target["spec"]["template"])
    assert pod_template_hash(reordered) == pod_template_hash(target)
    assert re.fullmatch(r"[0-9a-f]{16}", pod_template_hash(target))


def test_pod_template_hash_changes_with_the_template_only() -> None:
    target = make_target()
    rescaled = make_target(replicas=10, strategy={"type": "Recreate"})
    new_image = make_target()
    new_image["spec"]["template"]["spec"]["containers"][0]["image"] = "podinfo:6.9.1"
    annotated = make_target()
    annotated["spec"]["template"]["metadata"]["annotations"]["restartedAt"] = "now"
    assert pod_template_hash(rescaled) == pod_template_hash(target)
    assert pod_template_hash(new_image) != pod_template_hash(target)
    assert pod_template_hash(annotated) != pod_template_hash(target)


# -- build_primary_deployment -------------------------------------------------------------


def test_primary_is_named_after_the_target_and_selects_primary_pods() -> None:
    primary = build_primary_deployment(make_canary(), make_target())
    assert primary["apiVersion"] == "apps/v1" and primary["kind"] == "Deployment"
    assert primary["metadata"]["name"] == "podinfo-primary"
    assert primary["metadata"]["namespace"] == "test"
    assert primary["metadata"]["labels"] == {"app": "podinfo-primary", "team": "web"}
    assert primary["spec"]["selector"] == {"matchLabels": {"app": "podinfo-primary"}}
    assert primary["spec"]["template"]["metadata"]["labels"] == {
        "app": "podinfo-primary", "version": "6.9"}


def test_primary_is_owned_by_the_canary() -> None:
    primary = build_primary_deployment(make_canary(), make_target())
    assert primary["metadata"]["ownerReferences"] == [{
        "apiVersion": "flagger.app/v1beta1", "kind": "Canary", "name": "podinfo",
        "uid": UID, "controller": True, "blockOwnerDeletion": True,
    }]


def test_primary_does_not_inherit_flux_revision_or_kubectl_annotations() -> None:
    primary = build_primary_deployment(make_canary(), make_target())
    assert primary["metadata"]["annotations"] == {"owner": "team-web"}


def test_primary_copies_the_rollout_settings_of_the_target() -> None:
    target = make_target()
    spec = build_primary_deployment(make_canary(), target)["spec"]
    for field in ("progressDeadlineSeconds", "minReadySeconds", "revisionHistoryLimit",
                  "strategy"):
        assert spec[field] == target["spec"][field]
    assert spec["replicas"] == 3


@pytest.mark.parametrize("replicas", [None, 0])
def test_primary_has_one_replica_when_the_target_has_none(replicas: int | None) -> None:
    target = make_target(replicas=replicas)
    assert build_primary_deployment(make_canary(), target)["spec"]["replicas"] == 1


def test_primary_template_gets_a_fresh_flagger_id_each_time() -> None:
    target = make_target()
    first = build_primary_deployment(make_canary(), target)
    second = build_primary_deployment(make_canary(), target)
    first_annotations = first["spec"]["template"]["metadata"]["annotations"]
    assert first_annotations["prometheus.io/scrape"] == "true"
    assert first_annotations[FLAGGER_ID] != (
        second["spec"]["template"]["metadata"]["annotations"][FLAGGER_ID])
    pinned = build_primary_deployment(make_canary(), target, flagger_id="fixed")
    assert pinned["spec"]["template"]["metadata"]["annotations"][FLAGGER_ID] == "fixed"


def test_primary_affinity_and_spread_select_primary_pods() -> None:
    pod = build_primary_deployment(make_canary(), make_target())["spec"]["template"]["spec"]
    anti = pod["affinity"]["podAntiAffinity"]
    required = anti["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert required["labelSelector"] == {"matchLabels": {"app": "podinfo-primary"}}
    preferred = anti["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert preferred["podAffinityTerm"]["labelSelector"]["matchExpressions"][0]["values"] == [
        "podinfo-primary", "other"]
    spread = pod["topologySpreadConstraints"][0]["labelSelector"]
    assert spread == {"matchLabels": {"app": "podinfo-primary", "tier": "podinfo2"}}


def test_primary_keeps_config_references_and_the_target_is_not_mutated() -> None:
    target = make_target()
    before = copy.deepcopy(target)
    pod = build_primary_deployment(make_canary(), target)["spec"]["template"]["spec"]
    assert pod["containers"][0]["envFrom"] == [{"configMapRef": {"name": "podinfo-config"}}]
    assert target == before


def test_primary_uses_the_configured_selector_labels() -> None:
    target = make_target(selector={"matchLabels": {"app.kubernetes.io/name": "podinfo"}})
    target["spec"]["template"]["metadata"]["labels"] = {"app.kubernetes.io/name": "podinfo"}
    primary = build_primary_deployment(make_canary(), target,
                                       selector_labels=["app.kubernetes.io/name"])
    assert primary["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "podinfo-primary"}


def test_owned_objects_need_the_canary_uid() -> None:
    canary = make_canary().model_copy(
        update={"metadata": make_canary().metadata.model_copy(update={"uid": None})})
    with pytest.raises(ValueError, match=r"test/podinfo has no metadata\.uid"):
        owner_reference(canary)


# -- build_promotion_patch ----------------------------------------------------------------


def _live_primary(target: dict[str, Any]) -> dict[str, Any]:
    primary = build_primary_deployment(make_canary(), target, flagger_id="old-id")
    primary["metadata"]["resourceVersion"] = "77"
    primary["metadata"]["labels"]["added-by-someone"] = "yes"
    return primary


def test_promotion_of_an_unchanged_template_is_empty() -> None:
    target = make_target()
    assert build_promotion_patch(make_canary(), target, _live_primary(target)) == {}


def test_promotion_copies_the_new_template_with_a_new_flagger_id() -> None:
    old, new = make_target(), make_target()
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "podinfo:6.9.1"
    primary = _live_primary(old)
    patch = build_promotion_patch(make_canary(), new, primary, flagger_id="new-id")
    assert patch["metadata"] == {"resourceVersion": "77"}
    assert patch["spec"]["template"]["metadata"] == {"annotations": {FLAGGER_ID: "new-id"}}
    # Lists are replaced whole by a merge patch: the complete containers list is sent.
    assert patch["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:6.9.1"
    assert patch["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    promoted = apply_merge_patch(primary, patch)
    assert promoted["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:6.9.1"
    assert promoted["spec"]["selector"] == {"matchLabels": {"app": "podinfo-primary"}}


def test_a_promoted_primary_needs_no_second_promotion() -> None:
    old, new = make_target(), make_target(replicas=5, strategy={"type": "Recreate"})
    container = new["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "A", "value": "1"}]
    del new["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"]
    new["spec"]["template"]["metadata"]["labels"]["version"] = "7.0"
    primary = _live_primary(old)
    promoted = apply_merge_patch(primary, build_promotion_patch(make_canary(), new, primary))
    assert build_promotion_patch(make_canary(), new, promoted) == {}
    assert promoted["spec"]["strategy"] == {"type": "Recreate"}
    assert promoted["spec"]["replicas"] == 5
    assert promoted["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "1"}]
    template_meta = promoted["spec"]["template"]["metadata"]
    assert template_meta["labels"] == {"app": "podinfo-primary", "version": "7.0"}
    assert set(template_meta["annotations"]) == {FLAGGER_ID}
    assert template_meta["annotations"][FLAGGER_ID] != "old-id"
    assert promoted["metadata"]["labels"]["added-by-someone"] == "yes"


def test_promotion_leaves_replicas_to_the_autoscaler() -> None:
    canary = make_canary(autoscalerRef={"apiVersion": "autoscaling/v2",
                                        "kind": "HorizontalPodAutoscaler", "name": "podinfo"})
    old, new = make_target(), make_target(replicas=7)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "podinfo:6.9.1"
    patch = build_promotion_patch(canary, new, _live_primary(old))
    assert "replicas" not in patch["spec"]
    without_autoscaler = build_promotion_patch(make_canary(), new, _live_primary(old))
    assert without_autoscaler["spec"]["replicas"] == 7


def test_promotion_never_scales_the_primary_to_zero() -> None:
    old, new = make_target(), make_target(replicas=0)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "podinfo:6.9.1"
    patch = build_promotion_patch(make_canary(), new, _live_primary(old))
    assert "replicas" not in patch["spec"]


# -- config tracking in the primary's template ---------------------------------------------

CHECKSUMS = {"configmap/podinfo-config": "0123456789abcdef"}


def test_primary_uses_the_copies_of_tracked_configs() -> None:
    target = make_target()
    before = copy.deepcopy(target)
    primary = build_primary_deployment(make_canary(), target,
                                       tracked={"configmap/podinfo-config"})
    pod = primary["spec"]["template"]["spec"]
    assert pod["containers"][0]["envFrom"] == [
        {"configMapRef": {"name": "podinfo-config-primary"}}]
    assert CONFIG_CHECKSUM not in primary["spec"]["template"]["metadata"]["annotations"]
    assert target == before


def test_primary_carries_the_checksum_of_its_configs_when_given_them() -> None:
    primary = build_primary_deployment(make_canary(), make_target(), tracked=CHECKSUMS)
    annotations = primary["spec"]["template"]["metadata"]["annotations"]
    assert re.fullmatch(r"[0-9a-f]{16}", annotations[CONFIG_CHECKSUM])
    assert primary["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [
        {"configMapRef": {"name": "podinfo-config-primary"}}]


def _tracked_primary(target: dict[str, Any]) -> dict[str, Any]:
    primary = build_primary_deployment(make_canary(), target, flagger_id="old-id",
                                       tracked=CHECKSUMS)
    primary["metadata"]["resourceVersion"] = "77"
    return primary


def test_promotion_with_the_same_configs_is_empty() -> None:
    target = make_target()
    primary = _tracked_primary(target)
    assert build_promotion_patch(make_canary(), target, primary, tracked=CHECKSUMS) == {}
    # Given only the keys, the annotation the primary has is kept.
    assert build_promotion_patch(make_canary(), target, primary, tracked=set(CHECKSUMS)) == {}


def test_promotion_of_changed_configs_alone_rolls_the_primary() -> None:
    target = make_target()
    primary = _tracked_primary(target)
    changed = {"configmap/podinfo-config": "fedcba9876543210"}
    patch = build_promotion_patch(make_canary(), target, primary, flagger_id="new-id",
                                  tracked=changed)
    annotations = patch["spec"]["template"]["metadata"]["annotations"]
    assert set(annotations) == {CONFIG_CHECKSUM, FLAGGER_ID}
    assert annotations[FLAGGER_ID] == "new-id"
    assert annotations[CONFIG_CHECKSUM] != primary["spec"]["template"]["metadata"][
        "annotations"][CONFIG_CHECKSUM]
    assert "spec" not in patch["spec"]["template"], "the pod spec is unchanged"
    promoted = apply_merge_patch(primary, patch)
    assert build_promotion_patch(make_canary(), target, promoted, tracked=changed) == {}


def test_promotion_points_a_primary_at_the_copies_once_configs_are_tracked() -> None:
    target = make_target()
    primary = _live_primary(target)  # created before config tracking
    patch = build_promotion_patch(make_canary(), target, primary,
                                  tracked={"configmap/podinfo-config"})
    assert patch["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [
        {"configMapRef": {"name": "podinfo-config-primary"}}]
    promoted = apply_merge_patch(primary, patch)
    assert build_promotion_patch(make_canary(), target, promoted,
                                 tracked={"configmap/podinfo-config"}) == {}
    # And back to the originals when they are no longer tracked.
    untracked = build_promotion_patch(make_canary(), target, promoted)
    assert untracked["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [
        {"configMapRef": {"name": "podinfo-config"}}]


def test_promotion_with_an_autoscaler_copies_the_template_but_not_replicas() -> None:
    canary = make_canary(autoscalerRef={"apiVersion": "autoscaling/v2",
                                        "kind": "HorizontalPodAutoscaler", "name": "podinfo"})
    old, new = make_target(replicas=2), make_target(replicas=9, minReadySeconds=30)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "podinfo:6.9.1"
    primary = _live_primary(old)
    primary["spec"]["replicas"] = 4  # where the primary's HPA has scaled it
    promoted = apply_merge_patch(primary, build_promotion_patch(canary, new, primary))
    assert promoted["spec"]["replicas"] == 4
    assert promoted["spec"]["minReadySeconds"] == 30
    assert promoted["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:6.9.1"


# -- merge_patch and ownership ------------------------------------------------------------


def test_merge_patch_is_empty_for_equal_objects_and_minimal_otherwise() -> None:
    live = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2], "gone": True}
    assert merge_patch(live, copy.deepcopy(live)) == {}
    desired = {"a": 1, "b": {"c": 2, "d": 4}, "e": [1], "new": "x"}
    patch = merge_patch(live, desired)
    assert patch == {"b": {"d": 4}, "e": [1], "new": "x", "gone": None}
    assert apply_merge_patch(live, patch) == desired


def test_ownership_is_by_canary_kind_name_and_uid() -> None:
    canary = make_canary()
    ours = {"metadata": {"ownerReferences": [owner_reference(canary)]}}
    same_name_other_uid = {"metadata": {"ownerReferences": [
        {**owner_reference(canary), "uid": "another"}]}}
    assert is_owned_by(ours, canary)
    assert not is_owned_by(same_name_other_uid, canary)
    assert not is_owned_by({"metadata": {}}, canary)


# -- build_services -----------------------------------------------------------------------


def test_services_are_apex_primary_and_canary_with_their_selectors() -> None:
    apex, primary, canary = build_services(make_canary(), ("app", "podinfo"))
    assert [s["metadata"]["name"] for s in (apex, primary, canary)] == [
        "podinfo", "podinfo-primary", "podinfo-canary"]
    assert apex["spec"]["selector"] == {"app": "podinfo-primary"}
    assert primary["spec"]["selector"] == {"app": "podinfo-primary"}
    assert canary["spec"]["selector"] == {"app": "podinfo"}
    for service in (apex, primary, canary):
        assert service["apiVersion"] == "v1" and service["kind"] == "Service"
        assert service["spec"]["type"] == "ClusterIP"
        assert service["metadata"]["namespace"] == "test"
        assert service["metadata"]["ownerReferences"][0]["uid"] == UID
        assert service["metadata"]["annotations"] == dict(ROUTER_ANNOTATIONS)
        assert service["metadata"]["labels"] == {"app": service["metadata"]["name"]}


def test_service_port_defaults_to_http_and_the_service_port() -> None:
    (apex, *_) = build_services(make_canary(), ("app", "podinfo"))
    assert apex["spec"]["ports"] == [
        {"name": "http", "protocol": "TCP", "port": 9898, "targetPort": 9898}]


def test_service_port_name_target_port_and_app_protocol_come_from_the_spec() -> None:
    canary = make_canary({"portName": "grpc", "targetPort": "grpc", "appProtocol": "grpc"})
    for service in build_services(canary, ("app", "podinfo")):
        assert service["spec"]["ports"] == [{"name": "grpc", "protocol": "TCP", "port": 9898,
                                             "targetPort": "grpc", "appProtocol": "grpc"}]


def test_service_names_follow_service_name_and_carry_their_metadata() -> None:
    canary = make_canary({
        "name": "frontend",
        "apex": {"labels": {"tier": "apex"}, "annotations": {"note": "apex"}},
        "primary": {"labels": {"tier": "primary"}},
        "canary": {"annotations": {"note": "canary"}},
    })
    apex, primary, canary_svc = build_services(canary, ("app", "podinfo"))
    assert apex["metadata"]["name"] == "frontend"
    assert apex["metadata"]["labels"] == {"tier": "apex", "app": "frontend"}
    assert apex["metadata"]["annotations"] == {"note": "apex", **ROUTER_ANNOTATIONS}
    assert primary["metadata"]["labels"] == {"tier": "primary", "app": "frontend-primary"}
    assert canary_svc["metadata"]["annotations"] == {"note": "canary", **ROUTER_ANNOTATIONS}
    assert canary_svc["spec"]["selector"] == {"app": "podinfo"}


def test_headless_services_have_no_cluster_ip() -> None:
    for service in build_services(make_canary({"headless": True}), ("app", "podinfo")):
        assert service["spec"]["clusterIP"] == "None"


# -- build_service_patch ------------------------------------------------------------------


def _as_created(desired: dict[str, Any]) -> dict[str, Any]:
    live = copy.deepcopy(desired)
    live["metadata"]["resourceVersion"] = "12"
    live["spec"].update({"clusterIP": "10.96.0.7", "sessionAffinity": "None"})
    return live


def test_an_up_to_date_service_needs_no_patch() -> None:
    for desired in build_services(make_canary(), ("app", "podinfo")):
        assert build_service_patch(make_canary(), _as_created(desired), desired) == {}


def test_service_selector_and_ports_are_brought_back_whole() -> None:
    canary = make_canary()
    desired = build_services(canary, ("app", "podinfo"))[0]
    live = _as_created(desired)
    live["spec"]["selector"] = {"app": "podinfo", "version": "v1"}
    live["spec"]["ports"] = [{"name": "web", "protocol": "TCP", "port": 80, "targetPort": 8080}]
    patch = build_service_patch(canary, live, desired)
    assert patch["spec"]["selector"] == {"app": "podinfo-primary", "version": None}
    assert patch["spec"]["ports"] == desired["spec"]["ports"]
    assert patch["metadata"] == {"resourceVersion": "12"}
    assert "clusterIP" not in patch["spec"]


def test_owned_service_metadata_is_replaced_except_unmanaged_keys() -> None:
    canary = make_canary({"apex": {"labels": {"tier": "apex"}},
                          "unmanagedMetadata": {"labels": ["kept"]}})
    desired = build_services(canary, ("app", "podinfo"))[0]
    live = _as_created(desired)
    live["metadata"]["labels"] = {"app": "podinfo", "stale": "x", "kept": "theirs"}
    patch = build_service_patch(canary, live, desired)
    assert patch["metadata"]["labels"] == {"tier": "apex", "stale": None}
    applied = apply_merge_patch(live, patch)
    assert applied["metadata"]["labels"] == {"app": "podinfo", "tier": "apex",
                                             "kept": "theirs"}


def test_a_service_the_canary_does_not_own_only_gains_the_flux_annotations() -> None:
    canary = make_canary({"apex": {"labels": {"tier": "apex"}}})
    desired = build_services(canary, ("app", "podinfo"))[0]
    live = {"metadata": {"name": "podinfo", "resourceVersion": "3",
                         "labels": {"app": "podinfo", "managed-by": "helm"},
                         "annotations": {"meta.helm.sh/release-name": "podinfo"}},
            "spec": {"selector": {"app": "podinfo-primary"}, "ports": desired["spec"]["ports"]}}
    patch = build_service_patch(canary, live, desired)
    assert patch == {"metadata": {"annotations": dict(ROUTER_ANNOTATIONS),
                                  "resourceVersion": "3"}}


def test_revert_points_a_users_apex_service_back_at_the_target() -> None:
    canary = _revert_canary()
    live = {"metadata": {"name": "podinfo"},
            "spec": {"selector": {"app": "podinfo-primary", "tier": "web"}}}
    assert build_apex_revert_patch(canary, live, ("app", "podinfo")) == {
        "spec": {"selector": {"app": "podinfo", "tier": None}}}
    assert build_apex_revert_patch(
        canary, {"spec": {"selector": {"app": "podinfo"}}}, ("app", "podinfo")) == {}


def test_revert_leaves_an_apex_service_the_canary_owns_to_garbage_collection() -> None:
    canary = _revert_canary()
    owned = {"metadata": {"name": "podinfo", "ownerReferences": [owner_reference(canary)]},
             "spec": {"selector": {"app": "podinfo-primary"}}}
    assert build_apex_revert_patch(canary, owned, ("app", "podinfo")) == {}
    assert build_apex_revert_patch(canary, None, ("app", "podinfo")) == {}


def _revert_canary() -> Canary:
    return Canary.model_validate({
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "u-1"},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                 "service": {"port": 9898}, "revertOnDeletion": True},
    })
