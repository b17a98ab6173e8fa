"""Build the control-plane binaries from the Go module proxy, once, into the cache.

kube-apiserver and friends cannot be `go install`ed (k8s.io/kubernetes maps its staging
modules with replace directives a consumer's build ignores), so each is built inside a
small wrapper module that repeats those replaces at the matching published versions.
etcd's server module has replaces too; kwok installs directly. helm, which only the chart's
tests need, is built the same way into its own directory beside the control plane's.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from canary_operator.lab.errors import BuildError, PrerequisiteMissing
from canary_operator.lab.versions import (
    ALL_BINARIES,
    HELM_MODULE,
    KUBERNETES_COMMANDS,
    PINS,
    Pins,
    helm_dir,
    toolchain_dir,
)

Progress = Callable[[str], None]


def print_progress(message: str) -> None:
    print(f"[lab] {message}", file=sys.stderr, flush=True)


def staging_module_paths(kubernetes_gomod: str) -> list[str]:
    """Module paths that k8s.io/kubernetes replaces with its ./staging tree."""
    modules = []
    for line in kubernetes_gomod.splitlines():
        parts = line.split()
        # `k8s.io/api => ./staging/src/k8s.io/api`, inside or outside a replace block
        if parts and parts[0] == "replace":
            parts = parts[1:]
        if len(parts) == 3 and parts[1] == "=>" and parts[2].startswith("./staging/"):
            modules.append(parts[0])
    return modules


def staging_version(kubernetes_version: str) -> str:
    """k8s.io/kubernetes v1.X.Y publishes its staging modules as v0.X.Y."""
    major, minor, patch = kubernetes_version.split(".")
    if major != "1":
        raise ValueError(f"unexpected Kubernetes version {kubernetes_version!r}")
    return f"0.{minor}.{patch}"


def version_ldflags(kubernetes_version: str, build_date: dt.datetime) -> str:
    """Stamp the version like upstream's hack/lib/version.sh, so /version is real."""
    minor = kubernetes_version.split(".")[1]
    stamp = build_date.strftime("%Y-%m-%dT%H:%M:%SZ")
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion=v{kubernetes_version}",
            f"-X {package}.gitMajor=1",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate={stamp}",
        ]
    return " ".join(flags)


@dataclass
class GoRunner:
    """Runs `go` with a hermetic environment, appending all output to one log file."""

    log: Path
    progress: Progress
    heartbeat_seconds: float = 30.0

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(GOTOOLCHAIN="local", CGO_ENABLED="0", GOFLAGS="-mod=mod")
        return env

    def run(self, args: Sequence[str], cwd: Path, component: str, version: str) -> str:
        command = ["go", *args]
        with self.log.open("a") as log:
            log.write(f"\n$ (cd {cwd} && {' '.join(command)})\n")
            log.flush()
            started = time.monotonic()
            proc = subprocess.Popen(
                command, cwd=cwd, env=self.env(), stdout=subprocess.PIPE, stderr=log, text=True
            )
            stop = threading.Event()
            ticker = threading.Thread(
                target=self._heartbeat, args=(stop, started, component), daemon=True
            )
            ticker.start()
            try:
                stdout, _ = proc.communicate()
            finally:
                stop.set()
            log.write(stdout)
        if proc.returncode != 0:
            raise BuildError(component, version, " ".join(command), self.log)
        return stdout

    def _heartbeat(self, stop: threading.Event, started: float, component: str) -> None:
        while not stop.wait(self.heartbeat_seconds):
            elapsed = int(time.monotonic() - started)
            self.progress(f"  still building {component} ({elapsed // 60}m{elapsed % 60:02d}s)")


Builder = Callable[[str, Path, Path, GoRunner], None]


def _fresh_module(workdir: Path, runner: GoRunner, name: str, component: str, ver: str) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    runner.run(["mod", "init", name], workdir, component, ver)


