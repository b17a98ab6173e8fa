"""Flagger v1.44.0 as the reference peer: built once from the Go module proxy into the lab
cache, then run against a lab of its own (Flagger and we both own `flagger.app`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from canary_operator.lab import Lab
from canary_operator.lab.build import exclusive
from canary_operator.lab.processes import ProcessRecord, free_port
from canary_operator.lab.versions import toolchain_dir

FLAGGER_VERSION = "1.44.0"
FLAGGER_PACKAGE = "github.com/fluxcd/flagger/cmd/flagger"


def flagger_dir() -> Path:
    """`<lab cache>/flagger-v1.44.0`, beside the control plane's `bin/`."""
    return toolchain_dir() / f"flagger-v{FLAGGER_VERSION}"


def flagger_binary() -> Path:
    return flagger_dir() / "bin" / "flagger"


def ensure_flagger(say: bool = True) -> Path:
    """The cached Flagger binary, built first with `go install` when missing."""
    binary = flagger_binary()
    if os.access(binary, os.X_OK):
        return binary
    if shutil.which("go") is None:
        raise RuntimeError("building Flagger needs Go >= 1.26 on PATH")
    root = flagger_dir()
    with exclusive(root / ".build.lock"):
        if os.access(binary, os.X_OK):  # another process built it while we waited
            return binary
        partial = root / "bin.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        env = dict(os.environ, GOBIN=str(partial), GOTOOLCHAIN="local", CGO_ENABLED="0")
        log = root / "build.log"
        started = time.monotonic()
        if say:
            print(f"[bench] building Flagger v{FLAGGER_VERSION} into {root} (log: {log})",
                  file=sys.stderr, flush=True)
        with log.open("a") as out:
            done = subprocess.run(
                ["go", "install", "-trimpath", "-ldflags=-s -w",
                 f"{FLAGGER_PACKAGE}@v{FLAGGER_VERSION}"],
                env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
            )
        if done.returncode != 0:
            raise RuntimeError(f"building Flagger failed; see {log}")
        final = root / "bin"
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        if say:
            print(f"[bench] built Flagger in {time.monotonic() - started:.0f}s",
                  file=sys.stderr, flush=True)
    return binary


def flagger_argv(binary: Path, kubeconfig: Path, prometheus_url: str, port: int,
                 namespace: str | None) -> list[str]:
    """Flagger's command line for the lab. It has no listen-address flag: `-port` binds
    every interface (testbed.md §7), so the port is a free one picked on 127.0.0.1."""
    argv = [
        str(binary),
        f"-kubeconfig={kubeconfig}",
        "-mesh-provider=istio",
        f"-metrics-server={prometheus_url}",
        f"-port={port}",
        "-log-level=info",
        "-enable-leader-election=false",
    ]
    if namespace:
        argv.append(f"-namespace={namespace}")
    return argv


def start_flagger(lab: Lab, prometheus_url: str, namespace: str | None = None) -> tuple[
        ProcessRecord, int]:
    """Start Flagger as a lab process (so `lab.down()` stops it); return it and its port."""
    port = free_port()
    record = lab.spawn("flagger", flagger_argv(ensure_flagger(), lab.state.kubeconfig,
                                               prometheus_url, port, namespace))
    return record, port


if __name__ == "__main__":
    print(ensure_flagger())
