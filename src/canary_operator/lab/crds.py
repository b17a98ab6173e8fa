"""Install CustomResourceDefinitions and wait until the API serves them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from canary_operator.lab.processes import ProcessRecord, wait_for

FIELD_MANAGER = "canary-operator-lab"


def load_crds(path: Path) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in a multi-document YAML file."""
    with path.open() as handle:
        docs = [d for d in yaml.safe_load_all(handle) if d]
    return [d for d in docs if d.get("kind") == "CustomResourceDefinition"]


def apply_crds(api: client.ApiClient, crds: Iterable[dict[str, Any]]) -> list[str]:
    """Server-side apply each CRD (large schemas exceed the client-side apply annotation)."""
    extensions = client.ApiextensionsV1Api(api)
    names = []
    for crd in crds:
        name = crd["metadata"]["name"]
        extensions.patch_custom_resource_definition(
            name, crd, field_manager=FIELD_MANAGER, force=True,
            _content_type="application/apply-patch+yaml",
        )
        names.append(name)
    return names


def established(api: client.ApiClient, names: Iterable[str]) -> bool:
    extensions = client.ApiextensionsV1Api(api)
    for name in names:
        crd = extensions.read_custom_resource_definition(name)
        conditions = crd.status.conditions if crd.status and crd.status.conditions else []
        if not any(c.type == "Established" and c.status == "True" for c in conditions):
            return False
    return True


def install_crds(api: client.ApiClient, path: Path, timeout: float = 60,
                 watch: Iterable[ProcessRecord] = ()) -> list[str]:
    names = apply_crds(api, load_crds(path))
    wait_for(lambda: established(api, names), f"CRDs from {path} to be Established", timeout,
             watch)
    return names
