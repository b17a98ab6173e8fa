"""Every example a user copies is valid for our models and acted on in full."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from canary_operator.analysis import Strategy, strategy_of
from canary_operator.api import Canary
from canary_operator.api.alert_provider import AlertProvider
from canary_operator.api.support import unsupported_fields
from tests.paths import REPO

EXAMPLES = sorted((REPO / "examples").rglob("*.yaml"))


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(REPO)))
def test_each_canary_example_is_valid_and_fully_supported(path: Path) -> None:
    for doc in documents(path):
        if doc["kind"] == "Canary":
            canary = Canary.model_validate(doc)
            assert unsupported_fields(canary.spec) == []
        elif doc["kind"] == "AlertProvider":
            AlertProvider.model_validate(doc)


def test_the_strategy_examples_are_the_strategies_they_say() -> None:
    folder = REPO / "examples" / "strategies"
    found = {path.stem: strategy_of(Canary.model_validate(documents(path)[0]).spec.analysis)
             for path in folder.glob("*.yaml")}
    assert found == {"blue-green": Strategy.BLUE_GREEN, "ab-testing": Strategy.AB_TESTING,
                     "canary-with-hooks": Strategy.CANARY}
