"""The admin kubeconfig the lab writes: a client certificate in group system:masters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from canary_operator.lab.pki import Pki

CONTEXT = "canary-operator-lab"


def admin_kubeconfig(server: str, pki: Pki) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": CONTEXT,
            "cluster": {"server": server, "certificate-authority": str(pki.ca_cert)},
        }],
        "users": [{
            "name": "lab-admin",
            "user": {
                "client-certificate": str(pki.admin_cert),
                "client-key": str(pki.admin_key),
            },
        }],
        "contexts": [{
            "name": CONTEXT,
            "context": {"cluster": CONTEXT, "user": "lab-admin", "namespace": "default"},
        }],
        "current-context": CONTEXT,
    }


def write_kubeconfig(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
