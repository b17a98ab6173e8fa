"""`kubectl canary` (the `kubectl-canary` plugin; also `canary-operator get|status|...`).

Exit codes: 0 done (Succeeded, command Done, lint clean); 1 failed (rollout Failed,
command Ignored, an invalid Canary); 2 timed out; 3 the command could not run (bad usage,
no kubeconfig, Canary not found, API error); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from rich.console import Console
from rich.live import Live

from canary_operator.api.base import parse_duration
from canary_operator.api.commands import Action
from canary_operator.api.metric_template import MetricTemplate
from canary_operator.cli.canary_api import (
    CanaryNotFound,
    canary_events,
    get_canary,
    list_canaries,
    patch_annotations,
    target_revision,
    watch_canary,
)
from canary_operator.cli.canary_commands import (
    DEFAULT_WAIT_SECONDS,
    give_command,
    pause_annotations,
    resume_annotations,
)
from canary_operator.cli.canary_view import canaries_table, canary_view, render_canary
from canary_operator.cli.connection import Connection, KubeconfigError, connect, whoami
from canary_operator.cli.lint import lint_file, unresolved_reason
from canary_operator.cli.rollout_status import Observed, Verdict, follow

COMMANDS = ("get", "status", "promote", "abort", "retry", "pause", "resume", "lint")
CANNOT_RUN = 3
INTERRUPTED = 130
STATUS_POLL_SECONDS = 1.0
EVENTS_POLL_SECONDS = 2.0
PROMETHEUS_ENV = "CANARY_OPERATOR_PROMETHEUS_URL"


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 3: exit 2 means "timed out" to a CI pipeline."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(CANNOT_RUN, f"{self.prog}: error: {message}\n")


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _connection_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The kubectl options, accepted before and after the command (`-n` anywhere)."""
    default: Any = None if top else argparse.SUPPRESS
    parser.add_argument("--kubeconfig", default=default,
                        help="kubeconfig file (default $KUBECONFIG, else ~/.kube/config)")
    parser.add_argument("--context", default=default, help="kubeconfig context to use")
    parser.add_argument("-n", "--namespace", default=default,
                        help="the Canary's namespace (default: the context's, else default)")


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-wait", action="store_true",
                        help="do not wait for the operator's answer")
    parser.add_argument("--timeout", type=_duration, default=DEFAULT_WAIT_SECONDS,
                        help="how long to wait for the operator's answer (default 30s)")


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Register the plugin's commands (also used by `canary-operator`)."""
    get = commands.add_parser("get", help="a table of Canaries, or one Canary in detail")
    get.add_argument("name", nargs="?", help="the Canary; without it, a table of all")
    get.add_argument("-A", "--all-namespaces", action="store_true",
                     help="Canaries of every namespace (table only)")
    get.add_argument("-w", "--watch", action="store_true",
                     help="keep the view up to date until Ctrl-C")
    status = commands.add_parser(
        "status", help="wait for the current rollout to end: exit 0 Succeeded, 1 Failed, "
                       "2 timed out")
    status.add_argument("name")
    status.add_argument("--timeout", type=_duration, default=600.0,
                        help="how long to wait, e.g. 90s or 10m (default 10m)")
    promote = commands.add_parser(
        "promote", help="take the next step now, approving any gate (--full: promote now)")
    promote.add_argument("name")
    promote.add_argument("--full", action="store_true",
                         help="skip the remaining steps and promote")
    _wait_options(promote)
    abort = commands.add_parser("abort", help="roll back now")
    abort.add_argument("name")
    _wait_options(abort)
    retry = commands.add_parser(
        "retry", help="run the failed revision again, without touching its pod template")
    retry.add_argument("name")
    _wait_options(retry)
    for verb, text in (("pause", "hold the Canary where it is (weights, steps, checks)"),
                       ("resume", "let a paused Canary go on")):
        commands.add_parser(verb, help=text).add_argument("name")
    lint = commands.add_parser(
        "lint", help="validate Canaries offline; with Prometheus, run each metric query once")
    lint.add_argument("file", type=Path, help="a YAML file with Canaries (and "
                                              "MetricTemplates); - for stdin")
    lint.add_argument("--prometheus", default=None, metavar="URL",
                      help=f"run the queries against this Prometheus (default ${PROMETHEUS_ENV})")
    for parser in commands.choices.values():
        if parser.prog.split()[-1] in COMMANDS:
            _connection_options(parser, top=False)


