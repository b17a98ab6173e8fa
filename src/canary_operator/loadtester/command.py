"""`canary-operator loadtester`: the load tester in the foreground until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re

from canary_operator.loadtester.durations import parse_duration
from canary_operator.loadtester.server import DEFAULT_TIMEOUT, Loadtester, serve

DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 8080


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the timeout must be positive")
    return seconds


def _pattern(text: str) -> re.Pattern[str] | None:
    if not text:
        return None
    try:
        return re.compile(text)
    except re.error as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a regular expression: {error}") from None


def add_loadtester_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}, for a pod; the lab and the "
             "tests use 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on (default {DEFAULT_PORT}; 0: a free port)")
    parser.add_argument(
        "--timeout", type=_duration, default=DEFAULT_TIMEOUT,
        help="how long one task may run: 90s, 30m, 1h or seconds (default 1h, Flagger's)")
    parser.add_argument(
        "--namespace-regexp", type=_pattern, default=None, dest="namespace_pattern",
        metavar="REGEXP",
        help="serve only payloads whose namespace matches this regular expression")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])


def run_loadtester(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    loadtester = Loadtester(timeout=args.timeout, namespace_pattern=args.namespace_pattern)
    asyncio.run(serve(loadtester, args.host, args.port))
    return 0
