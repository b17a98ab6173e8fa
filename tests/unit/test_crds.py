"""The CRDs in crds/ follow the models, are structural, and accept everything Flagger's do."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from canary_operator.api import CanaryStatus
from canary_operator.api.base import ApiModel, parse_duration
from canary_operator.api.crdgen import (
    INT_OR_STRING,
    PRESERVE,
    RESOURCES,
    CrdGenerationError,
    custom_resource_definitions,
    schema_at,
    structural_schema,
    write_crds,
)
from canary_operator.lab.crds import load_crds
from tests.paths import REPO, shared_testdata

Schema = dict[str, Any]
COMMITTED = REPO / "crds"
PLURALS = [res.plural for res in RESOURCES]


def _ours() -> dict[str, Schema]:
    """plural -> CRD, as generated now."""
    return {crd["spec"]["names"]["plural"]: crd for crd in custom_resource_definitions()}


def _flagger() -> dict[str, Schema]:
    data_dir = shared_testdata()
    if data_dir is None:
        pytest.skip("shared testdata (Flagger's CRDs) not beside the checkout")
    crds = load_crds(data_dir / "flagger" / "crd-v1.44.0.yaml")
    return {crd["spec"]["names"]["plural"]: crd for crd in crds}


def _version(crd: Schema) -> Schema:
    (version,) = crd["spec"]["versions"]
    return version  # type: ignore[no-any-return]


def _root(crd: Schema) -> Schema:
    return _version(crd)["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def _nodes(node: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every schema node with its path: `.name` for properties, `[]` items, `{}` map values."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}" if path else name)
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}{{}}")


# --- drift --------------------------------------------------------------------------------

def test_committed_crds_are_what_the_models_generate(tmp_path: Path) -> None:
    written = write_crds(tmp_path / "crds")
    fix = "run `canary-operator crds` and commit crds/"
    assert sorted(p.name for p in COMMITTED.glob("*.yaml")) == sorted(p.name for p in written), fix
    for path in written:
        committed = COMMITTED / path.name
        assert committed.read_text() == path.read_text(), f"crds/{path.name} drifted: {fix}"


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first = [p.read_bytes() for p in write_crds(tmp_path / "a")]
    second = [p.read_bytes() for p in write_crds(tmp_path / "b")]
    assert first == second


def test_the_committed_files_load_as_the_three_crds() -> None:
    names = sorted(crd["metadata"]["name"] for path in sorted(COMMITTED.glob("*.yaml"))
                   for crd in load_crds(path))
    assert names == ["alertproviders.flagger.app", "canaries.flagger.app",
                     "metrictemplates.flagger.app"]


# --- structural ---------------------------------------------------------------------------

@pytest.mark.parametrize("plural", PLURALS)
def test_every_node_is_structural(plural: str) -> None:
    problems = []
    for path, node in _nodes(_root(_ours()[plural])):
        where = path or "<root>"
        for key in ("$ref", "$defs", "anyOf", "allOf", "oneOf", "not", "title", "default",
                    "const", "definitions"):
            if key in node:
                problems.append(f"{where}: has {key}")
        if node.get(INT_OR_STRING):
            if "type" in node:
                problems.append(f"{where}: int-or-string with a type")
        elif "type" not in node and not node.get(PRESERVE):
            problems.append(f"{where}: no type")
        if node.get("type") == "object" and not (
            "properties" in node or "additionalProperties" in node or node.get(PRESERVE)
            or path == "metadata"
        ):
            problems.append(f"{where}: an object without properties would prune everything")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{where}: properties beside additionalProperties")
        if node.get("nullable"):
            problems.append(f"{where}: nullable (no model field asks for it)")
    assert problems == []


@pytest.mark.parametrize("plural", PLURALS)
def test_metadata_is_left_to_the_api_server(plural: str) -> None:
    assert _root(_ours()[plural])["properties"]["metadata"] == {"type": "object"}


def test_status_follows_the_model_and_keeps_unknown_fields() -> None:
    status = _root(_ours()["canaries"])["properties"]["status"]
    assert status[PRESERVE] is True
    expected = {field.alias or name for name, field in CanaryStatus.model_fields.items()}
    assert set(status["properties"]) == expected
    assert "Progressing" in status["properties"]["phase"]["enum"]
    assert status["properties"]["lastTransitionTime"]["format"] == "date-time"


# --- validation rules the API server applies ----------------------------------------------

@pytest.mark.parametrize(("path", "bounds"), [
    ("spec.analysis.stepWeight", (1, 100)),
    ("spec.analysis.maxWeight", (0, 100)),
    ("spec.analysis.stepWeights[0]", (1, 100)),
    ("spec.analysis.stepWeightPromotion", (0, 100)),
    ("spec.analysis.primaryReadyThreshold", (0, 100)),
    ("spec.service.port", (1, 65535)),
])
def test_weights_and_ports_are_bounded(path: str, bounds: tuple[int, int]) -> None:
    node = schema_at("Canary", path)
    assert node is not None
    assert (node["minimum"], node["maximum"]) == bounds
    assert node["type"] == "integer"


@pytest.mark.parametrize("path", ["spec.analysis.interval", "spec.analysis.metrics[].interval",
                                  "spec.analysis.webhooks[].timeout"])
def test_durations_are_go_durations_that_flaggers_pattern_accepts(path: str) -> None:
    node = schema_at("Canary", path)
    assert node is not None
    ours = re.compile(node["pattern"])
    flaggers = re.compile("^[0-9]+(m|s)")
    accepted = ["1m", "30s", "1m30s", "500ms", "90s", "2m0.5s", "10s500ms", "0s"]
    # Flagger's CRD takes these too, then every tick fails to parse them (or they are not
    # durations at all): ours rejects them at apply time.
    rejected = ["1m30", "5mm", "1m30x", "30sec", "1s "]
    for text in accepted:
        assert ours.match(text) and flaggers.match(text), text
        parse_duration(text)
    for text in rejected:
        assert flaggers.match(text) and not ours.match(text), text
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(text)
    # What Flagger's pattern refuses, ours refuses too.
    for text in ["1h", "1.5m", ".5s", "m", "1d"]:
        assert not flaggers.match(text) and not ours.match(text), text


@pytest.mark.parametrize(("kind", "path", "required"), [
    ("Canary", "spec", {"targetRef", "service", "analysis"}),
    ("Canary", "spec.targetRef", {"apiVersion", "kind", "name"}),
    ("Canary", "spec.service", {"port"}),
    ("Canary", "spec.analysis.metrics[]", {"name"}),
    ("Canary", "spec.analysis.webhooks[]", {"name", "url"}),
    ("Canary", "spec.analysis.alerts[]", {"name", "providerRef"}),
    ("MetricTemplate", "spec", {"provider", "query"}),
    ("AlertProvider", "spec", {"type"}),
])
def test_required_fields(kind: str, path: str, required: set[str]) -> None:
    node = schema_at(kind, path)
    assert node is not None
    assert set(node["required"]) == required


@pytest.mark.parametrize(("kind", "path", "some_values"), [
    ("Canary", "spec.provider", {"istio", "linkerd", "gatewayapi:v1"}),
    ("Canary", "spec.targetRef.kind", {"Deployment", "DaemonSet", "Service"}),
    ("Canary", "spec.analysis.webhooks[].type", {"", "pre-rollout", "confirm-promotion"}),
    ("Canary", "spec.analysis.alerts[].severity", {"", "info", "warn", "error"}),
    ("Canary", "status.phase", {"", "Initializing", "Succeeded", "Failed"}),
    ("MetricTemplate", "spec.provider.type", {"prometheus", "datadog"}),
    ("AlertProvider", "spec.type", {"slack", "msteams"}),
])
def test_enums(kind: str, path: str, some_values: set[str]) -> None:
    node = schema_at(kind, path)
    assert node is not None
    assert some_values <= set(node["enum"])


def _undescribed(node: Schema | None) -> Schema:
    return {k: v for k, v in (node or {}).items() if k != "description"}


def test_target_port_is_int_or_string_and_istio_structures_are_kept_as_given() -> None:
    assert _undescribed(schema_at("Canary", "spec.service.targetPort")) == {INT_OR_STRING: True}
    for path in ("spec.service.trafficPolicy", "spec.service.corsPolicy",
                 "spec.service.match[]", "spec.analysis.match[]"):
        node = _undescribed(schema_at("Canary", path))
        assert node == {"type": "object", PRESERVE: True}, path


def test_fields_carry_their_descriptions_for_kubectl_explain() -> None:
    node = schema_at("Canary", "spec.analysis.threshold")
    assert node is not None
    assert "0 or less means 1" in node["description"]
    described = [path for path, node in _nodes(_root(_ours()["canaries"]))
                 if path.startswith("spec.") and "description" in node]
    assert len(described) > 100


# --- names and columns --------------------------------------------------------------------

def test_canary_names_subresource_and_columns() -> None:
    crd = _ours()["canaries"]
    assert crd["metadata"]["name"] == "canaries.flagger.app"
    assert crd["spec"]["group"] == "flagger.app"
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["singular"] == "canary"
    assert crd["spec"]["names"]["categories"] == ["all"]
    version = _version(crd)
    assert (version["name"], version["served"], version["storage"]) == ("v1beta1", True, True)
    assert version["subresources"] == {"status": {}}
    columns = [(c["name"], c["jsonPath"], c.get("priority", 0))
               for c in version["additionalPrinterColumns"]]
    assert [c for c in columns if c[2] == 0] == [
        ("Status", ".status.phase", 0),
        ("Weight", ".status.canaryWeight", 0),
        ("LastTransitionTime", ".status.lastTransitionTime", 0),
    ]
    assert [c[0] for c in columns if c[2] == 1] == [
        "Suspended", "FailedChecks", "Interval", "Mirror", "StepWeight", "StepWeights",
        "MaxWeight",
    ]


@pytest.mark.parametrize("plural", PLURALS)
def test_names_and_printer_columns_are_flaggers(plural: str) -> None:
    ours, theirs = _ours()[plural], _flagger()[plural]
    assert ours["metadata"]["name"] == theirs["metadata"]["name"]
    assert ours["spec"]["names"] == theirs["spec"]["names"]
    assert ours["spec"]["scope"] == theirs["spec"]["scope"]
    ours_version, their_version = _version(ours), _version(theirs)
    for key in ("name", "served", "storage", "subresources", "additionalPrinterColumns"):
        assert ours_version[key] == their_version[key], key


# --- compatibility: every field Flagger accepts, ours accepts -----------------------------

_ANYTHING: Schema = {PRESERVE: True}


def _accepting_node(root: Schema, path: str) -> Schema | None:
    """Our node for a Flagger path, `_ANYTHING` when a preserving ancestor keeps it, None
    when our schema would prune it."""
    node = root
    for part in _path_parts(path):
        if part in ("[]", "{}"):
            key = "items" if part == "[]" else "additionalProperties"
            child = node.get(key)
            if isinstance(child, dict):
                node = child
                continue
        elif part in node.get("properties", {}):
            node = node["properties"][part]
            continue
        if node.get(PRESERVE):
            return _ANYTHING
        return None
    return node


def _path_parts(path: str) -> list[str]:
    return re.findall(r"[^.\[\]{}]+|\[\]|\{\}", path)


def _types_compatible(theirs: Schema, ours: Schema) -> bool:
    if ours.get(PRESERVE) and "type" not in ours:
        return True
    if theirs.get(INT_OR_STRING):
        return bool(ours.get(INT_OR_STRING))
    if ours.get(INT_OR_STRING):
        return theirs.get("type") in ("integer", "string", "number")
    their_type, our_type = theirs.get("type"), ours.get("type")
    # Flagger types whole numbers as `number`; its Go fields are ints, so ours says integer.
    return their_type == our_type or (their_type, our_type) == ("number", "integer")


def compatibility_problems(theirs_root: Schema, ours_root: Schema) -> list[str]:
    problems = []
    for path, theirs in _nodes(theirs_root):
        ours = _accepting_node(ours_root, path)
        if ours is None:
            problems.append(f"{path}: Flagger accepts it, ours prunes it")
            continue
        if not _types_compatible(theirs, ours):
            problems.append(f"{path}: Flagger's type {theirs.get('type')}, ours {ours}")
        if "enum" in theirs and "enum" in ours:
            missing = [v for v in theirs["enum"] if v not in ours["enum"]]
            if missing:
                problems.append(f"{path}: ours rejects Flagger's values {missing}")
    return problems


@pytest.mark.parametrize("plural", PLURALS)
def test_every_field_flagger_accepts_ours_accepts(plural: str) -> None:
    theirs = _root(_flagger()[plural])
    assert len(list(_nodes(theirs))) > 10  # the walk really walks
    assert compatibility_problems(theirs, _root(_ours()[plural])) == []


def test_the_compatibility_walk_notices_a_pruned_field_and_a_narrowed_enum() -> None:
    theirs = _root(_flagger()["canaries"])
    ours = copy.deepcopy(_root(_ours()["canaries"]))
    del ours["properties"]["spec"]["properties"]["analysis"]["properties"]["mirror"]
    ours["properties"]["spec"]["properties"]["provider"]["enum"].remove("linkerd")
    ours["properties"]["spec"]["properties"]["suspend"]["type"] = "string"
    problems = compatibility_problems(theirs, ours)
    assert "spec.analysis.mirror: Flagger accepts it, ours prunes it" in problems
    assert "spec.provider: ours rejects Flagger's values ['linkerd']" in problems
    assert any(p.startswith("spec.suspend: Flagger's type boolean") for p in problems)
    assert len(problems) == 3


def _required_by_flagger(node: Schema) -> set[str]:
    """Fields a node requires, counting those every `oneOf` branch requires."""
    required = set(node.get("required", []))
    branches = [set(b.get("required", [])) for b in node.get("oneOf", [])]
    if branches:
        required |= set.intersection(*branches)
    return required


# Where we knowingly require more than Flagger: a Canary without a service port or an object
# without a spec cannot be acted on, so the API server says so at apply time.
_STRICTER_THAN_FLAGGER = {"spec", "spec.service"}


@pytest.mark.parametrize("plural", PLURALS)
def test_we_require_nothing_flagger_does_not(plural: str) -> None:
    theirs = dict(_nodes(_root(_flagger()[plural])))
    extra = []
    for path, node in _nodes(_root(_ours()[plural])):
        if path not in theirs:
            continue  # our own addition: no Flagger manifest sets it
        their_node = theirs[path]
        for name in node.get("required", []):
            field_path = f"{path}.{name}" if path else name
            if name not in _required_by_flagger(their_node) and (
                field_path not in _STRICTER_THAN_FLAGGER
            ):
                extra.append(field_path)
    assert extra == []


# --- the converter itself -----------------------------------------------------------------

class _Odd(ApiModel):
    count: int = Field(default=1, gt=0)
    anything: dict[str, Any] | None = None
    blob: Any = None
    maybe: str | None = Field(default=None, json_schema_extra={"nullable": True})


class _Unrepresentable(ApiModel):
    mixed: int | list[str]


def test_the_converter_handles_exclusive_bounds_free_form_values_and_explicit_nullable() -> None:
    schema = structural_schema(_Odd)
    properties = schema["properties"]
    assert properties["count"] == {"type": "integer", "minimum": 0, "exclusiveMinimum": True}
    assert properties["anything"] == {"type": "object", PRESERVE: True}
    assert properties["blob"] == {PRESERVE: True}
    assert properties["maybe"] == {"type": "string", "nullable": True}
    assert "required" not in schema


def test_the_converter_refuses_what_has_no_structural_form() -> None:
    with pytest.raises(CrdGenerationError, match="mixed"):
        structural_schema(_Unrepresentable)


def test_the_command_line_writes_the_crds(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    # Imported here so the CRD tests do not depend on everything the CLI imports.
    from canary_operator.cli.main import main  # noqa: PLC0415

    assert main(["crds", "--output-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    expected = sorted(f"{res.plural}.yaml" for res in RESOURCES)
    assert sorted(Path(p).name for p in printed) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == expected
