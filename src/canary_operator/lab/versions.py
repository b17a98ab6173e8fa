"""Pinned versions of everything the lab builds, and where the builds are cached."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pins:
    """The component versions the lab is built from.

    Each tuple is ordered by preference: the first is the pin, the rest are the nearest
    releases tried when the pin cannot be built through the module proxy.
    """

    kubernetes: tuple[str, ...] = ("1.36.3", "1.36.1")
    etcd: tuple[str, ...] = ("3.6.14", "3.6.15", "3.6.13", "3.6.16")
    kwok: tuple[str, ...] = ("0.8.0",)
    # Not part of the control plane: built beside it, for the chart's tests.
    helm: tuple[str, ...] = ("3.21.4", "3.21.3")
    istio_api: str = "1.30.3"

    @property
    def tag(self) -> str:
        return f"k8s-v{self.kubernetes[0]}_etcd-v{self.etcd[0]}_kwok-v{self.kwok[0]}"


PINS = Pins()

KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
ALL_BINARIES = (*KUBERNETES_COMMANDS, "etcd", "kwok")
HELM_MODULE = "helm.sh/helm/v3"


def cache_root() -> Path:
    """`$CANARY_OPERATOR_CACHE`, else `$XDG_CACHE_HOME/canary-operator`, else ~/.cache/..."""
    explicit = os.environ.get("CANARY_OPERATOR_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "canary-operator"


def toolchain_dir(pins: Pins = PINS) -> Path:
    return cache_root() / pins.tag


def helm_dir(pins: Pins = PINS) -> Path:
    """helm lives beside the control plane's `bin/`, in a directory named by its pin, so a
    control-plane rebuild never removes it and a new pin never reuses an old build."""
    return toolchain_dir(pins) / f"helm-v{pins.helm[0]}"
