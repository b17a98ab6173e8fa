"""helm and kubectl against the lab, for the tests of what users install (chart, kustomize)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from canary_operator.lab import Lab
from tests.paths import REPO

CHART = REPO / "deploy" / "helm" / "canary-operator"
KUSTOMIZE = REPO / "deploy" / "kustomize"
Manifest = dict[str, Any]


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str


@dataclass(frozen=True)
class DeployTools:
    """The lab's kubectl and the cached helm, with the lab's kubeconfig and a helm home of
    their own (nothing is read from or written to the user's ~/.config/helm)."""

    lab: Lab
    helm_binary: Path
    helm_home: Path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            KUBECONFIG=str(self.lab.state.kubeconfig),
            HELM_CACHE_HOME=str(self.helm_home / "cache"),
            HELM_CONFIG_HOME=str(self.helm_home / "config"),
            HELM_DATA_HOME=str(self.helm_home / "data"),
        )
        return env

    def _run(self, argv: Sequence[str], stdin: str | None = None) -> Result:
        done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True,
                              env=self.env(), check=False, timeout=180)
        if done.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv[:3])} ... failed ({done.returncode}):\n{done.stderr}"
                f"\n{done.stdout[-2000:]}"
            )
        return Result(done.stdout, done.stderr)

    def helm(self, *args: str) -> Result:
        return self._run([str(self.helm_binary), *args])

    def kubectl(self, *args: str, stdin: str | None = None) -> Result:
        return self._run([str(self.lab.state.bin_dir / "kubectl"), *args], stdin=stdin)

    def server_dry_run(self, manifests: str) -> Result:
        """`kubectl apply --dry-run=server`: the API server validates, admits and defaults
        every object without storing it."""
        return self.kubectl("apply", "--dry-run=server", "-f", "-", stdin=manifests)


def documents(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def of_kind(manifests: Sequence[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def set_flags(values: dict[str, str]) -> list[str]:
    """`--set-json key=value` for each value (JSON text, so lists and numbers keep types)."""
    flags: list[str] = []
    for key, value in values.items():
        flags += ["--set-json", f"{key}={value}"]
    return flags
