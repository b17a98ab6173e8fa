"""The CustomResourceDefinitions in `crds/`, generated from the models of this package.

The models' JSON schema (pydantic, draft 2020-12) is rewritten into the structural OpenAPI v3
subset the API server accepts:

- `$ref`/`$defs` are inlined; `title` is dropped.
- `default` is dropped on purpose: defaults live in the models, so the stored object stays
  what the user applied (GitOps diffs stay quiet) and a changed default reaches old objects.
- `X | None` becomes `X`, not `nullable`: optional means "may be absent", and the API server
  prunes an explicit null on a non-nullable field, which the models read as unset. A field
  that really means null can say so with `json_schema_extra={"nullable": True}`.
- `int | str` becomes `x-kubernetes-int-or-string`, a free-form `dict[str, Any]` becomes an
  object with `x-kubernetes-preserve-unknown-fields`, a single `Literal` becomes a one-value
  `enum`.
- Anything else the generator does not know raises `CrdGenerationError`, so a model change
  can never produce a schema the API server would refuse, or silently accept too much.

Keys are sorted on output, so the files only change when the models do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from canary_operator.api.alert_provider import AlertProvider
from canary_operator.api.canary import GROUP, VERSION, Canary
from canary_operator.api.metric_template import MetricTemplate

Schema = dict[str, Any]

PRESERVE = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"

# Keys copied as they are (after their children are converted).
_KEPT = frozenset({
    "description", "type", "format", "enum", "pattern", "minimum", "maximum",
    "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "multipleOf", "nullable",
    "exclusiveMinimum", "exclusiveMaximum",
    PRESERVE, INT_OR_STRING, "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type", "x-kubernetes-validations",
})
# Keys that have no place in a CRD schema (see the module docstring for `default`).
_DROPPED = frozenset({"title", "default", "examples", "deprecated", "readOnly", "writeOnly"})
_STRUCTURE = frozenset({"$ref", "allOf", "anyOf", "const", "properties", "required",
                        "items", "additionalProperties"})
# The envelope every Kubernetes object has; the API server defines metadata itself.
_ENVELOPE = frozenset({"apiVersion", "kind", "metadata"})

GENERATED_HEADER = (
    "# Generated from the models in canary_operator.api by `canary-operator crds`.\n"
    "# Do not edit: change the models and regenerate (tests/unit/test_crds.py checks it).\n"
)


class CrdGenerationError(ValueError):
    """A model uses a construct that has no structural OpenAPI equivalent."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or '<root>'}: {problem}")
        self.path = path


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    priority: int = 0

    def to_api(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "type": self.type,
                                  "jsonPath": self.json_path}
        if self.priority:
            column["priority"] = self.priority
        return column


@dataclass(frozen=True)
class Resource:
    """One custom resource: its model, its names and what `kubectl get` shows."""

    model: type[BaseModel]
    kind: str
    plural: str
    description: str
    columns: tuple[PrinterColumn, ...]
    short_names: tuple[str, ...] = ()

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def name(self) -> str:
        return f"{self.plural}.{GROUP}"

    @property
    def file_name(self) -> str:
        return f"{self.plural}.yaml"


# Names, categories and printer columns are Flagger's, so `kubectl get canaries` reads the same
# and scripts that grep its output keep working. Flagger declares no short names.
RESOURCES: tuple[Resource, ...] = (
    Resource(
        model=Canary, kind="Canary", plural="canaries",
        description="A Canary progressively shifts traffic from a workload's primary to its "
                    "new revision while metrics and webhooks stay healthy, then promotes it "
                    "or rolls it back.",
        columns=(
            PrinterColumn("Status", "string", ".status.phase"),
            PrinterColumn("Weight", "string", ".status.canaryWeight"),
            PrinterColumn("Suspended", "boolean", ".spec.suspend", priority=1),
            PrinterColumn("FailedChecks", "string", ".status.failedChecks", priority=1),
            PrinterColumn("Interval", "string", ".spec.analysis.interval", priority=1),
            PrinterColumn("Mirror", "boolean", ".spec.analysis.mirror", priority=1),
            PrinterColumn("StepWeight", "string", ".spec.analysis.stepWeight", priority=1),
            PrinterColumn("StepWeights", "string", ".spec.analysis.stepWeights", priority=1),
            PrinterColumn("MaxWeight", "string", ".spec.analysis.maxWeight", priority=1),
            PrinterColumn("LastTransitionTime", "string", ".status.lastTransitionTime"),
        ),
    ),
    Resource(
        model=MetricTemplate, kind="MetricTemplate", plural="metrictemplates",
        description="A MetricTemplate is a reusable query against a metrics provider, "
                    "referenced from a Canary's analysis.metrics[].templateRef.",
        columns=(PrinterColumn("Provider", "string", ".spec.provider.type"),),
    ),
    Resource(
        model=AlertProvider, kind="AlertProvider", plural="alertproviders",
        description="An AlertProvider is a chat destination for a Canary's alerts, "
                    "referenced from analysis.alerts[].providerRef.",
        columns=(PrinterColumn("Type", "string", ".spec.type"),),
    ),
)


