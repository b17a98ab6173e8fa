import datetime as dt
import json
from pathlib import Path

import pytest

from canary_operator.lab import build
from canary_operator.lab.errors import BuildError
from canary_operator.lab.versions import ALL_BINARIES, Pins, toolchain_dir

KUBERNETES_GOMOD_EXCERPT = """\
module k8s.io/kubernetes

go 1.26.0

require (
\tk8s.io/api v0.0.0
\tgithub.com/spf13/cobra v1.10.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/apiserver => ./staging/src/k8s.io/apiserver
\tk8s.io/streaming => ./staging/src/k8s.io/streaming
\tgithub.com/example/fork => github.com/example/fork v1.2.3
)

replace k8s.io/kms => ./staging/src/k8s.io/kms
"""


def test_staging_replaces_are_read_from_the_kubernetes_go_mod() -> None:
    assert build.staging_module_paths(KUBERNETES_GOMOD_EXCERPT) == [
        "k8s.io/api", "k8s.io/apiserver", "k8s.io/streaming", "k8s.io/kms",
    ]


def test_staging_modules_are_published_at_v0_minor_patch() -> None:
    assert build.staging_version("1.36.3") == "0.36.3"
    with pytest.raises(ValueError, match=r"2\.0\.0"):
        build.staging_version("2.0.0")


def test_version_stamp_sets_both_version_packages() -> None:
    flags = build.version_ldflags("1.36.3", dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC))
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {package}.gitVersion=v1.36.3" in flags
        assert f"-X {package}.gitMinor=36" in flags
        assert f"-X {package}.buildDate=2026-11-26T12:00:00Z" in flags


def _fake_toolchain(bin_dir: Path, versions: dict[str, str]) -> None:
    bin_dir.mkdir(parents=True)
    for name in ALL_BINARIES:
        exe = bin_dir / name
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    (bin_dir / "versions.json").write_text(json.dumps(versions))


def test_a_complete_cache_is_used_without_building(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_OPERATOR_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", "")  # no `go`: building would fail
    pins = Pins()
    _fake_toolchain(toolchain_dir(pins) / "bin", {"kubernetes": "1.36.3"})
    toolchain = build.ensure_toolchain(pins, progress=lambda _: None)
    assert toolchain.bin_dir == tmp_path / pins.tag / "bin"
    assert toolchain.versions == {"kubernetes": "1.36.3"}


def test_an_incomplete_cache_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_OPERATOR_CACHE", str(tmp_path))
    pins = Pins()
    _fake_toolchain(toolchain_dir(pins) / "bin", {})
    (toolchain_dir(pins) / "bin" / "kube-scheduler").unlink()
    assert build.cached_toolchain(pins) is None


def test_the_next_release_is_tried_when_the_pin_fails_to_build(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    log.write_text("go: k8s.io/kubernetes@v1.36.3: reading proxy: 404 Not Found\n")
    tried: list[str] = []

    def builder(version: str, out: Path, workdir: Path, runner: build.GoRunner) -> None:
        tried.append(version)
        if version == "1.36.3":
            raise BuildError("k8s.io/kubernetes", version, "go get", log)

    runner = build.GoRunner(log, progress=lambda _: None)
    chosen = build._build_first_that_works(
        "kubernetes", ("1.36.3", "1.36.1"), builder, ("kube-apiserver",), tmp_path,
        tmp_path / "src", runner, lambda _: None,
    )
    assert (chosen, tried) == ("1.36.1", ["1.36.3", "1.36.1"])


def test_a_failed_build_names_module_version_and_shows_the_log(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    runner = build.GoRunner(log, progress=lambda _: None)
    with pytest.raises(BuildError) as failure:
        runner.run(["this-is-not-a-go-command"], tmp_path, "sigs.k8s.io/kwok/cmd/kwok", "0.8.0")
    message = str(failure.value)
    assert "sigs.k8s.io/kwok/cmd/kwok 0.8.0" in message
    assert "unknown command" in message  # go's own complaint, from the log's tail
    assert log.stat().st_size > 0
