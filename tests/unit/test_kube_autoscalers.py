"""The primary's HorizontalPodAutoscaler: a copy of the target's aimed at the primary,
its replica bounds from primaryScalerReplicas, and a patch that is empty when in sync."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from canary_operator.api import Canary
from canary_operator.kube import (
    AutoscalerError,
    TargetError,
    build_primary_hpa,
    build_primary_hpa_patch,
    canary_min_replicas,
    primary_hpa_name,
)
from tests.fake_api import apply_merge_patch

UID = "7d1c0e0a-0000-4000-8000-000000000003"
OWNER = {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "name": "podinfo",
         "uid": UID, "controller": True, "blockOwnerDeletion": True}
METRICS = [{"type": "Resource", "resource": {
    "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
BEHAVIOR = {"scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                          "policies": [{"type": "Percent", "value": 100,
                                        "periodSeconds": 15}]}}


def make_canary(kind: str = "HorizontalPodAutoscaler", name: str = "podinfo-hpa",
                **replicas: int) -> Canary:
    ref: dict[str, Any] = {"apiVersion": "autoscaling/v2", "kind": kind, "name": name}
    if replicas:
        ref["primaryScalerReplicas"] = replicas
    return Canary.model_validate({
        "metadata": {"name": "podinfo", "namespace": "test", "uid": UID},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "autoscalerRef": ref,
        },
    })


def target_hpa(**spec: Any) -> dict[str, Any]:
    """The target's HPA as the API returns it (defaults filled in)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "podinfo-hpa", "namespace": "test", "uid": "hpa-uid",
            "resourceVersion": "12",
            "labels": {"app": "podinfo", "kustomize.toolkit.fluxcd.io/name": "apps"},
            "annotations": {"note": "scale on cpu",
                            "kubectl.kubernetes.io/last-applied-configuration": "{}"},
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "name": "podinfo"},
            "minReplicas": 2,
            "maxReplicas": 6,
            "metrics": copy.deepcopy(METRICS),
            "behavior": copy.deepcopy(BEHAVIOR),
            **spec,
        },
        "status": {"currentReplicas": 0, "desiredReplicas": 0},
    }


def live_copy(desired: dict[str, Any]) -> dict[str, Any]:
    """The primary HPA as the watch shows it after it was created from `desired`."""
    live = copy.deepcopy(desired)
    live["metadata"].update(uid="copy-uid", resourceVersion="30",
                            creationTimestamp="2026-01-01T00:00:00Z")
    live["metadata"]["annotations"]["added-by-someone"] = "yes"
    live["status"] = {"currentReplicas": 2, "desiredReplicas": 2}
    return live


def test_the_primary_hpa_is_named_after_the_autoscaler_ref() -> None:
    assert primary_hpa_name(make_canary()) == "podinfo-hpa-primary"


def test_the_copy_aims_at_the_primary_with_the_targets_spec() -> None:
    hpa = build_primary_hpa(make_canary(), target_hpa())
    assert hpa == {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "podinfo-hpa-primary",
            "namespace": "test",
            "labels": {"app": "podinfo"},
            "annotations": {"note": "scale on cpu"},
            "ownerReferences": [OWNER],
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "name": "podinfo-primary"},
            "minReplicas": 2,
            "maxReplicas": 6,
            "metrics": METRICS,
            "behavior": BEHAVIOR,
        },
    }


def test_primary_scaler_replicas_override_the_bounds() -> None:
    both = build_primary_hpa(make_canary(minReplicas=4, maxReplicas=10), target_hpa())
    assert (both["spec"]["minReplicas"], both["spec"]["maxReplicas"]) == (4, 10)
    only_max = build_primary_hpa(make_canary(maxReplicas=3), target_hpa())
    assert (only_max["spec"]["minReplicas"], only_max["spec"]["maxReplicas"]) == (2, 3)
    only_min = build_primary_hpa(make_canary(minReplicas=5), target_hpa())
    assert (only_min["spec"]["minReplicas"], only_min["spec"]["maxReplicas"]) == (5, 6)


def test_bounds_that_cross_are_refused_before_the_api_does() -> None:
    with pytest.raises(AutoscalerError, match="minReplicas 7 is above maxReplicas 6"):
        build_primary_hpa(make_canary(minReplicas=7), target_hpa())


