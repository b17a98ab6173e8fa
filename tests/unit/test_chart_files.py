"""The chart's and the kustomize base's files agree with the package they deploy."""

from __future__ import annotations

import json
import tomllib
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import canary_operator
from canary_operator.api.crdgen import rendered_crds
from canary_operator.settings import OperatorSettings
from tests.paths import REPO

CHART = REPO / "deploy" / "helm" / "canary-operator"
BASE = REPO / "deploy" / "kustomize" / "base"
PEERING_CRDS = "kopf-peering.yaml"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _validator() -> jsonschema.Draft7Validator:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_the_chart_deploys_the_package_s_version_on_supported_kubernetes() -> None:
    chart = _yaml(CHART / "Chart.yaml")
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == version == canary_operator.__version__
    assert chart["kubeVersion"] == ">=1.28.0-0"


def test_the_default_values_satisfy_the_schema() -> None:
    errors = [e.message for e in _validator().iter_errors(_yaml(CHART / "values.yaml"))]
    assert errors == []


@pytest.mark.parametrize(("change", "why"), [
    ({"logFormat": "xml"}, "not an accepted log format"),
    ({"logLevel": "verbose"}, "not an accepted log level"),
    ({"meshProvider": "linkerd"}, "not a supported mesh"),
    ({"replicas": "two"}, "replicas is a number"),
    ({"watchNamespaces": "default"}, "a list, not a string"),
    ({"prometheus": {"url": "prometheus:9090"}}, "a URL with its scheme"),
    ({"minIntervalSeconds": 0}, "a positive interval"),
    ({"replica": 2}, "a misspelt key"),
    ({"image": {"repository": "x", "pullPolicy": "IfNotPresent", "digest": "sha256:1"}},
     "an unknown nested key"),
])
def test_the_schema_refuses_bad_values(change: dict[str, Any], why: str) -> None:
    values = {**_yaml(CHART / "values.yaml"), **change}
    assert list(_validator().iter_errors(values)), why


@pytest.mark.parametrize(("value", "setting"), [
    ("logFormat", "log_format"), ("logLevel", "log_level"), ("meshProvider", "mesh_provider"),
])
def test_the_schema_s_choices_are_the_operator_s(value: str, setting: str) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    annotation = OperatorSettings.model_fields[setting].annotation
    assert sorted(schema["properties"][value]["enum"]) == sorted(typing.get_args(annotation))


def test_the_chart_defaults_are_settings_the_operator_accepts() -> None:
    values = _yaml(CHART / "values.yaml")
    settings = OperatorSettings(
        prometheus_url=values["prometheus"]["url"],
        namespaces=",".join(values["watchNamespaces"]),  # type: ignore[arg-type]
        selector_labels=",".join(values["selectorLabels"]),  # type: ignore[arg-type]
        mesh_provider=values["meshProvider"], log_format=values["logFormat"],
        log_level=values["logLevel"], min_interval_seconds=values["minIntervalSeconds"],
        query_timeout_seconds=values["queryTimeoutSeconds"],
    )
    assert settings.namespaces == ()
    assert settings.selector_labels == OperatorSettings().selector_labels


@pytest.mark.parametrize("directory", [CHART / "crds", BASE / "crds"],
                         ids=["chart", "kustomize"])
def test_shipped_crds_are_the_generator_s_output(directory: Path) -> None:
    generated = rendered_crds()
    shipped = {p.name: p.read_text() for p in directory.glob("*.yaml")}
    shipped.pop(PEERING_CRDS, None)
    assert sorted(shipped) == sorted(generated), "run `make crds`"
    for name, text in generated.items():
        assert shipped[name] == text, f"{directory / name} is out of date: run `make crds`"


def test_the_kustomize_base_lists_every_crd() -> None:
    resources = _yaml(BASE / "kustomization.yaml")["resources"]
    assert {f"crds/{name}" for name in rendered_crds()} <= set(resources)


def test_the_peering_crds_are_kopf_s_resources() -> None:
    crds = {c["metadata"]["name"]: c for c in yaml.safe_load_all(
        (CHART / "crds" / PEERING_CRDS).read_text())}
    expected = {"clusterkopfpeerings.kopf.dev": ("Cluster", "ClusterKopfPeering"),
                "kopfpeerings.kopf.dev": ("Namespaced", "KopfPeering")}
    assert set(crds) == set(expected)
    for name, (scope, kind) in expected.items():
        spec = crds[name]["spec"]
        assert (spec["group"], spec["scope"], spec["names"]["kind"]) == ("kopf.dev", scope, kind)
        (version,) = spec["versions"]
        assert version["name"] == "v1" and version["served"] and version["storage"]
        # kopf patches the keep-alives into .status of the object itself: with a status
        # subresource the API server would drop them.
        assert "subresources" not in version
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status["x-kubernetes-preserve-unknown-fields"] is True
