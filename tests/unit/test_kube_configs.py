"""Config tracking's pure half: which ConfigMaps and Secrets a pod spec uses, Flagger's
checksums of them, their `-primary` copies, and the pod spec pointing at those copies."""

from __future__ import annotations

import base64
import copy
import re
from typing import Any

import pytest

from canary_operator.api import Canary
from canary_operator.kube import (
    ConfigError,
    ConfigRef,
    build_primary_config,
    build_primary_config_patch,
    config_refs,
    rename_config_refs,
    tracked_checksums,
)
from canary_operator.kube.configs import (
    combined_checksum,
    config_checksum,
    is_tracked,
)
from tests.fake_api import apply_merge_patch

UID = "7d1c0e0a-0000-4000-8000-000000000002"


def make_canary() -> Canary:
    return Canary.model_validate({
        "metadata": {"name": "podinfo", "namespace": "test", "uid": UID},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
        },
    })


def every_kind_of_reference() -> dict[str, Any]:
    """A pod spec naming ConfigMaps and Secrets in every place Flagger looks."""
    return {
        "volumes": [
            {"name": "config", "configMap": {"name": "cm-volume"}},
            {"name": "creds", "secret": {"secretName": "secret-volume", "optional": True}},
            {"name": "bundle", "projected": {"sources": [
                {"configMap": {"name": "cm-projected"}},
                {"secret": {"name": "secret-projected"}},
                {"serviceAccountToken": {"path": "token"}},
            ]}},
            {"name": "scratch", "emptyDir": {}},
        ],
        "containers": [{
            "name": "app",
            "image": "podinfo:6.9.0",
            "env": [
                {"name": "PLAIN", "value": "1"},
                {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {
                    "name": "cm-env", "key": "k"}}},
                {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {
                    "name": "secret-env", "key": "k", "optional": True}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            ],
            "envFrom": [
                {"configMapRef": {"name": "cm-envfrom", "optional": True}},
                {"secretRef": {"name": "secret-envfrom"}, "prefix": "S_"},
            ],
        }],
        "initContainers": [{
            "name": "migrate",
            "image": "migrate:1",
            "env": [{"name": "DB", "valueFrom": {"secretKeyRef": {
                "name": "secret-init", "key": "url"}}}],
            "envFrom": [{"configMapRef": {"name": "cm-init"}}],
        }],
        "imagePullSecrets": [{"name": "registry"}],
    }


def config_map(name: str, data: dict[str, str] | None = None,
               **metadata: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name, "namespace": "test", **metadata}}
    if data is not None:
        obj["data"] = data
    return obj


def secret(name: str, data: dict[str, str] | None = None, type_: str = "Opaque",
           **metadata: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "type": type_,
                           "metadata": {"name": name, "namespace": "test", **metadata}}
    if data is not None:
        obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return obj


# -- config_refs -----------------------------------------------------------------------------


def test_every_kind_of_reference_is_found_with_its_optional_flag() -> None:
    refs = config_refs(every_kind_of_reference())
    assert {key: ref.optional for key, ref in refs.items()} == {
        "configmap/cm-volume": False,
        "configmap/cm-projected": False,
        "configmap/cm-env": False,
        "configmap/cm-envfrom": True,
        "configmap/cm-init": False,
        "secret/secret-volume": True,
        "secret/secret-projected": False,
        "secret/secret-env": True,
        "secret/secret-envfrom": False,
        "secret/secret-init": False,
    }
    assert list(refs) == sorted(refs), "in key order"


def test_each_ref_says_what_references_it() -> None:
    refs = config_refs(every_kind_of_reference())
    assert refs["configmap/cm-volume"].used_by == ('volume "config"',)
    assert refs["secret/secret-projected"].used_by == ('projected volume "bundle"',)
    assert refs["configmap/cm-env"].used_by == ('container "app" env FROM_CM',)
    assert refs["secret/secret-envfrom"].used_by == ('container "app" envFrom',)
    assert refs["secret/secret-init"].used_by == ('init container "migrate" env DB',)
    assert refs["configmap/cm-init"].used_by == ('init container "migrate" envFrom',)
    assert refs["configmap/cm-volume"] == ConfigRef("configmap", "cm-volume", False,
                                                    ('volume "config"',))


