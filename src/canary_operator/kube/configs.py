"""Config tracking: the ConfigMaps and Secrets a target's pods use, and their `-primary`
copies (Flagger's config tracker).

- `config_refs(pod_spec)`: every ConfigMap and Secret the pod spec names, from volumes,
  projected volumes, env `valueFrom` and `envFrom`, in containers and init containers.
- `tracked_checksums(objects)`: Flagger's `status.trackedConfigs` for the objects read:
  `"configmap/<name>"` / `"secret/<name>"` -> checksum.
- `read_tracked_configs(api, namespace, refs)`: one GET per referenced object.
- `build_primary_config` / `build_primary_config_patch` / `ensure_primary_configs`: the
  `<name>-primary` copies the primary's pods use, so a changed ConfigMap reaches the
  canary's pods first and the primary's only on promotion.
- `rename_config_refs(pod_spec, tracked)`: the pod spec pointing at those copies.

Which objects are tracked, as in Flagger: every referenced ConfigMap; Secrets of the
types Opaque, kubernetes.io/basic-auth, kubernetes.io/ssh-auth and kubernetes.io/tls
(image pull secrets and service account tokens are not the application's config); and
neither when annotated `flagger.app/config-tracking: disabled` (any value starting with
"disable").
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from kubernetes.aio.client import ApiClient, CoreV1Api, V1ConfigMap, V1Secret
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

CONFIGMAP: Final = "configmap"
SECRET: Final = "secret"
_KINDS: Final = {"ConfigMap": CONFIGMAP, "Secret": SECRET}
COPY_SUFFIX: Final = "-primary"
TRACKING_ANNOTATION: Final = "flagger.app/config-tracking"
TRACKED_SECRET_TYPES: Final = frozenset({
    "Opaque",
    "kubernetes.io/basic-auth",
    "kubernetes.io/ssh-auth",
    "kubernetes.io/tls",
})
# Metadata keys the copies (and the primary HPA) do not inherit: kubectl's record describes
# the user's manifest, and Flux would take over (and prune) an object carrying its keys.
_FLUX_MARKER: Final = "toolkit.fluxcd.io"
_LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"
# Go's encoding/json escapes these inside strings; Python's json does not.
_GO_ESCAPES: Final = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                      ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


class ConfigError(Exception):
    """A ConfigMap or Secret the target's pods need cannot be tracked; the message says
    which object and what references it."""


# -- references ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigRef:
    """One ConfigMap or Secret the pod spec names, and everything in it that names it."""

    kind: str  # CONFIGMAP or SECRET
    name: str
    optional: bool
    """True only when every reference to it is marked `optional: true`."""
    used_by: tuple[str, ...]
    """Where it is referenced, e.g. `volume "config"`, `container "app" envFrom`."""

    @property
    def key(self) -> str:
        """`configmap/<name>` or `secret/<name>`: the key in `status.trackedConfigs`."""
        return config_key(self.kind, self.name)

    def describe(self) -> str:
        return f"{self.kind} {self.name}"


class ConfigRefs(Mapping[str, ConfigRef]):
    """The ConfigMaps and Secrets a pod spec references, by key, in key order."""

    def __init__(self, refs: Iterable[ConfigRef] = ()) -> None:
        self._refs = {ref.key: ref for ref in sorted(refs, key=lambda ref: ref.key)}

    def __getitem__(self, key: str) -> ConfigRef:
        return self._refs[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)

    def __repr__(self) -> str:
        return f"ConfigRefs({list(self._refs.values())!r})"


def config_key(kind: str, name: str) -> str:
    return f"{kind}/{name}"


def primary_config_name(name: str) -> str:
    return f"{name}{COPY_SUFFIX}"


@dataclass(frozen=True)
class _Reference:
    """One place in a pod spec that names a ConfigMap or Secret: `holder[field]`."""

    kind: str
    holder: JsonDict
    field: str
    where: str

    @property
    def name(self) -> str:
        return str(self.holder.get(self.field) or "")

    @property
    def optional(self) -> bool:
        return bool(self.holder.get("optional"))


def _references(pod_spec: Mapping[str, Any]) -> Iterator[_Reference]:
    """Every ConfigMap and Secret reference Flagger's tracker scans, in spec order."""
    yield from _volume_references(pod_spec)
    for containers, label in (("containers", "container"), ("initContainers", "init container")):
        for container in pod_spec.get(containers) or []:
            yield from _container_references(container, f'{label} "{container.get("name", "")}"')