def test_fields_the_target_lacks_are_left_out() -> None:
    hpa = target_hpa()
    del hpa["spec"]["behavior"], hpa["spec"]["minReplicas"]
    spec = build_primary_hpa(make_canary(), hpa)["spec"]
    assert set(spec) == {"scaleTargetRef", "maxReplicas", "metrics"}


def test_keda_scaled_objects_are_refused_with_a_clear_error() -> None:
    canary = make_canary(kind="ScaledObject")
    with pytest.raises(AutoscalerError) as error:
        build_primary_hpa(canary, target_hpa())
    assert str(error.value) == ("autoscalerRef.kind ScaledObject is not supported yet; "
                                "use a HorizontalPodAutoscaler")
    assert isinstance(error.value, TargetError)
    with pytest.raises(AutoscalerError):
        primary_hpa_name(canary)


def test_a_canary_without_autoscaler_ref_has_no_primary_hpa() -> None:
    canary = make_canary().model_copy(update={
        "spec": make_canary().spec.model_copy(update={"autoscaler_ref": None})})
    with pytest.raises(AutoscalerError, match="no autoscalerRef"):
        primary_hpa_name(canary)


def test_the_target_hpa_must_be_read_as_autoscaling_v2() -> None:
    v1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
          "metadata": {"name": "podinfo-hpa"},
          "spec": {"maxReplicas": 3, "targetCPUUtilizationPercentage": 80}}
    with pytest.raises(ValueError, match="autoscaling/v2"):
        build_primary_hpa(make_canary(), v1)


def test_canary_min_replicas_is_the_hpas_min_replicas() -> None:
    assert canary_min_replicas(target_hpa()) == 2
    unset = target_hpa()
    del unset["spec"]["minReplicas"]
    assert canary_min_replicas(unset) is None


# -- build_primary_hpa_patch -----------------------------------------------------------------


def test_a_primary_hpa_in_sync_needs_no_patch() -> None:
    for canary in (make_canary(), make_canary(minReplicas=3, maxReplicas=9)):
        desired = build_primary_hpa(canary, target_hpa())
        assert build_primary_hpa_patch(desired, live_copy(desired)) == {}


def test_a_changed_target_hpa_is_followed() -> None:
    canary = make_canary(minReplicas=3)
    live = live_copy(build_primary_hpa(canary, target_hpa()))
    changed = target_hpa(maxReplicas=12, metrics=[{"type": "Resource", "resource": {
        "name": "memory", "target": {"type": "AverageValue", "averageValue": "200Mi"}}}])
    del changed["spec"]["behavior"]
    changed["metadata"]["labels"]["tier"] = "web"
    desired = build_primary_hpa(canary, changed)
    patch = build_primary_hpa_patch(desired, live)
    assert patch == {
        "metadata": {"labels": {"tier": "web"}},
        "spec": {"maxReplicas": 12, "metrics": changed["spec"]["metrics"], "behavior": None},
    }
    patched = apply_merge_patch(live, patch)
    assert patched["spec"]["minReplicas"] == 3, "the override stays"
    assert patched["metadata"]["annotations"]["added-by-someone"] == "yes"
    assert build_primary_hpa_patch(desired, patched) == {}


def test_a_changed_primary_scaler_replicas_is_followed() -> None:
    live = live_copy(build_primary_hpa(make_canary(minReplicas=3), target_hpa()))
    desired = build_primary_hpa(make_canary(minReplicas=4, maxReplicas=8), target_hpa())
    assert build_primary_hpa_patch(desired, live) == {
        "spec": {"minReplicas": 4, "maxReplicas": 8}}


def test_a_primary_hpa_aimed_elsewhere_is_pointed_back() -> None:
    desired = build_primary_hpa(make_canary(), target_hpa())
    live = live_copy(desired)
    live["spec"]["scaleTargetRef"]["name"] = "podinfo"
    assert build_primary_hpa_patch(desired, live) == {
        "spec": {"scaleTargetRef": {"name": "podinfo-primary"}}}


def test_a_primary_hpa_the_canary_does_not_own_is_adopted() -> None:
    desired = build_primary_hpa(make_canary(), target_hpa())
    live = live_copy(desired)
    live["metadata"]["ownerReferences"] = []
    assert build_primary_hpa_patch(desired, live) == {
        "metadata": {"ownerReferences": [OWNER]}}
