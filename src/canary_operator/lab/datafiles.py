"""Where the lab finds the CRDs and kwok stage files it installs.

Tests and CI pass a data directory (laid out like the project's shared testdata); on a
user's machine without one, the same files are read from the pinned Go modules, which
`go mod download` fetches into the module cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from canary_operator.lab.errors import DataFilesMissing, PrerequisiteMissing
from canary_operator.lab.versions import PINS, Pins

# kwok v0.8.0 has no built-in stages: these make nodes Ready and pods Running/Ready,
# complete Job pods, and really delete terminating pods (old ReplicaSets drain). The chaos
# stage fails the containers of pods labelled
# `pod-container-running-failed.stage.kwok.x-k8s.io: "true"`: a release that never runs.
KWOK_STAGES = (
    ("node", "fast", "node-initialize.yaml"),
    ("node", "heartbeat-with-lease", "node-heartbeat-with-lease.yaml"),
    ("pod", "fast", "pod-ready.yaml"),
    ("pod", "fast", "pod-complete.yaml"),
    ("pod", "fast", "pod-delete.yaml"),
    ("pod", "chaos", "pod-container-running-failed.yaml"),
)


@dataclass(frozen=True)
class DataFiles:
    istio_crds: Path
    kwok_stages: tuple[Path, ...]


def from_data_dir(data_dir: Path, pins: Pins = PINS) -> DataFiles:
    """Files laid out as `istio/crds-v<ver>.yaml` and `kwok-stages/<kind>-<dir>-<file>`."""
    istio = data_dir / "istio" / f"crds-v{pins.istio_api}.yaml"
    stages = tuple(
        data_dir / "kwok-stages" / f"{kind}-{group}-{name}" for kind, group, name in KWOK_STAGES
    )
    missing = [str(p) for p in (istio, *stages) if not p.is_file()]
    if missing:
        raise DataFilesMissing(
            f"data directory {data_dir} lacks: {', '.join(missing)} "
            "(pass the project's shared testdata directory, or omit --data-dir to read the "
            "files from the pinned Go modules)"
        )
    return DataFiles(istio, stages)


def go_module_dir(module: str, version: str) -> Path:
    """Download a module into the Go module cache and return its directory there."""
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=mod")
    with tempfile.TemporaryDirectory() as outside_any_module:
        try:
            result = subprocess.run(
                ["go", "mod", "download", "-json", f"{module}@v{version}"],
                cwd=outside_any_module, env=env, capture_output=True, text=True, check=False,
            )
        except FileNotFoundError as error:
            raise PrerequisiteMissing(
                "reading the lab's data files from Go modules needs Go >= 1.26 on PATH"
            ) from error
    if result.returncode != 0:
        raise DataFilesMissing(
            f"go mod download {module}@v{version} failed: {result.stderr.strip() or result.stdout}"
        )
    return Path(json.loads(result.stdout)["Dir"])


def from_go_modules(pins: Pins = PINS) -> DataFiles:
    istio = go_module_dir("istio.io/api", pins.istio_api)
    kwok = go_module_dir("sigs.k8s.io/kwok", pins.kwok[0])
    stages = tuple(kwok / "kustomize" / "stage" / k / g / n for k, g, n in KWOK_STAGES)
    return DataFiles(istio / "kubernetes" / "customresourcedefinitions.gen.yaml", stages)


def resolve(data_dir: Path | None, pins: Pins = PINS) -> DataFiles:
    return from_data_dir(data_dir, pins) if data_dir is not None else from_go_modules(pins)