def test_image_pull_secrets_and_other_sources_are_not_config() -> None:
    refs = config_refs(every_kind_of_reference())
    assert "secret/registry" not in refs
    assert len(refs) == 10


def test_an_object_is_optional_only_when_every_reference_says_so() -> None:
    spec = {
        "volumes": [{"name": "v", "configMap": {"name": "shared", "optional": True}}],
        "containers": [{"name": "app", "envFrom": [{"configMapRef": {"name": "shared"}}]}],
        "initContainers": [{"name": "init", "envFrom": [
            {"configMapRef": {"name": "both-optional", "optional": True}}]}],
    }
    spec["volumes"].append({"name": "w", "configMap": {"name": "both-optional",
                                                       "optional": True}})
    refs = config_refs(spec)
    assert refs["configmap/shared"].optional is False
    assert refs["configmap/shared"].used_by == ('volume "v"', 'container "app" envFrom')
    assert refs["configmap/both-optional"].optional is True


def test_a_configmap_and_a_secret_of_the_same_name_are_two_refs() -> None:
    spec = {"containers": [{"name": "app", "envFrom": [
        {"configMapRef": {"name": "app"}}, {"secretRef": {"name": "app"}}]}]}
    assert set(config_refs(spec)) == {"configmap/app", "secret/app"}


def test_a_pod_spec_without_config_has_no_refs() -> None:
    assert len(config_refs({"containers": [{"name": "app", "image": "x"}]})) == 0
    assert len(config_refs({})) == 0


# -- rename_config_refs ----------------------------------------------------------------------


