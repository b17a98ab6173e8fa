"""The README's configuration table documents every value of the chart, with its default."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

from tests.paths import REPO

CHART = REPO / "deploy" / "helm" / "canary-operator"
ROW = re.compile(r"^\|\s*`(?P<name>[^`]+)`\s*\|\s*`(?P<default>[^`]*)`\s*\|(?P<meaning>.*)\|\s*$")


def _values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return values


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return schema


def leaves(values: dict[str, Any], schema: dict[str, Any],
           prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, default) of every documented value. Objects with a fixed set of keys
    (`properties` in the schema) are walked into; free-form maps are one value."""
    for key, value in values.items():
        name = f"{prefix}{key}"
        node = schema.get("properties", {}).get(key)
        assert node is not None, f"values.yaml has {name}, values.schema.json does not"
        if isinstance(value, dict) and "properties" in node:
            yield from leaves(value, node, f"{name}.")
        else:
            yield name, value


def _documented() -> dict[str, str]:
    """value name -> its default cell, from the README's configuration table."""
    text = (REPO / "README.md").read_text()
    section = text.split("### Configuration", 1)[1]
    section = re.split(r"^#{2,3} ", section, maxsplit=1, flags=re.MULTILINE)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            name = match["name"]
            assert name not in rows, f"{name} is documented twice"
            assert match["meaning"].strip(), f"{name} has no meaning in the table"
            rows[name] = match["default"]
    return rows


def test_every_value_is_documented_and_no_row_is_stale() -> None:
    documented = set(_documented())
    values = {name for name, _ in leaves(_values(), _schema())}
    assert not values - documented, f"values missing from the README: {values - documented}"
    assert not documented - values, f"README rows with no value: {documented - values}"


def test_the_documented_defaults_are_the_values_defaults() -> None:
    documented = _documented()
    for name, default in leaves(_values(), _schema()):
        assert yaml.safe_load(documented[name]) == default, (
            f"README says {name} defaults to {documented[name]!r}; values.yaml says {default!r}"
        )


def test_structured_values_refuse_unknown_keys() -> None:
    def walk(node: dict[str, Any], path: str) -> Iterator[str]:
        if "properties" in node:
            if node.get("additionalProperties") is not False:
                yield path or "<root>"
            for key, child in node["properties"].items():
                yield from walk(child, f"{path}.{key}" if path else key)

    assert list(walk(_schema(), "")) == []