def build_parser(prog: str = "kubectl canary") -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _connection_options(parser, top=True)
    add_commands(parser.add_subparsers(dest="command", required=True, parser_class=_Parser))
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "kubectl canary") -> int:
    args = build_parser(prog).parse_args(argv)
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Carry out parsed arguments; errors become a message and exit code 3."""
    try:
        if args.command == "lint":
            return _lint(args)
        connection = connect(getattr(args, "kubeconfig", None), getattr(args, "context", None))
        namespace = getattr(args, "namespace", None) or connection.namespace
        if args.command == "get":
            return _get(connection, namespace, args)
        if args.command == "status":
            return _status(connection, namespace, args.name, args.timeout)
        if args.command in ("pause", "resume"):
            return _pause(connection, namespace, args.name, resume=args.command == "resume")
        action: Action = ("promote-full" if args.command == "promote" and args.full
                          else args.command)
        answer = give_command(connection.api, namespace, args.name, action,
                              whoami(connection), wait=not args.no_wait, timeout=args.timeout)
        print(answer.text)
        return answer.exit_code
    except (KubeconfigError, CanaryNotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return CANNOT_RUN
    except ApiException as error:
        print(f"error: the API server answered {error.status} {error.reason}: "
              f"{_api_message(error)}", file=sys.stderr)
        return CANNOT_RUN
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return CANNOT_RUN
    except KeyboardInterrupt:
        return INTERRUPTED


def _api_message(error: ApiException) -> str:
    body = error.body if isinstance(error.body, str) else ""
    try:
        return str(json.loads(body).get("message") or body)
    except (ValueError, AttributeError):
        return body or "-"


# --- get ------------------------------------------------------------------------------------


def _get(connection: Connection, namespace: str, args: argparse.Namespace) -> int:
    console = Console()
    if args.name is None:
        scope = None if args.all_namespaces else namespace
        if not args.watch:
            canaries = list_canaries(connection.api, scope)
            if not canaries:
                where = "any namespace" if scope is None else f"namespace {scope}"
                print(f"No Canaries found in {where}.", file=sys.stderr)
                return 0
            console.print(canaries_table(canaries, datetime.now(UTC), scope is None))
            return 0
        return _watch_table(connection, scope, console)
    if not args.watch:
        canary = get_canary(connection.api, namespace, args.name)
        events = canary_events(connection.api, namespace, args.name)
        console.print(canary_view(canary, events, datetime.now(UTC)))
        return 0
    return _watch_canary(connection, namespace, args.name, console)


def _watch_table(connection: Connection, scope: str | None, console: Console) -> int:
    with Live(console=console, auto_refresh=False) as live:
        while True:
            canaries = list_canaries(connection.api, scope)
            live.update(canaries_table(canaries, datetime.now(UTC), scope is None),
                        refresh=True)
            time.sleep(EVENTS_POLL_SECONDS)


def _canary_updates(connection: Connection, namespace: str, name: str
                    ) -> queue.Queue[dict[str, Any] | BaseException]:
    """The Canary's versions from a watch in a background thread (errors too)."""
    updates: queue.Queue[dict[str, Any] | BaseException] = queue.Queue()

    def pump() -> None:
        try:
            while True:
                for canary in watch_canary(connection.api, namespace, name, 3600.0):
                    updates.put(canary)
        except BaseException as error:  # handed to the main thread, which raises it
            updates.put(error)

    threading.Thread(target=pump, daemon=True, name="canary-watch").start()
    return updates