def _volume_references(pod_spec: Mapping[str, Any]) -> Iterator[_Reference]:
    for volume in pod_spec.get("volumes") or []:
        where = f'volume "{volume.get("name", "")}"'
        if volume.get("configMap"):
            yield _Reference(CONFIGMAP, volume["configMap"], "name", where)
        if volume.get("secret"):
            yield _Reference(SECRET, volume["secret"], "secretName", where)
        for source in (volume.get("projected") or {}).get("sources") or []:
            if source.get("configMap"):
                yield _Reference(CONFIGMAP, source["configMap"], "name", f"projected {where}")
            if source.get("secret"):
                yield _Reference(SECRET, source["secret"], "name", f"projected {where}")


def _container_references(container: Mapping[str, Any], owner: str) -> Iterator[_Reference]:
    for env in container.get("env") or []:
        value_from = env.get("valueFrom") or {}
        where = f"{owner} env {env.get('name', '')}"
        if value_from.get("configMapKeyRef"):
            yield _Reference(CONFIGMAP, value_from["configMapKeyRef"], "name", where)
        elif value_from.get("secretKeyRef"):
            yield _Reference(SECRET, value_from["secretKeyRef"], "name", where)
    for env_from in container.get("envFrom") or []:
        if env_from.get("configMapRef"):
            yield _Reference(CONFIGMAP, env_from["configMapRef"], "name", f"{owner} envFrom")
        elif env_from.get("secretRef"):
            yield _Reference(SECRET, env_from["secretRef"], "name", f"{owner} envFrom")


def config_refs(pod_spec: Mapping[str, Any]) -> ConfigRefs:
    """The ConfigMaps and Secrets `pod_spec` references.

    A ref is optional only when every reference to it says `optional: true` (Flagger keeps
    whichever reference it scanned last; one required use makes the object required)."""
    found: dict[tuple[str, str], tuple[bool, list[str]]] = {}
    for reference in _references(pod_spec):
        if not reference.name:
            continue
        optional, used_by = found.get((reference.kind, reference.name), (True, []))
        if reference.where not in used_by:
            used_by.append(reference.where)
        found[(reference.kind, reference.name)] = (optional and reference.optional, used_by)
    return ConfigRefs(ConfigRef(kind, name, optional, tuple(used_by))
                      for (kind, name), (optional, used_by) in found.items())


def rename_config_refs(pod_spec: Mapping[str, Any], tracked: Collection[str]) -> JsonDict:
    """A copy of `pod_spec` whose references to tracked objects (keys `configmap/<name>`,
    `secret/<name>`) name their `-primary` copies instead; other references stay."""
    renamed: JsonDict = copy.deepcopy(dict(pod_spec))
    if not tracked:
        return renamed
    for reference in _references(renamed):
        if reference.name and config_key(reference.kind, reference.name) in tracked:
            reference.holder[reference.field] = primary_config_name(reference.name)
    return renamed


# -- checksums -----------------------------------------------------------------------------


def object_key(obj: Mapping[str, Any]) -> str:
    """`configmap/<name>` or `secret/<name>` for a ConfigMap or Secret as the API returns it."""
    kind = _KINDS.get(str(obj.get("kind")))
    if kind is None:
        raise ValueError(f"expected a ConfigMap or a Secret, got kind {obj.get('kind')!r}")
    return config_key(kind, obj.get("metadata", {}).get("name", ""))


def tracking_disabled(obj: Mapping[str, Any]) -> bool:
    """The object opts out with `flagger.app/config-tracking: disabled` (or "disable...")."""
    annotations = obj.get("metadata", {}).get("annotations") or {}
    return str(annotations.get(TRACKING_ANNOTATION, "")).startswith("disable")


def is_tracked(obj: Mapping[str, Any]) -> bool:
    """Whether a referenced ConfigMap or Secret is tracked (see the module's rules). A
    Secret without a type is Opaque, as the API server defaults it."""
    if tracking_disabled(obj):
        return False
    if object_key(obj).startswith(f"{SECRET}/"):
        return (obj.get("type") or "Opaque") in TRACKED_SECRET_TYPES
    return True