def test_every_reference_to_a_tracked_object_names_its_copy() -> None:
    spec = every_kind_of_reference()
    before = copy.deepcopy(spec)
    tracked = set(config_refs(spec))
    renamed = rename_config_refs(spec, tracked)
    assert spec == before, "the input is not changed"
    assert config_refs(renamed).keys() == {
        f"{key}-primary" for key in tracked}
    volumes = renamed["volumes"]
    assert volumes[0]["configMap"] == {"name": "cm-volume-primary"}
    assert volumes[1]["secret"] == {"secretName": "secret-volume-primary", "optional": True}
    assert volumes[2]["projected"]["sources"][:2] == [
        {"configMap": {"name": "cm-projected-primary"}},
        {"secret": {"name": "secret-projected-primary"}}]
    env = renamed["containers"][0]["env"]
    assert env[1]["valueFrom"]["configMapKeyRef"] == {"name": "cm-env-primary", "key": "k"}
    assert env[2]["valueFrom"]["secretKeyRef"]["name"] == "secret-env-primary"
    assert env[3] == before["containers"][0]["env"][3]
    assert renamed["containers"][0]["envFrom"] == [
        {"configMapRef": {"name": "cm-envfrom-primary", "optional": True}},
        {"secretRef": {"name": "secret-envfrom-primary"}, "prefix": "S_"}]
    init = renamed["initContainers"][0]
    assert init["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "secret-init-primary"
    assert init["envFrom"] == [{"configMapRef": {"name": "cm-init-primary"}}]
    assert renamed["imagePullSecrets"] == [{"name": "registry"}]


def test_references_to_untracked_objects_stay() -> None:
    spec = every_kind_of_reference()
    renamed = rename_config_refs(spec, {"configmap/cm-env", "secret/secret-init"})
    assert set(config_refs(renamed)) == (
        set(config_refs(spec)) - {"configmap/cm-env", "secret/secret-init"}
    ) | {"configmap/cm-env-primary", "secret/secret-init-primary"}


def test_the_kind_is_part_of_the_key() -> None:
    spec = {"containers": [{"name": "app", "envFrom": [
        {"configMapRef": {"name": "app"}}, {"secretRef": {"name": "app"}}]}]}
    renamed = rename_config_refs(spec, {"secret/app"})
    assert renamed["containers"][0]["envFrom"] == [
        {"configMapRef": {"name": "app"}}, {"secretRef": {"name": "app-primary"}}]


def test_nothing_tracked_is_an_unchanged_copy() -> None:
    spec = every_kind_of_reference()
    renamed = rename_config_refs(spec, ())
    assert renamed == spec and renamed is not spec


# -- checksums -------------------------------------------------------------------------------

# Computed with Go 1.26: sha256 of encoding/json's Marshal of the map, first 8 bytes, %x.
GO_CONFIG_MAP = ({"b": "2", "a": "<x & y>\u2028é\n\b\x01"}, "5648f8da6679624c")
GO_SECRET = ({"password": "s3cr3t", "user": "admin"}, "0b66b4a1026df054")
GO_NIL, GO_EMPTY = "74234e98afe7498f", "44136fa355b3678a"


def test_checksums_are_flaggers_byte_for_byte() -> None:
    data, expected = GO_CONFIG_MAP
    assert config_checksum(config_map("a", data)) == expected
    secret_data, secret_expected = GO_SECRET
    assert config_checksum(secret("s", secret_data)) == secret_expected
    assert config_checksum(config_map("none")) == GO_NIL
    assert config_checksum(config_map("empty", {})) == GO_EMPTY


def test_checksums_are_keyed_by_kind_and_name() -> None:
    checksums = tracked_checksums([config_map("app", {"a": "1"}),
                                   secret("app", {"a": "1"})])
    assert set(checksums) == {"configmap/app", "secret/app"}
    assert all(re.fullmatch(r"[0-9a-f]{16}", value) for value in checksums.values())


def test_checksums_are_stable_and_follow_the_data_only() -> None:
    one = config_map("app", {"a": "1", "b": "2"}, labels={"x": "y"})
    reordered = config_map("app", {"b": "2", "a": "1"}, resourceVersion="99")
    changed = config_map("app", {"a": "1", "b": "3"})
    assert tracked_checksums([one]) == tracked_checksums([reordered])
    assert tracked_checksums([one]) != tracked_checksums([changed])
    with_binary = config_map("app", {"a": "1", "b": "2"})
    with_binary["binaryData"] = {"blob": "AAEC"}
    assert tracked_checksums([with_binary]) == tracked_checksums([one])


@pytest.mark.parametrize(("type_", "tracked"), [
    ("Opaque", True),
    ("kubernetes.io/basic-auth", True),
    ("kubernetes.io/ssh-auth", True),
    ("kubernetes.io/tls", True),
    ("kubernetes.io/dockerconfigjson", False),
    ("kubernetes.io/dockercfg", False),
    ("kubernetes.io/service-account-token", False),
    ("bootstrap.kubernetes.io/token", False),
    ("example.com/custom", False),
])
def test_only_flaggers_secret_types_are_tracked(type_: str, tracked: bool) -> None:
    obj = secret("s", {"k": "v"}, type_=type_)
    assert is_tracked(obj) is tracked
    assert ("secret/s" in tracked_checksums([obj])) is tracked


@pytest.mark.parametrize(("value", "tracked"), [
    ("disabled", False), ("disable", False), ("disabled-for-now", False),
    ("enabled", True), ("Disabled", True), ("", True),
])
def test_the_opt_out_annotation(value: str, tracked: bool) -> None:
    annotations = {"flagger.app/config-tracking": value}
    assert is_tracked(config_map("c", {"a": "1"}, annotations=annotations)) is tracked
    assert is_tracked(secret("s", {"a": "1"}, annotations=annotations)) is tracked


def test_only_configmaps_and_secrets_have_checksums() -> None:
    with pytest.raises(ValueError, match="ConfigMap or a Secret"):
        tracked_checksums([{"kind": "Service", "metadata": {"name": "x"}}])


def test_the_combined_checksum_ignores_order() -> None:
    assert combined_checksum({"a": "1", "b": "2"}) == combined_checksum({"b": "2", "a": "1"})
    assert combined_checksum({"a": "1"}) != combined_checksum({"a": "2"})


# -- build_primary_config and its patch ------------------------------------------------------

OWNER = {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "name": "podinfo",
         "uid": UID, "controller": True, "blockOwnerDeletion": True}


def test_a_configmap_copy_keeps_content_and_metadata_but_kubectls_record() -> None:
    source = config_map("app", {"a": "1"}, uid="src", resourceVersion="5",
                        labels={"team": "web", "kustomize.toolkit.fluxcd.io/name": "apps"},
                        annotations={"note": "x",
                                     "kubectl.kubernetes.io/last-applied-configuration": "{}"})
    source["binaryData"] = {"blob": "AAEC"}
    source["immutable"] = True
    assert build_primary_config(make_canary(), source) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app-primary", "namespace": "test", "labels": {"team": "web"},
                     "annotations": {"note": "x"}, "ownerReferences": [OWNER]},
        "data": {"a": "1"},
        "binaryData": {"blob": "AAEC"},
    }


