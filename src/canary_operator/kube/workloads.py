"""The target Deployment and its `-primary` clone: pure builders, then thin appliers.

The builders take the Canary and the Deployments as the API's camelCase JSON and return
the manifest or patch to send; the `async` functions read, compare and write with a
`kubernetes.aio` ApiClient, and write nothing when the cluster already matches.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from kubernetes.aio.client import ApiClient, AppsV1Api, V1Deployment
from kubernetes.aio.client.exceptions import ApiException

from canary_operator.api import Canary
from canary_operator.kube.client import (
    FIELD_MANAGER,
    MERGE_PATCH,
    JsonDict,
    merge_patch,
    owner_reference,
    read_json,
    read_json_or_none,
)
from canary_operator.kube.configs import combined_checksum, copied_metadata, rename_config_refs

SELECTOR_LABELS = ("app", "name", "app.kubernetes.io/name")
PRIMARY_SUFFIX = "-primary"
# A fresh value on every promotion forces the primary's rolling update (Flagger's key).
FLAGGER_ID = "flagger-id"
# On the primary's pod template: the combined checksum of the ConfigMaps and Secrets it
# was promoted with. A promotion whose only change is their content still rolls the
# primary's pods (env vars from a ConfigMap are read when a container starts).
CONFIG_CHECKSUM = "canary-operator.dev/config-checksum"
# Deployment spec fields Flagger copies from the target besides the template.
COPIED_SPEC_FIELDS = ("progressDeadlineSeconds", "minReadySeconds", "revisionHistoryLimit",
                      "strategy")
# Target annotations the primary does not inherit: Flux would otherwise manage the clone
# (Flagger drops keys containing this marker), the deployment controller owns the revision,
# and kubectl's record describes the target's manifest, not the clone's.
_UNCOPIED_ANNOTATIONS = frozenset({"deployment.kubernetes.io/revision"})
# The config refs the primary uses: the keys of status.trackedConfigs, or that map itself.
Tracked = Collection[str] | Mapping[str, str]


class TargetError(Exception):
    """The target workload cannot be run as a canary as it is; the message says why."""


def primary_name(target_name: str) -> str:
    return f"{target_name}{PRIMARY_SUFFIX}"


def selector_label(target: Mapping[str, Any],
                   selector_labels: Sequence[str] = SELECTOR_LABELS) -> tuple[str, str]:
    """The first of `selector_labels` in the target's spec.selector.matchLabels, and its
    value: the label that tells primary pods (`<value>-primary`) from canary pods."""
    match_labels = target.get("spec", {}).get("selector", {}).get("matchLabels") or {}
    for key in selector_labels:
        if key in match_labels:
            return key, str(match_labels[key])
    meta = target.get("metadata", {})
    found = ", ".join(sorted(match_labels)) or "none"
    raise TargetError(
        f"deployment {meta.get('name', '')}.{meta.get('namespace', '')} "
        f"spec.selector.matchLabels must contain one of [{' '.join(selector_labels)}] "
        f"(found: {found})"
    )


def pod_template_hash(target: Mapping[str, Any]) -> str:
    """The revision of the target's pod template: equal templates hash equal whatever
    the order of their keys."""
    template = target.get("spec", {}).get("template", {})
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def build_primary_deployment(canary: Canary, target: Mapping[str, Any], *,
                             flagger_id: str | None = None,
                             selector_labels: Sequence[str] = SELECTOR_LABELS,
                             tracked: Tracked = ()) -> JsonDict:
    """The `<target>-primary` Deployment cloned from the target (Flagger's
    createPrimaryDeployment): every pod label selector moved to `<value>-primary`, and
    every reference to a tracked ConfigMap or Secret (`tracked`: keys `configmap/<name>`,
    `secret/<name>`) moved to its `-primary` copy.

    Given as the key -> checksum map (`TrackedConfigs.checksums`), `tracked` also puts
    their combined checksum on the pod template (annotation CONFIG_CHECKSUM)."""
    label, value = selector_label(target, selector_labels)
    primary_value = f"{value}{PRIMARY_SUFFIX}"
    meta, spec = target.get("metadata", {}), target.get("spec", {})
    template = spec.get("template", {})
    template_meta = template.get("metadata") or {}
    primary_spec: JsonDict = {
        "replicas": spec.get("replicas") or 1,
        "selector": {"matchLabels": {label: primary_value}},
        "template": {
            "metadata": {
                "labels": {**(template_meta.get("labels") or {}), label: primary_value},
                "annotations": {
                    **(template_meta.get("annotations") or {}),
                    **_config_annotation(tracked),
                    FLAGGER_ID: flagger_id or str(uuid.uuid4()),
                },
            },
            "spec": primary_pod_spec(template.get("spec") or {}, value, tracked=tracked),
        },
    }
    for field in COPIED_SPEC_FIELDS:
        if field in spec:
            primary_spec[field] = copy.deepcopy(spec[field])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": primary_name(meta.get("name") or canary.spec.target_ref.name),
            "namespace": canary.metadata.namespace,
            "labels": {**(meta.get("labels") or {}), label: primary_value},
            "annotations": _inherited_annotations(meta.get("annotations")),
            "ownerReferences": [owner_reference(canary)],
        },
        "spec": primary_spec,
    }


def build_promotion_patch(canary: Canary, target: Mapping[str, Any],
                          primary: Mapping[str, Any], *, flagger_id: str | None = None,
                          selector_labels: Sequence[str] = SELECTOR_LABELS,
                          tracked: Tracked = ()) -> JsonDict:
    """The merge patch that copies the target's template onto the primary (Flagger's
    Promote); {} when the primary already runs it.

    References to tracked ConfigMaps and Secrets point at their `-primary` copies, as in
    build_primary_deployment. With `tracked` as the key -> checksum map, a change of
    their content alone changes the CONFIG_CHECKSUM annotation and so rolls the primary;
    with keys only, the annotation the primary has is kept.

    The pod template (labels, annotations, spec) is replaced whole; spec fields and
    Deployment labels/annotations are set but keys others added are kept. Replicas are
    copied only without an autoscalerRef, and never as 0 (that would be an outage).
    The patch carries the primary's resourceVersion: a primary that changed since it was
    read is not overwritten (409), and the next attempt reads it again.
    """
    label, value = selector_label(target, selector_labels)
    primary_value = f"{value}{PRIMARY_SUFFIX}"
    meta, spec = target.get("metadata", {}), target.get("spec", {})
    template = spec.get("template", {})
    template_meta = template.get("metadata") or {}
    live_meta, live_spec = primary.get("metadata", {}), primary.get("spec", {})
    live_template = live_spec.get("template", {})
    live_template_meta = live_template.get("metadata") or {}
    live_annotations = live_template_meta.get("annotations") or {}

    live = {
        "metadata": {"labels": live_meta.get("labels") or {},
                     "annotations": live_meta.get("annotations") or {}},
        "spec": {
            **{f: live_spec[f] for f in (*COPIED_SPEC_FIELDS, "replicas") if f in live_spec},
            "template": {
                "metadata": {"labels": live_template_meta.get("labels") or {},
                             "annotations": live_annotations},
                "spec": live_template.get("spec") or {},
            },
        },
    }
    desired = copy.deepcopy(live)
    desired["metadata"]["labels"].update({**(meta.get("labels") or {}), label: primary_value})
    desired["metadata"]["annotations"].update(_inherited_annotations(meta.get("annotations")))
    for field in COPIED_SPEC_FIELDS:
        if field in spec:
            desired["spec"][field] = copy.deepcopy(spec[field])
    if canary.spec.autoscaler_ref is None and spec.get("replicas"):
        desired["spec"]["replicas"] = spec["replicas"]
    template_annotations = dict(template_meta.get("annotations") or {})
    template_annotations.pop(FLAGGER_ID, None)
    template_annotations.pop(CONFIG_CHECKSUM, None)
    if FLAGGER_ID in live_annotations:
        template_annotations[FLAGGER_ID] = live_annotations[FLAGGER_ID]
    if isinstance(tracked, Mapping):
        template_annotations.update(_config_annotation(tracked))
    elif CONFIG_CHECKSUM in live_annotations:
        template_annotations[CONFIG_CHECKSUM] = live_annotations[CONFIG_CHECKSUM]
    desired["spec"]["template"] = {
        "metadata": {
            "labels": {**(template_meta.get("labels") or {}), label: primary_value},
            "annotations": template_annotations,
        },
        "spec": primary_pod_spec(template.get("spec") or {}, value, tracked=tracked),
    }

    patch = merge_patch(live, desired)
    if not patch:
        return {}
    patch_template = patch.setdefault("spec", {}).setdefault("template", {})
    patch_annotations = patch_template.setdefault("metadata", {}).setdefault("annotations", {})
    patch_annotations[FLAGGER_ID] = flagger_id or str(uuid.uuid4())
    if live_meta.get("resourceVersion"):
        patch["metadata"] = {**patch.get("metadata", {}),
                             "resourceVersion": live_meta["resourceVersion"]}
    return patch


def primary_pod_spec(pod_spec: Mapping[str, Any], value: str, *,
                     tracked: Collection[str] = ()) -> JsonDict:
    """The target's pod spec for primary pods: pod (anti-)affinity and topology spread
    selectors that pick the target's pods (label value `value`) pick the primary's, and
    references to the tracked ConfigMaps and Secrets name their `-primary` copies."""
    spec = rename_config_refs(pod_spec, tracked)
    for constraint in spec.get("topologySpreadConstraints") or []:
        _rename_in_selector(constraint.get("labelSelector"), value)
    affinity = spec.get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        terms = affinity.get(kind) or {}
        for term in terms.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
            _rename_in_selector(term.get("labelSelector"), value)
        for weighted in terms.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
            _rename_in_selector((weighted.get("podAffinityTerm") or {}).get("labelSelector"),
                                value)
    return spec


def _rename_in_selector(selector: JsonDict | None, value: str) -> None:
    if not selector:
        return
    primary_value = f"{value}{PRIMARY_SUFFIX}"
    match_labels = selector.get("matchLabels") or {}
    for key, have in match_labels.items():
        if have == value:
            match_labels[key] = primary_value
    for expression in selector.get("matchExpressions") or []:
        values = expression.get("values")
        if values:
            expression["values"] = [primary_value if v == value else v for v in values]


def _inherited_annotations(annotations: Mapping[str, str] | None) -> dict[str, str]:
    return {key: text for key, text in copied_metadata(annotations).items()
            if key not in _UNCOPIED_ANNOTATIONS}


def _config_annotation(tracked: Tracked) -> dict[str, str]:
    if isinstance(tracked, Mapping) and tracked:
        return {CONFIG_CHECKSUM: combined_checksum(tracked)}
    return {}


# -- appliers ----------------------------------------------------------------------------


async def ensure_primary(api: ApiClient, canary: Canary, target: Mapping[str, Any], *,
                         selector_labels: Sequence[str] = SELECTOR_LABELS,
                         tracked: Tracked = ()) -> JsonDict:
    """The live `<target>-primary`, created from the target if it does not exist yet.

    An existing primary is left as it is: only a promotion changes it. With `tracked`
    (see build_primary_deployment), the `-primary` copies must exist first
    (configs.ensure_primary_configs)."""
    apps = AppsV1Api(api)
    namespace = canary.metadata.namespace
    name = primary_name(target.get("metadata", {}).get("name") or canary.spec.target_ref.name)
    live = await read_json_or_none(
        apps.read_namespaced_deployment_without_preload_content(name, namespace))
    if live is not None:
        return live
    body = build_primary_deployment(canary, target, selector_labels=selector_labels,
                                    tracked=tracked)
    try:
        return await read_json(apps.create_namespaced_deployment_without_preload_content(
            namespace, V1Deployment.model_validate(body), field_manager=FIELD_MANAGER))
    except ApiException as error:
        if error.status != 409:
            raise
    # Created by someone else between our read and our create (another replica's tick).
    return await read_json(apps.read_namespaced_deployment_without_preload_content(
        name, namespace))


async def scale(api: ApiClient, namespace: str, name: str, replicas: int) -> bool:
    """Set the Deployment's spec.replicas; True if it had to be written."""
    apps = AppsV1Api(api)
    live = await read_json(apps.read_namespaced_deployment_without_preload_content(
        name, namespace))
    if live.get("spec", {}).get("replicas") == replicas:
        return False
    await read_json(apps.patch_namespaced_deployment_without_preload_content(
        name, namespace, {"spec": {"replicas": replicas}},
        field_manager=FIELD_MANAGER, _content_type=MERGE_PATCH))
    return True


async def promote(api: ApiClient, canary: Canary, target: Mapping[str, Any],
                  primary: Mapping[str, Any], *,
                  selector_labels: Sequence[str] = SELECTOR_LABELS,
                  tracked: Tracked = ()) -> JsonDict:
    """Copy the target's template onto the primary; the primary as it is afterwards.
    Nothing is written when the primary already runs the target's template. With
    `tracked`, the `-primary` copies are written first (configs.ensure_primary_configs)."""
    patch = build_promotion_patch(canary, target, primary, selector_labels=selector_labels,
                                  tracked=tracked)
    if not patch:
        return dict(primary)
    apps = AppsV1Api(api)
    return await read_json(apps.patch_namespaced_deployment_without_preload_content(
        primary["metadata"]["name"], canary.metadata.namespace, patch,
        field_manager=FIELD_MANAGER, _content_type=MERGE_PATCH))
