"""The chart's RBAC as `helm template` renders it, and what its rules grant."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from canary_operator.kube.permissions import Grant, policy_grants
from canary_operator.lab.build import ensure_helm
from tests.paths import REPO

CHART = REPO / "deploy" / "helm" / "canary-operator"
RBAC_TEMPLATE = "templates/rbac.yaml"
SERVICE_ACCOUNT_TEMPLATE = "templates/serviceaccount.yaml"
PEERING_TEMPLATE = "templates/peering.yaml"
Manifest = dict[str, Any]
SOURCE = re.compile(r"^# Source: (\S+)$", re.MULTILINE)


@functools.cache
def helm() -> Path:
    return ensure_helm().path("helm")


def render(values: Mapping[str, Any], *, release: str = "canary-operator",
           namespace: str = "canary-operator",
           templates: Sequence[str] = (RBAC_TEMPLATE,)) -> list[Manifest]:
    """The objects `templates` render to with `values` (each given with --set-json).

    The whole chart is rendered and its documents picked by their `# Source:` line:
    `--show-only` fails on a template that renders nothing (peering with one replica).
    """
    argv = [str(helm()), "template", release, str(CHART), "--namespace", namespace]
    for key, value in values.items():
        argv += ["--set-json", f"{key}={json.dumps(value)}"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"helm template failed: {done.stderr}")
    wanted = {f"{CHART.name}/{template}" for template in templates}
    manifests = []
    for text in done.stdout.split("\n---\n"):
        source = SOURCE.search(text)
        if source is not None and source.group(1) in wanted:
            manifest = yaml.safe_load(text)
            if manifest:
                manifests.append(manifest)
    return manifests


def of_kind(manifests: Sequence[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def role_grants(role: Manifest) -> frozenset[Grant]:
    return policy_grants(role.get("rules") or [])
