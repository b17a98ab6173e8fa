"""`canary-operator`: the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from canary_operator.api.crdgen import write_crds
from canary_operator.cli import kubectl
from canary_operator.lab import Lab, LabError, default_state_dir
from canary_operator.lab.build import ensure_helm, ensure_toolchain
from canary_operator.lab.demo import run_demo
from canary_operator.lab.meshsim.command import add_meshsim_arguments, run_meshsim
from canary_operator.loadtester.command import add_loadtester_arguments, run_loadtester
from canary_operator.operator import run_operator
from canary_operator.settings import OperatorSettings


def _add_lab_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir", type=Path, default=None,
        help=f"where the lab keeps pids, logs, certificates (default {default_state_dir()})",
    )


def _add_up_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, default=None,
        help="directory with istio/ and kwok-stages/ data files; default: read them from "
             "the pinned Go modules",
    )
    parser.add_argument("--nodes", type=int, default=3, help="kwok fake Nodes (default 3)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="canary-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator (settings: CANARY_OPERATOR_* env)")
    run.add_argument("--prometheus-url", help="overrides CANARY_OPERATOR_PROMETHEUS_URL")
    run.add_argument("--namespace", action="append", dest="namespaces",
                     help="watch this namespace (repeatable); default: the whole cluster")
    run.add_argument("--liveness-endpoint",
                     help="overrides CANARY_OPERATOR_LIVENESS_ENDPOINT")

    lab = commands.add_parser("lab", help="the local lab: a real control plane on 127.0.0.1")
    lab_commands = lab.add_subparsers(dest="lab_command", required=True)
    lab_commands.add_parser("build", help="build the control-plane binaries (and helm, for "
                                          "the chart's tests) into the cache")
    up = lab_commands.add_parser("up", help="build (once) and start the control plane")
    _add_lab_options(up)
    _add_up_options(up)
    for name, text in (
        ("down", "stop the processes `lab up` started and remove its state"),
        ("status", "show which lab processes are running"),
        ("env", "print the shell exports to use the lab (KUBECONFIG, PATH)"),
    ):
        _add_lab_options(lab_commands.add_parser(name, help=text))
    demo = lab_commands.add_parser("demo", help="start the lab and show a Deployment rolling out")
    _add_lab_options(demo)
    _add_up_options(demo)
    demo.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    add_meshsim_arguments(lab_commands.add_parser(
        "meshsim", help="a stand-in for Istio's Envoy sidecars: Istio request metrics for "
                        "every VirtualService's traffic, until Ctrl-C"))
    add_loadtester_arguments(commands.add_parser(
        "loadtester", help="a Flagger-compatible load tester and manual gates (webhook "
                           "target), until SIGTERM or Ctrl-C"))
    # The `kubectl canary` commands (get, status, promote, ...): listed here, run by
    # canary_operator.cli.kubectl (main() hands them over before parsing).
    kubectl.add_commands(commands)
    crds = commands.add_parser("crds", help="write the CustomResourceDefinitions (YAML)")
    crds.add_argument("--output-dir", type=Path, default=Path("crds"),
                      help="directory for the CRD files (default ./crds)")
    return parser


def _lab(args: argparse.Namespace) -> int:
    if args.lab_command == "build":
        for toolchain in (ensure_toolchain(), ensure_helm()):
            print(f"{toolchain.bin_dir}: " + ", ".join(f"{k} v{v}" for k, v in
                                                        sorted(toolchain.versions.items())))
        return 0
    if args.lab_command == "up":
        lab = Lab.up(state_dir=args.state_dir, data_dir=args.data_dir, nodes=args.nodes)
        print(lab.env(), end="")
        return 0
    if args.lab_command == "demo":
        run_demo(args.state_dir, args.data_dir, args.keep)
        return 0
    if args.lab_command == "meshsim":
        return run_meshsim(args)
    lab = Lab.attach(args.state_dir)
    if args.lab_command == "down":
        lab.down()
        return 0
    if args.lab_command == "env":
        print(lab.env(), end="")
        return 0
    # status
    states, memory = lab.status(), lab.memory()
    print(f"API server {lab.state.server}")
    for name, running in states.items():
        state = f"running, {memory.get(name, 0) / 2**20:.0f} MiB" if running else "NOT RUNNING"
        print(f"  {name:<24} {state}")
    return 0 if all(states.values()) else 1


def _run(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {}
    if args.prometheus_url:
        overrides["prometheus_url"] = args.prometheus_url
    if args.namespaces:
        overrides["namespaces"] = tuple(args.namespaces)
    if args.liveness_endpoint:
        overrides["liveness_endpoint"] = args.liveness_endpoint
    run_operator(OperatorSettings(**overrides))  # type: ignore[arg-type]
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in kubectl.COMMANDS:
        return kubectl.main(arguments, prog="canary-operator")
    args = build_parser().parse_args(arguments)
    try:
        if args.command == "lab":
            return _lab(args)
        if args.command == "crds":
            for path in write_crds(args.output_dir):
                print(path)
            return 0
        if args.command == "run":
            return _run(args)
        if args.command == "loadtester":
            return run_loadtester(args)
    except LabError as error:
        print(f"canary-operator: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