def resource(kind: str) -> Resource:
    """The resource of a kind (`Canary`, `MetricTemplate`, `AlertProvider`)."""
    for candidate in RESOURCES:
        if candidate.kind == kind:
            return candidate
    raise KeyError(f"no custom resource of kind {kind!r}; known: "
                   + ", ".join(r.kind for r in RESOURCES))


# --- JSON schema -> structural OpenAPI v3 ---------------------------------------------------

def structural_schema(model: type[BaseModel]) -> Schema:
    """The model's validation schema as a structural OpenAPI v3 schema (no envelope)."""
    source = model.model_json_schema(by_alias=True, mode="validation")
    definitions = source.pop("$defs", {})
    return _Converter(definitions).convert(source, "")


class _Converter:
    def __init__(self, definitions: Mapping[str, Schema]) -> None:
        self._definitions = definitions
        self._expanding: list[str] = []

    def convert(self, node: Schema, path: str) -> Schema:
        node = self._flatten(node, path)
        if set(node) - _DROPPED <= {"description"}:
            # `Any`: whatever the user writes is kept.
            described = {k: v for k, v in node.items() if k == "description"}
            return {**described, PRESERVE: True}
        unknown = set(node) - _KEPT - _DROPPED - _STRUCTURE
        if unknown:
            raise CrdGenerationError(path, f"unsupported JSON schema keys {sorted(unknown)}")
        result: Schema = {key: node[key] for key in sorted(set(node) & _KEPT)}
        if "const" in node:
            result["enum"] = [node["const"]]
        self._convert_bounds(result, node)
        kind = node.get("type")
        if kind == "object":
            self._convert_object(result, node, path)
        elif kind == "array":
            if "items" not in node:
                raise CrdGenerationError(path, "a list needs an item type")
            result["items"] = self.convert(node["items"], f"{path}[]")
        elif kind is None and not result.get(INT_OR_STRING) and not result.get(PRESERVE):
            raise CrdGenerationError(path, f"no type in {node}")
        return result

    def _flatten(self, node: Schema, path: str) -> Schema:
        """Resolve `$ref`, single `allOf` and `anyOf` unions into one plain node; the
        outer node's own keys (a field's description) win over the referenced model's."""
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name in self._expanding:
                raise CrdGenerationError(path, f"{name} refers to itself; CRD schemas are finite")
            self._expanding.append(name)
            try:
                target = self._flatten(self._definitions[name], path)
            finally:
                self._expanding.pop()
            outer = {k: v for k, v in node.items() if k != "$ref"}
            return {**target, **outer}
        if "allOf" in node:
            if len(node["allOf"]) != 1:
                raise CrdGenerationError(path, "allOf with several schemas")
            outer = {k: v for k, v in node.items() if k != "allOf"}
            return {**self._flatten(node["allOf"][0], path), **outer}
        if "anyOf" in node:
            outer = {k: v for k, v in node.items() if k != "anyOf"}
            members = [m for m in node["anyOf"] if m != {"type": "null"}]
            if len(members) == 1:
                return {**self._flatten(members[0], path), **outer}
            if sorted(m.get("type", "") for m in members) == ["integer", "string"] and all(
                set(m) == {"type"} for m in members
            ):
                return {**outer, INT_OR_STRING: True}
            raise CrdGenerationError(path, f"a union of {members} has no structural form")
        return node

    @staticmethod
    def _convert_bounds(result: Schema, node: Schema) -> None:
        # Draft 2020-12 gives exclusive bounds as numbers; OpenAPI v3.0 wants a flag.
        for exclusive, inclusive in (("exclusiveMinimum", "minimum"),
                                     ("exclusiveMaximum", "maximum")):
            bound = node.get(exclusive)
            if isinstance(bound, int | float) and not isinstance(bound, bool):
                result[inclusive] = bound
                result[exclusive] = True

    def _convert_object(self, result: Schema, node: Schema, path: str) -> None:
        properties = node.get("properties") or {}
        extra = node.get("additionalProperties")
        if properties:
            result["properties"] = {
                name: self.convert(child, f"{path}.{name}" if path else name)
                for name, child in properties.items()
            }
            required = sorted(node.get("required", []))
            if required:
                result["required"] = required
            # additionalProperties cannot sit beside properties; pruning drops the rest.
            return
        if isinstance(extra, dict) and extra:
            result["additionalProperties"] = self.convert(extra, f"{path}{{}}")
        else:
            result[PRESERVE] = True


