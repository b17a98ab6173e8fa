"""Render deploy/kustomize/base/operator.yaml from the Helm chart, so the two never differ.

    .venv/bin/python deploy/kustomize/render.py          # rewrite it (`make manifests`)
    .venv/bin/python deploy/kustomize/render.py --check  # exit 1 if it is out of date

The chart with its default values, as release `canary-operator` in namespace
`canary-operator`; Helm's own labels become kustomize's. helm comes from the lab's cache
(built from the Go module proxy on first use). The CRDs beside it are written by
`canary-operator crds --output-dir deploy/kustomize/base/crds` (`make crds`).
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
from pathlib import Path

from canary_operator.lab.build import ensure_helm

DEPLOY = Path(__file__).resolve().parents[1]
CHART = DEPLOY / "helm" / "canary-operator"
OUTPUT = DEPLOY / "kustomize" / "base" / "operator.yaml"
RELEASE = NAMESPACE = "canary-operator"

HEADER = (
    "# Generated from deploy/helm/canary-operator with its default values by\n"
    "# deploy/kustomize/render.py. Do not edit: change the chart, then `make manifests`.\n"
)


def from_helm_to_kustomize(rendered: str) -> str:
    """Helm's template output without what only makes sense for a Helm release."""
    text = re.sub(r"^[ \t]*helm\.sh/chart: .*\n", "", rendered, flags=re.MULTILINE)
    text = text.replace("app.kubernetes.io/managed-by: Helm",
                        "app.kubernetes.io/managed-by: kustomize")
    return HEADER + text.removeprefix("---\n")


def render(helm: Path) -> str:
    rendered = subprocess.run(
        [str(helm), "template", RELEASE, str(CHART), "--namespace", NAMESPACE],
        check=True, capture_output=True, text=True,
    ).stdout
    return from_helm_to_kustomize(rendered)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 when operator.yaml is out of date")
    parser.add_argument("--helm", type=Path, default=None,
                        help="the helm binary (default: the lab's, built on first use)")
    args = parser.parse_args(argv)
    helm = args.helm or ensure_helm().path("helm")
    wanted = render(helm)
    current = OUTPUT.read_text() if OUTPUT.is_file() else ""
    if current == wanted:
        return 0
    if args.check:
        sys.stdout.writelines(difflib.unified_diff(
            current.splitlines(keepends=True), wanted.splitlines(keepends=True),
            str(OUTPUT), "helm template"))
        print(f"\n{OUTPUT} is out of date: run `make manifests`", file=sys.stderr)
        return 1
    OUTPUT.write_text(wanted)
    print(OUTPUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