def test_a_secret_copy_keeps_its_type_and_folds_string_data_into_data() -> None:
    source = secret("tls", {"tls.crt": "C"}, type_="kubernetes.io/tls")
    source["stringData"] = {"tls.key": "K"}
    copied = build_primary_config(make_canary(), source)
    assert copied["kind"] == "Secret" and copied["type"] == "kubernetes.io/tls"
    assert copied["metadata"]["name"] == "tls-primary"
    assert {k: base64.b64decode(v).decode() for k, v in copied["data"].items()} == {
        "tls.crt": "C", "tls.key": "K"}
    assert "stringData" not in copied


def _live(desired: dict[str, Any]) -> dict[str, Any]:
    live = copy.deepcopy(desired)
    live["metadata"].update(uid="copy-uid", resourceVersion="8",
                            creationTimestamp="2026-01-01T00:00:00Z")
    live["metadata"]["labels"]["added-by-someone"] = "yes"
    return live


def test_a_copy_in_sync_needs_no_patch() -> None:
    for source in (config_map("app", {"a": "1"}, labels={"l": "1"}),
                   secret("s", {"a": "1"}, annotations={"n": "1"})):
        desired = build_primary_config(make_canary(), source)
        assert build_primary_config_patch(desired, _live(desired)) == {}


def test_a_changed_source_patches_the_content_exactly() -> None:
    old = build_primary_config(make_canary(), config_map("app", {"a": "1", "gone": "x"}))
    new = build_primary_config(make_canary(), config_map("app", {"a": "2", "b": "3"},
                                                         labels={"v": "2"}))
    live = _live(old)
    patch = build_primary_config_patch(new, live)
    assert patch == {"data": {"a": "2", "b": "3", "gone": None},
                     "metadata": {"labels": {"v": "2"}}}
    patched = apply_merge_patch(live, patch)
    assert patched["data"] == {"a": "2", "b": "3"}
    assert patched["metadata"]["labels"] == {"added-by-someone": "yes", "v": "2"}
    assert build_primary_config_patch(new, patched) == {}


def test_a_copy_owned_by_someone_else_is_adopted() -> None:
    desired = build_primary_config(make_canary(), config_map("app", {"a": "1"}))
    live = _live(desired)
    other = {"apiVersion": "v1", "kind": "Other", "name": "o", "uid": "o-uid",
             "controller": True}
    live["metadata"]["ownerReferences"] = [other]
    patch = build_primary_config_patch(desired, live)
    assert patch == {"metadata": {"ownerReferences": [OWNER, {**other, "controller": False}]}}


def test_a_secret_whose_type_changed_cannot_be_patched() -> None:
    old = build_primary_config(make_canary(), secret("s", {"a": "1"}))
    new = build_primary_config(make_canary(), secret("s", {"a": "1"},
                                                     type_="kubernetes.io/basic-auth"))
    with pytest.raises(ConfigError, match=r"s-primary\.test has type Opaque"):
        build_primary_config_patch(new, _live(old))