def config_checksum(obj: Mapping[str, Any]) -> str:
    """Flagger's checksum: SHA-256 of the JSON Go's encoding/json writes for the object's
    `data` (sorted keys, no spaces, `<>&` escaped; Secret values stay base64), first 8
    bytes in hex. `binaryData` does not count, as in Flagger."""
    encoded = json.dumps(obj.get("data"), sort_keys=True, separators=(",", ":"),
                         ensure_ascii=False)
    for char, escaped in _GO_ESCAPES:
        encoded = encoded.replace(char, escaped)
    return hashlib.sha256(encoded.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def tracked_checksums(objects: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """`status.trackedConfigs` for the ConfigMaps and Secrets read: key -> checksum, for
    the tracked ones only."""
    return {object_key(obj): config_checksum(obj) for obj in objects if is_tracked(obj)}


def combined_checksum(checksums: Mapping[str, str]) -> str:
    """One value for a whole `trackedConfigs` map, whatever its order."""
    encoded = json.dumps(dict(checksums), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()[:16]


# -- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackedConfigs:
    """What `read_tracked_configs` found: the checksums for `status.trackedConfigs`, the
    tracked objects as read (to copy), and the refs it left out and why."""

    checksums: dict[str, str] = field(default_factory=dict)
    objects: dict[str, JsonDict] = field(default_factory=dict)
    missing_optional: tuple[ConfigRef, ...] = ()
    """Optional refs to objects that do not exist: skipped, as Flagger does."""
    untracked: tuple[str, ...] = ()
    """Keys of referenced objects that exist but are not tracked (Secret type, opt-out)."""

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self.checksums)


async def read_tracked_configs(api: ApiClient, namespace: str,
                               refs: Mapping[str, ConfigRef]) -> TrackedConfigs:
    """GET every referenced ConfigMap and Secret (concurrently, one request each).

    A missing optional object is skipped; a missing required one raises ConfigError
    naming it and what references it. Other API errors (e.g. 403 when config tracking
    has no RBAC) propagate."""
    core = CoreV1Api(api)

    async def read(ref: ConfigRef) -> JsonDict | None:
        if ref.kind == CONFIGMAP:
            request = core.read_namespaced_config_map_without_preload_content(
                ref.name, namespace)
        else:
            request = core.read_namespaced_secret_without_preload_content(ref.name, namespace)
        return await read_json_or_none(request)

    ordered = list(refs.values())
    found = await asyncio.gather(*(read(ref) for ref in ordered))
    missing: list[ConfigRef] = []
    objects: dict[str, JsonDict] = {}
    untracked: list[str] = []
    for ref, obj in zip(ordered, found, strict=True):
        if obj is None:
            if not ref.optional:
                raise ConfigError(
                    f"{ref.kind} {ref.name}.{namespace} not found: referenced by "
                    f"{', '.join(ref.used_by)}")
            missing.append(ref)
            continue
        # A GET answers with kind and apiVersion; set them anyway for object_key.
        obj.setdefault("kind", "ConfigMap" if ref.kind == CONFIGMAP else "Secret")
        if is_tracked(obj):
            objects[ref.key] = obj
        else:
            untracked.append(ref.key)
    return TrackedConfigs(
        checksums=tracked_checksums(objects.values()),
        objects=objects,
        missing_optional=tuple(missing),
        untracked=tuple(untracked),
    )


# -- the -primary copies --------------------------------------------------------------------


def copied_metadata(values: Mapping[str, str] | None) -> dict[str, str]:
    """Labels or annotations as a copy inherits them: without kubectl's last-applied
    record and without Flux's keys."""
    return {key: text for key, text in (values or {}).items()
            if key != _LAST_APPLIED and _FLUX_MARKER not in key}


def build_primary_config(canary: Canary, obj: Mapping[str, Any]) -> JsonDict:
    """The `<name>-primary` copy of a ConfigMap or Secret, owned by the Canary.

    ConfigMaps keep `data` and `binaryData`; Secrets keep `type` and `data`, with any
    `stringData` folded into `data` as the API server would. `immutable` is not copied:
    the copy must stay writable for the next promotion."""
    object_key(obj)  # a ConfigMap or a Secret
    meta = obj.get("metadata", {})
    body: JsonDict = {
        "apiVersion": "v1",
        "kind": obj["kind"],
        "metadata": {
            "name": primary_config_name(meta.get("name", "")),
            "namespace": canary.metadata.namespace,
            "labels": copied_metadata(meta.get("labels")),
            "annotations": copied_metadata(meta.get("annotations")),
            "ownerReferences": [owner_reference(canary)],
        },
    }
    if obj["kind"] == "ConfigMap":
        for key in ("data", "binaryData"):
            if obj.get(key):
                body[key] = dict(obj[key])
        return body
    body["type"] = obj.get("type") or "Opaque"
    data = dict(obj.get("data") or {})
    for key, text in (obj.get("stringData") or {}).items():
        data[key] = base64.b64encode(str(text).encode()).decode()
    if data:
        body["data"] = data
    return body


def adopted_owner_references(live: Mapping[str, Any],
                             desired: Mapping[str, Any]) -> list[JsonDict] | None:
    """The ownerReferences to patch into `live` so it is owned by the controller of
    `desired` (its first owner reference), or None when it already is. Other owners stay,
    no longer as controller (an object has at most one)."""
    [ours, *_] = desired["metadata"]["ownerReferences"]
    have = live.get("metadata", {}).get("ownerReferences") or []
    if any(ref.get("uid") == ours["uid"] for ref in have):
        return None
    others = [{**ref, "controller": False} for ref in have]
    return [ours, *others]


def build_primary_config_patch(desired: Mapping[str, Any], live: Mapping[str, Any]) -> JsonDict:
    """The merge patch bringing a live copy to `desired`; {} when it is there already.

    The content (`data`, `binaryData`) is made equal, keys the source dropped included;
    labels and annotations are set, keys others added are kept. A Secret whose type
    changed cannot be patched (the type is immutable): ConfigError."""
    if desired["kind"] == "Secret":
        have, want = live.get("type") or "Opaque", desired.get("type") or "Opaque"
        if have != want:
            name = desired["metadata"]["name"]
            raise ConfigError(
                f"secret {name}.{desired['metadata']['namespace']} has type {have} but "
                f"its source is now {want}; a Secret's type cannot change: delete {name} "
                "and it is copied again")
    content = ("data", "binaryData") if desired["kind"] == "ConfigMap" else ("data",)
    live_meta = live.get("metadata", {})
    live_view = {
        "metadata": {"labels": live_meta.get("labels") or {},
                     "annotations": live_meta.get("annotations") or {}},
        **{key: live[key] for key in content if live.get(key)},
    }
    want_view = {
        "metadata": {
            "labels": {**live_view["metadata"]["labels"], **desired["metadata"]["labels"]},
            "annotations": {**live_view["metadata"]["annotations"],
                            **desired["metadata"]["annotations"]},
        },
        **{key: desired[key] for key in content if desired.get(key)},
    }
    patch = merge_patch(live_view, want_view)
    owners = adopted_owner_references(live, desired)
    if owners is not None:
        patch.setdefault("metadata", {})["ownerReferences"] = owners
    return patch


async def ensure_primary_configs(api: ApiClient, canary: Canary,
                                 tracked: TrackedConfigs) -> dict[str, JsonDict]:
    """Create or patch the `-primary` copy of every tracked object; the live copies by
    the source's key. Nothing is written for a copy already equal to its source.

    Flagger writes the copies when it creates the primary and on every promotion, and
    only then: between the two the primary keeps the configuration it was promoted with.
    """
    core = CoreV1Api(api)
    namespace = canary.metadata.namespace
    result: dict[str, JsonDict] = {}
    for key, obj in tracked.objects.items():
        desired = build_primary_config(canary, obj)
        result[key] = await _ensure_copy(core, namespace, desired)
    return result


async def _ensure_copy(core: CoreV1Api, namespace: str, desired: JsonDict) -> JsonDict:
    name = desired["metadata"]["name"]
    is_config_map = desired["kind"] == "ConfigMap"

    async def read() -> JsonDict | None:
        if is_config_map:
            return await read_json_or_none(
                core.read_namespaced_config_map_without_preload_content(name, namespace))
        return await read_json_or_none(
            core.read_namespaced_secret_without_preload_content(name, namespace))

    live = await read()
    if live is None:
        try:
            if is_config_map:
                return await read_json(core.create_namespaced_config_map_without_preload_content(
                    namespace, V1ConfigMap.model_validate(desired),
                    field_manager=FIELD_MANAGER))
            return await read_json(core.create_namespaced_secret_without_preload_content(
                namespace, V1Secret.model_validate(desired), field_manager=FIELD_MANAGER))
        except ApiException as error:
            if error.status != 409:
                raise
        # Created by someone else between our read and our create: bring that one along.
        live = await read()
        if live is None:
            raise ConfigError(f"{desired['kind']} {name}.{namespace} was created and "
                              "deleted while it was being copied; the next attempt copies it")
    patch = build_primary_config_patch(desired, live)
    if not patch:
        return live
    if is_config_map:
        return await read_json(core.patch_namespaced_config_map_without_preload_content(
            name, namespace, patch, field_manager=FIELD_MANAGER, _content_type=MERGE_PATCH))
    return await read_json(core.patch_namespaced_secret_without_preload_content(
        name, namespace, patch, field_manager=FIELD_MANAGER, _content_type=MERGE_PATCH))