def build_kubernetes(version: str, out: Path, workdir: Path, runner: GoRunner) -> None:
    component = "k8s.io/kubernetes"
    _fresh_module(workdir, runner, "local/k8stools", component, version)
    runner.run(["mod", "edit", "-go=1.26.0"], workdir, component, version)
    info = json.loads(
        runner.run(["mod", "download", "-json", f"k8s.io/kubernetes@v{version}"], workdir,
                   component, version)
    )
    staging = staging_module_paths(Path(info["GoMod"]).read_text())
    stg = staging_version(version)
    runner.run(
        ["mod", "edit", *(f"-replace={m}={m}@v{stg}" for m in staging)], workdir, component,
        version,
    )
    packages = [f"k8s.io/kubernetes/cmd/{cmd}" for cmd in KUBERNETES_COMMANDS]
    runner.run(["get", "-tool", *(f"{p}@v{version}" for p in packages)], workdir, component,
               version)
    ldflags = version_ldflags(version, dt.datetime.now(dt.UTC))
    runner.run(["build", "-trimpath", "-ldflags", ldflags, "-o", f"{out}/", *packages], workdir,
               component, version)


def single_binary_builder(package: str, binary: str) -> Builder:
    """A builder for one main package, inside a wrapper module (which also sidesteps the
    replace directives that make `go install pkg@version` refuse etcd's server module)."""

    def build(version: str, out: Path, workdir: Path, runner: GoRunner) -> None:
        _fresh_module(workdir, runner, f"local/{binary}tool", package, version)
        runner.run(["get", "-tool", f"{package}@v{version}"], workdir, package, version)
        runner.run(["build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / binary), package],
                   workdir, package, version)

    return build


build_etcd = single_binary_builder("go.etcd.io/etcd/server/v3", "etcd")
build_kwok = single_binary_builder("sigs.k8s.io/kwok/cmd/kwok", "kwok")


def helm_ldflags(version: str, client_go_version: str) -> str:
    """Stamp helm as its own Makefile does: the release, or `helm version` says only
    `v3.21`; and the Kubernetes release of its client-go (v0.36.2 -> 1.36), or `helm
    template` and `helm lint` assume Kubernetes 1.20 and refuse charts that need newer."""
    major, minor, _ = client_go_version.removeprefix("v").split(".", 2)
    kubernetes_major = str(int(major) + 1)
    flags = ["-s -w", f"-X {HELM_MODULE}/internal/version.version=v{version}"]
    for package in (f"{HELM_MODULE}/pkg/chartutil", f"{HELM_MODULE}/pkg/lint/rules"):
        flags += [f"-X {package}.k8sVersionMajor={kubernetes_major}",
                  f"-X {package}.k8sVersionMinor={minor}"]
    return " ".join(flags)


def build_helm(version: str, out: Path, workdir: Path, runner: GoRunner) -> None:
    package = f"{HELM_MODULE}/cmd/helm"
    _fresh_module(workdir, runner, "local/helmtool", package, version)
    runner.run(["get", "-tool", f"{package}@v{version}"], workdir, package, version)
    client_go = runner.run(["list", "-m", "-f", "{{.Version}}", "k8s.io/client-go"], workdir,
                           package, version).strip()
    runner.run(["build", "-trimpath", "-ldflags", helm_ldflags(version, client_go),
                "-o", str(out / "helm"), package], workdir, package, version)


@dataclass(frozen=True)
class Toolchain:
    """The built binaries and the versions they were actually built from."""

    bin_dir: Path
    versions: dict[str, str]

    def path(self, binary: str) -> Path:
        return self.bin_dir / binary


@contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cached(bin_dir: Path, binaries: tuple[str, ...]) -> Toolchain | None:
    """The binaries in `bin_dir` when all are there with their manifest, else None."""
    manifest = bin_dir / "versions.json"
    if not manifest.is_file():
        return None
    if not all(os.access(bin_dir / name, os.X_OK) for name in binaries):
        return None
    return Toolchain(bin_dir, json.loads(manifest.read_text()))


def _ensure(cached: Callable[[], Toolchain | None], build: Callable[[], Toolchain],
            root: Path, what: str) -> Toolchain:
    """The cached build, or a new one made under the cache's lock."""
    found = cached()
    if found is not None:
        return found
    if shutil.which("go") is None:
        raise PrerequisiteMissing(f"the lab builds {what} with Go: install Go >= 1.26")
    with exclusive(root / ".build.lock"):
        found = cached()  # another process may have finished it meanwhile
        return found if found is not None else build()


def cached_toolchain(pins: Pins = PINS) -> Toolchain | None:
    """The cached toolchain when every binary is present, else None."""
    return _cached(toolchain_dir(pins) / "bin", ALL_BINARIES)


def ensure_toolchain(pins: Pins = PINS, progress: Progress = print_progress) -> Toolchain:
    """Return the cached binaries, building the missing ones first (minutes when cold)."""
    root = toolchain_dir(pins)
    return _ensure(lambda: cached_toolchain(pins), lambda: _build_all(pins, root, progress),
                   root, "its control plane")


def _build_all(pins: Pins, root: Path, progress: Progress) -> Toolchain:
    staging_bin = root / "bin.partial"
    staging_bin.mkdir(parents=True, exist_ok=True)
    log = root / "build.log"
    runner = GoRunner(log, progress)
    plan: list[tuple[str, tuple[str, ...], Builder, tuple[str, ...]]] = [
        ("etcd", pins.etcd, build_etcd, ("etcd",)),
        ("kwok", pins.kwok, build_kwok, ("kwok",)),
        ("kubernetes", pins.kubernetes, build_kubernetes, KUBERNETES_COMMANDS),
    ]
    progress(f"building the lab control plane into {root} (build log: {log})")
    # Components finished by an interrupted earlier build are kept, with their versions.
    partial = staging_bin / "versions.partial.json"
    versions: dict[str, str] = json.loads(partial.read_text()) if partial.is_file() else {}
    started = time.monotonic()
    for name, candidates, builder, outputs in plan:
        if name in versions and all(os.access(staging_bin / o, os.X_OK) for o in outputs):
            progress(f"{name} v{versions[name]}: already built")
            continue
        versions[name] = _build_first_that_works(
            name, candidates, builder, outputs, staging_bin, root / "src" / name, runner, progress
        )
        partial.write_text(json.dumps(versions, indent=2) + "\n")
    partial.rename(staging_bin / "versions.json")
    final = root / "bin"
    shutil.rmtree(final, ignore_errors=True)
    staging_bin.rename(final)
    progress(f"built {', '.join(ALL_BINARIES)} in {time.monotonic() - started:.0f}s")
    return Toolchain(final, versions)


def _build_first_that_works(
    name: str,
    candidates: tuple[str, ...],
    builder: Builder,
    outputs: tuple[str, ...],
    out: Path,
    workdir: Path,
    runner: GoRunner,
    progress: Progress,
) -> str:
    failures: list[BuildError] = []
    for version in candidates:
        progress(f"{name} v{version}: building {', '.join(outputs)}")
        started = time.monotonic()
        try:
            builder(version, out, workdir, runner)
        except BuildError as error:
            failures.append(error)
            progress(f"{name} v{version}: failed, see {runner.log}")
            continue
        progress(f"{name} v{version}: done in {time.monotonic() - started:.0f}s")
        return version
    raise failures[-1] if failures else BuildError(name, "?", "no candidate versions", runner.log)


def cached_helm(pins: Pins = PINS) -> Toolchain | None:
    """The cached helm (`.path("helm")`), or None when it has not been built."""
    return _cached(helm_dir(pins) / "bin", ("helm",))


def ensure_helm(pins: Pins = PINS, progress: Progress = print_progress) -> Toolchain:
    """Return the cached helm, building it first when missing (a few minutes when cold)."""
    root = toolchain_dir(pins)
    return _ensure(lambda: cached_helm(pins), lambda: _build_helm(pins, root, progress),
                   root, "helm")


def _build_helm(pins: Pins, root: Path, progress: Progress) -> Toolchain:
    final = helm_dir(pins)
    staging = final.with_name(f"{final.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging_bin = staging / "bin"
    staging_bin.mkdir(parents=True)
    runner = GoRunner(root / "build.log", progress)
    progress(f"building helm into {final} (build log: {runner.log})")
    version = _build_first_that_works(
        "helm", pins.helm, build_helm, ("helm",), staging_bin, root / "src" / "helm", runner,
        progress,
    )
    versions = {"helm": version}
    (staging_bin / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return Toolchain(final / "bin", versions)