def _watch_canary(connection: Connection, namespace: str, name: str, console: Console) -> int:
    """Redraw on every change of the Canary; events are polled. On a terminal the view is
    live (and the countdown ticks); in a pipe each change prints a new frame."""
    updates = _canary_updates(connection, namespace, name)
    canary = _next_update(updates, None)
    events = canary_events(connection.api, namespace, name)
    events_read = time.monotonic()
    if console.is_terminal:
        with Live(console=console, auto_refresh=False, screen=False) as live:
            while True:
                live.update(canary_view(canary, events, datetime.now(UTC)), refresh=True)
                canary = _next_update(updates, 1.0) or canary
                if time.monotonic() - events_read >= EVENTS_POLL_SECONDS:
                    events, events_read = (canary_events(connection.api, namespace, name),
                                           time.monotonic())
    shown = ""
    while True:
        changed = (canary.get("metadata", {}).get("resourceVersion"), len(events),
                   events[-1] if events else None)
        if str(changed) != shown:
            shown = str(changed)
            print(render_canary(canary, events, datetime.now(UTC), console.width), flush=True)
        canary = _next_update(updates, EVENTS_POLL_SECONDS) or canary
        events = canary_events(connection.api, namespace, name)


def _next_update(updates: queue.Queue[dict[str, Any] | BaseException],
                 timeout: float | None) -> dict[str, Any]:
    """The newest Canary waiting in the queue ({} when none came within `timeout`)."""
    newest: dict[str, Any] = {}
    try:
        item = updates.get(timeout=timeout)
        while True:
            if isinstance(item, BaseException):
                raise item
            newest = item
            item = updates.get_nowait()
    except queue.Empty:
        return newest


# --- status ---------------------------------------------------------------------------------


def observe(connection: Connection, namespace: str, name: str) -> Observed:
    canary = get_canary(connection.api, namespace, name)
    status = canary.get("status") or {}
    try:
        revision = target_revision(connection.api, canary)
    except ApiException as error:
        if error.status != 404:
            raise
        revision = None
    return Observed(phase=str(status.get("phase") or ""),
                    message=" ".join(str(status.get("message") or "").split()),
                    applied_revision=status.get("lastAppliedSpec"),
                    target_revision=revision)


def _status(connection: Connection, namespace: str, name: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout

    def observations() -> Iterator[Observed]:
        while True:
            yield observe(connection, namespace, name)
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(STATUS_POLL_SECONDS, left))

    for line in follow(observations()):
        stamp = datetime.now().strftime("%H:%M:%S")
        print(f"{stamp} {line.text}", flush=True)
        if line.verdict is not None:
            return int(line.verdict)
    return int(Verdict.TIMED_OUT)


# --- pause, resume --------------------------------------------------------------------------


def _pause(connection: Connection, namespace: str, name: str, *, resume: bool) -> int:
    user = whoami(connection)
    if resume:
        patch_annotations(connection.api, namespace, name, resume_annotations(user))
        print(f"resumed {namespace}/{name} by {user}: the analysis goes on at once")
        return 0
    patch_annotations(connection.api, namespace, name, pause_annotations(user))
    print(f"paused {namespace}/{name} by {user}: nothing moves until "
          f"`kubectl canary resume {name}`")
    return 0


# --- lint -----------------------------------------------------------------------------------


def _lint(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text()
    url = args.prometheus or os.environ.get(PROMETHEUS_ENV) or None
    cached: dict[str, Connection | str] = {}

    def lookup(namespace: str, name: str) -> MetricTemplate | str | None:
        if "connection" not in cached:
            try:
                cached["connection"] = connect(getattr(args, "kubeconfig", None),
                                               getattr(args, "context", None))
            except KubeconfigError as error:
                cached["connection"] = f"no cluster to ask ({error})"
        connection = cached["connection"]
        if isinstance(connection, str):
            return connection
        try:
            body = client.CustomObjectsApi(connection.api).get_namespaced_custom_object(
                "flagger.app", "v1beta1", namespace, "metrictemplates", name)
            return MetricTemplate.model_validate(body)
        except ApiException as error:
            return ("not in the file, nor in the cluster" if error.status == 404
                    else f"the cluster refused: {error.status} {error.reason}")
        except Exception as error:  # unreachable cluster, invalid template
            return unresolved_reason(error)

    namespace = getattr(args, "namespace", None) or "default"
    report = lint_file(text, str(args.file), namespace, url, lookup)
    for line in report.lines:
        print(line)
    if url is None and report.canaries:
        print(f"(queries not run: give --prometheus URL or set {PROMETHEUS_ENV})")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
