"""helm, for the chart's tests, is built from the module proxy beside the control plane."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from canary_operator.lab import build
from canary_operator.lab.errors import PrerequisiteMissing
from canary_operator.lab.versions import Pins, helm_dir, toolchain_dir


def test_the_version_stamp_names_the_whole_release() -> None:
    flags = build.helm_ldflags("3.21.4", "v0.36.2")
    assert "-X helm.sh/helm/v3/internal/version.version=v3.21.4" in flags
    assert "-s -w" in flags


def test_the_kubernetes_release_is_stamped_from_client_go_like_upstream_does() -> None:
    # Without it helm assumes Kubernetes 1.20 and refuses our chart's kubeVersion >=1.28.
    flags = build.helm_ldflags("3.21.4", "v0.36.2")
    for package in ("helm.sh/helm/v3/pkg/chartutil", "helm.sh/helm/v3/pkg/lint/rules"):
        assert f"-X {package}.k8sVersionMajor=1" in flags
        assert f"-X {package}.k8sVersionMinor=36" in flags


def test_helm_is_cached_beside_the_control_plane_in_a_directory_named_by_its_pin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANARY_OPERATOR_CACHE", str(tmp_path))
    pins = Pins(helm=("3.21.4", "3.21.3"))
    assert helm_dir(pins) == toolchain_dir(pins) / "helm-v3.21.4"
    # The control plane's bin/ is replaced whole on a rebuild: helm must live elsewhere.
    assert helm_dir(pins) != toolchain_dir(pins) / "bin"


def _fake_helm(bin_dir: Path, version: str) -> None:
    bin_dir.mkdir(parents=True)
    exe = bin_dir / "helm"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    (bin_dir / "versions.json").write_text(json.dumps({"helm": version}))


def test_a_cached_helm_is_used_without_go(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_OPERATOR_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", "")  # no `go`: building would fail
    pins = Pins()
    _fake_helm(helm_dir(pins) / "bin", "3.21.3")
    helm = build.ensure_helm(pins, progress=lambda _: None)
    assert helm.path("helm") == helm_dir(pins) / "bin" / "helm"
    assert helm.versions == {"helm": "3.21.3"}


def test_a_missing_helm_without_go_names_the_prerequisite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANARY_OPERATOR_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", "")
    pins = Pins()
    (helm_dir(pins) / "bin").mkdir(parents=True)  # an interrupted build left no binary
    assert build.cached_helm(pins) is None
    with pytest.raises(PrerequisiteMissing, match="Go"):
        build.ensure_helm(pins, progress=lambda _: None)


class RecordingRunner(build.GoRunner):
    def __init__(self, log: Path) -> None:
        super().__init__(log, progress=lambda _: None)
        self.commands: list[list[str]] = []

    def run(self, args: Sequence[str], cwd: Path, component: str, version: str) -> str:
        self.commands.append(list(args))
        return "v0.36.2\n" if args[:2] == ["list", "-m"] else ""


def test_helm_is_built_in_a_wrapper_module_with_the_stamp(tmp_path: Path) -> None:
    runner = RecordingRunner(tmp_path / "build.log")
    build.build_helm("3.21.4", tmp_path / "bin", tmp_path / "src", runner)
    assert runner.commands[0] == ["mod", "init", "local/helmtool"]
    assert ["get", "-tool", "helm.sh/helm/v3/cmd/helm@v3.21.4"] in runner.commands
    (go_build,) = [c for c in runner.commands if c[0] == "build"]
    assert ["list", "-m", "-f", "{{.Version}}", "k8s.io/client-go"] in runner.commands
    assert go_build[go_build.index("-ldflags") + 1] == build.helm_ldflags("3.21.4", "v0.36.2")
    assert go_build[go_build.index("-o") + 1] == str(tmp_path / "bin" / "helm")
    assert go_build[-1] == "helm.sh/helm/v3/cmd/helm"


def test_a_finished_build_is_moved_into_place_with_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANARY_OPERATOR_CACHE", str(tmp_path))
    pins = Pins()

    def fake_build(version: str, out: Path, workdir: Path, runner: build.GoRunner) -> None:
        (out / "helm").write_text("#!/bin/sh\n")
        (out / "helm").chmod(0o755)

    monkeypatch.setattr(build, "build_helm", fake_build)
    root = toolchain_dir(pins)
    root.mkdir(parents=True)
    helm = build._build_helm(pins, root, progress=lambda _: None)
    assert helm.versions == {"helm": pins.helm[0]}
    assert build.cached_helm(pins) == helm
    assert not helm_dir(pins).with_name(f"{helm_dir(pins).name}.partial").exists()
