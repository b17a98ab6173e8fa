"""`canary-operator lab meshsim`: the simulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from canary_operator.lab.cluster import LabState, default_state_dir
from canary_operator.lab.meshsim.labels import REPORTERS
from canary_operator.lab.meshsim.simulator import DEFAULT_RPS, MeshSimulator


def add_meshsim_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig", type=Path, default=None,
        help="the cluster to watch (default: $KUBECONFIG, else the running lab's)",
    )
    parser.add_argument("--port", type=int, default=None,
                        help="serve /metrics on 127.0.0.1:PORT (default: a free port)")
    parser.add_argument("--rps", type=float, default=DEFAULT_RPS,
                        help=f"requests per second per VirtualService (default {DEFAULT_RPS:g})")
    parser.add_argument("--namespace", action="append", dest="namespaces", default=None,
                        help="watch this namespace (repeatable); default: the whole cluster")
    parser.add_argument("--reporters", type=_reporters, default=REPORTERS,
                        help="which sides report each request, comma-separated (default "
                             f"{','.join(REPORTERS)}; one side halves the series)")


def _reporters(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [part for part in chosen if part not in REPORTERS]
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(
            f"--reporters takes {' and/or '.join(REPORTERS)}, comma-separated (got {text!r})")
    return chosen


def default_kubeconfig(environ: Mapping[str, str] = os.environ,
                       state_dir: Path | None = None) -> Path:
    """$KUBECONFIG's first file, else the kubeconfig of the lab running in `state_dir`."""
    if first := environ.get("KUBECONFIG", "").split(os.pathsep)[0]:
        return Path(first)
    return LabState.load(state_dir or default_state_dir()).kubeconfig


def run_meshsim(args: argparse.Namespace, say: Callable[[str], None] = print) -> int:
    """Run until Ctrl-C (KeyboardInterrupt propagates after a clean stop)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    kubeconfig = args.kubeconfig or default_kubeconfig()
    simulator = MeshSimulator(kubeconfig, args.namespaces or (), rps=args.rps,
                              reporters=args.reporters)
    try:
        address = simulator.start(args.port)
        where = ", ".join(args.namespaces) if args.namespaces else "all namespaces"
        say(f"mesh simulator (a stand-in for Istio's Envoy sidecars): {args.rps:g} requests/s "
            f"per VirtualService in {where}")
        say(f"serving http://{address}/metrics; scrape target {address}; Ctrl-C to stop")
        forever = threading.Event()
        while not forever.wait(1.0):
            pass
    finally:
        simulator.stop()
    return 0
