"""The inventory finds a Service's Deployments through its label index, which follows
every change: relabelled, deleted and relisted Deployments."""

from __future__ import annotations

from canary_operator.lab.meshsim.inventory import Inventory, Kind
from tests.unit.test_meshsim_objects import deployment_json


def names(inventory: Inventory, namespace: str, selector: dict[str, str]) -> list[str]:
    return sorted(d.name for d in inventory.selected(namespace, selector))


def test_a_selector_finds_the_deployments_carrying_all_its_labels() -> None:
    inventory = Inventory()
    for name, labels in (("a", {"app": "web", "track": "stable"}),
                         ("b", {"app": "web", "track": "canary"}),
                         ("c", {"app": "api"})):
        inventory.apply(Kind.DEPLOYMENT, "ADDED", deployment_json("test", name, labels=labels))
    inventory.apply(Kind.DEPLOYMENT, "ADDED", deployment_json("other", "d",
                                                               labels={"app": "web"}))
    assert names(inventory, "test", {"app": "web"}) == ["a", "b"]
    assert names(inventory, "test", {"app": "web", "track": "canary"}) == ["b"]
    assert names(inventory, "test", {"app": "nothing"}) == []
    assert names(inventory, "test", {}) == []  # an empty selector selects no pods


def test_the_index_follows_relabelling_deletion_and_a_relist() -> None:
    inventory = Inventory()
    inventory.apply(Kind.DEPLOYMENT, "ADDED", deployment_json("test", "a"))
    inventory.apply(Kind.DEPLOYMENT, "MODIFIED",
                    deployment_json("test", "a", labels={"app": "renamed"}))
    assert names(inventory, "test", {"app": "a"}) == []
    assert names(inventory, "test", {"app": "renamed"}) == ["a"]
    inventory.apply(Kind.DEPLOYMENT, "DELETED",
                    deployment_json("test", "a", labels={"app": "renamed"}))
    assert names(inventory, "test", {"app": "renamed"}) == []
    inventory.apply(Kind.DEPLOYMENT, "ADDED", deployment_json("test", "old"))
    inventory.replace(Kind.DEPLOYMENT, "test", [deployment_json("test", "new")])
    assert names(inventory, "test", {"app": "old"}) == []
    assert names(inventory, "test", {"app": "new"}) == ["new"]