# --- whole CustomResourceDefinitions --------------------------------------------------------

def openapi_schema(res: Resource) -> Schema:
    """The `openAPIV3Schema` of a resource: the envelope, then spec and status from the model."""
    model_schema = structural_schema(res.model)
    properties: dict[str, Schema] = {
        "apiVersion": {"type": "string",
                       "description": "The versioned schema of this object, "
                                      f"{GROUP}/{VERSION}."},
        "kind": {"type": "string", "description": f"The kind of this object, {res.kind}."},
        "metadata": {"type": "object"},
    }
    for name, child in model_schema.get("properties", {}).items():
        if name not in _ENVELOPE:
            properties[name] = child
    # The operator writes status; kopf keeps its own bookkeeping beside our fields there.
    status = properties.get("status", {"type": "object"})
    properties["status"] = {**status, PRESERVE: True}
    schema: Schema = {"type": "object", "description": res.description,
                      "properties": properties}
    required = [name for name in model_schema.get("required", []) if name not in _ENVELOPE]
    if required:
        schema["required"] = sorted(required)
    return schema


@cache
def _cached_openapi_schema(kind: str) -> Schema:
    return openapi_schema(resource(kind))


def schema_at(kind: str, path: str) -> Schema | None:
    """The schema node of a field path such as `spec.analysis.stepWeights[0]`, or None.
    The returned node is shared: do not change it."""
    try:
        node: Schema | None = _cached_openapi_schema(kind)
    except KeyError:
        return None
    for part in _split_path(path):
        if node is None:
            return None
        if part == "[]":
            node = node.get("items")
        elif part in node.get("properties", {}):
            node = node["properties"][part]
        else:
            extra = node.get("additionalProperties")
            node = extra if isinstance(extra, dict) else None
    return node


def _split_path(path: str) -> list[str]:
    parts: list[str] = []
    for dotted in path.split("."):
        name, _, rest = dotted.partition("[")
        if name:
            parts.append(name)
        if rest:
            parts.extend("[]" for _ in range(rest.count("[") + 1))
    return parts


def custom_resource_definition(res: Resource) -> dict[str, Any]:
    names: dict[str, Any] = {
        "kind": res.kind,
        "listKind": f"{res.kind}List",
        "plural": res.plural,
        "singular": res.singular,
        "categories": ["all"],
    }
    if res.short_names:
        names["shortNames"] = list(res.short_names)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": res.name},
        "spec": {
            "group": GROUP,
            "names": names,
            "scope": "Namespaced",
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [column.to_api() for column in res.columns],
                "schema": {"openAPIV3Schema": openapi_schema(res)},
            }],
        },
    }


def custom_resource_definitions() -> list[dict[str, Any]]:
    return [custom_resource_definition(res) for res in RESOURCES]


def render(crd: Mapping[str, Any]) -> str:
    """The YAML text of one CRD, keys sorted, as committed in `crds/`."""
    body = yaml.safe_dump(dict(crd), sort_keys=True, default_flow_style=False, width=100,
                          allow_unicode=True)
    return GENERATED_HEADER + body


def rendered_crds() -> dict[str, str]:
    """File name -> YAML text for every CRD."""
    return {res.file_name: render(custom_resource_definition(res)) for res in RESOURCES}


def write_crds(directory: Path) -> list[Path]:
    """Write one YAML file per CRD into `directory` (created if missing); the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, text in rendered_crds().items():
        path = directory / file_name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
