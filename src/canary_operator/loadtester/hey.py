"""hey's command line, understood so the load tester can generate the load itself.

Flagger's load tester image ships the `hey` binary and webhooks run it, e.g.
`hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/`. Ours has no such binary: a `cmd`
whose program is `hey` is parsed here (the flags of hey 0.1.4, with Go's flag syntax:
`-z 1m`, `-z=1m`, `--z 1m`) and run by `loadgen`. What hey itself refuses is refused
here with hey's reason; a few flags that make no difference to the load are accepted and
ignored (`-cpus`, `-h2`, `-disable-compression`), and the one that changes the output
only (`-o csv`) is refused, since nobody reads the output but the log.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from canary_operator.loadtester.durations import parse_duration

DEFAULT_REQUESTS = 200
DEFAULT_WORKERS = 50
DEFAULT_TIMEOUT = 20.0
DEFAULT_CONTENT_TYPE = "text/html"
METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH")
SHELL_OPERATORS = frozenset({"|", "||", "&", "&&", ";", ">", ">>", "<", "2>", "2>&1", "|&"})

_HEADER = re.compile(r"^([\w-]+):\s*(.+)$")
_BASIC_AUTH = re.compile(r"^([^:]+):(.*)$")
# hey's flags that take a value, and the boolean ones.
_VALUE_FLAGS = frozenset({"n", "c", "q", "z", "o", "m", "H", "t", "A", "d", "D", "T", "a",
                          "x", "host", "cpus"})
_BOOL_FLAGS = frozenset({"h2", "disable-compression", "disable-keepalive",
                         "disable-redirects"})


class HeyError(ValueError):
    """A hey command line the built-in generator cannot run; the message says why."""


@dataclass(frozen=True)
class HeyOptions:
    """One hey run. `duration` wins over `requests`, as in hey."""

    url: str
    requests: int = DEFAULT_REQUESTS
    workers: int = DEFAULT_WORKERS
    rate: float = 0.0  # requests per second per worker; 0: as fast as possible
    duration: float | None = None  # seconds
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    body_file: str | None = None  # -D: read when the run starts; wins over -d, as in hey
    timeout: float = DEFAULT_TIMEOUT  # per request, seconds; 0: none
    host: str | None = None
    content_type: str = DEFAULT_CONTENT_TYPE
    accept: str | None = None
    basic_auth: tuple[str, str] | None = None
    proxy: str | None = None
    disable_keepalive: bool = False
    disable_redirects: bool = False
    ignored: tuple[str, ...] = field(default=())  # flags accepted without effect

    @property
    def requests_per_worker(self) -> int | None:
        """hey splits `-n` evenly and drops the remainder; None: bounded by duration."""
        return None if self.duration is not None else self.requests // self.workers


def program_name(command: str) -> str | None:
    """The program a command line runs (`hey` for `/usr/local/bin/hey -z 1m ...`)."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return PurePosixPath(words[0]).name if words else None


def is_hey_command(command: str) -> bool:
    return program_name(command) == "hey"


def _split_flag(word: str) -> tuple[str, str | None]:
    """`-z=1m` -> ("z", "1m"); `--z` -> ("z", None). Go accepts one dash or two."""
    name = word[2:] if word.startswith("--") else word[1:]
    if "=" in name:
        name, value = name.split("=", 1)
        return name, value
    return name, None


def _parse_bool(flag: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in {"1", "t", "true"}:
        return True
    if lowered in {"0", "f", "false"}:
        return False
    raise HeyError(f"hey: invalid boolean value {value!r} for -{flag}")


def _number(flag: str, value: str, kind: type[int] | type[float]) -> float:
    try:
        return kind(value)
    except ValueError:
        raise HeyError(f"hey: invalid value {value!r} for flag -{flag}") from None


@dataclass
class _Scan:
    """The flags of one command line, as Go's flag package reads them."""

    values: dict[str, str] = field(default_factory=dict)  # the last one wins, as in Go
    flags: set[str] = field(default_factory=set)
    headers: list[tuple[str, str]] = field(default_factory=list)
    rest: list[str] = field(default_factory=list)

    def take(self, name: str, value: str) -> None:
        if name != "H":
            self.values[name] = value
            return
        match = _HEADER.match(value)
        if not match:
            raise HeyError(f"hey: could not parse the header {value!r} (want 'Name: value')")
        self.headers.append((match[1], match[2]))


def _scan(words: list[str]) -> _Scan:
    scan = _Scan()
    position = 0
    while position < len(words):
        word = words[position]
        if word == "--":
            position += 1
            break
        if not word.startswith("-") or word == "-":
            break
        name, value = _split_flag(word)
        position += 1
        if name in _BOOL_FLAGS:
            scan.flags.discard(name)
            if value is None or _parse_bool(name, value):
                scan.flags.add(name)
            continue
        if name not in _VALUE_FLAGS:
            raise HeyError(f"hey: flag provided but not defined: -{name}")
        if value is None:
            if position >= len(words):
                raise HeyError(f"hey: flag needs an argument: -{name}")
            value = words[position]
            position += 1
        scan.take(name, value)
    scan.rest = words[position:]
    return scan


def parse_hey(command: str) -> HeyOptions:
    """The options of a `hey ...` command line; `HeyError` says what hey would say."""
    try:
        words = shlex.split(command)
    except ValueError as error:
        raise HeyError(f"cannot split the command line: {error}") from None
    if not words or PurePosixPath(words[0]).name != "hey":
        raise HeyError(f"not a hey command: {command!r}")
    scan = _scan(words[1:])
    if not scan.rest:
        raise HeyError("hey: the URL is missing (hey [flags] URL)")
    if operators := [w for w in scan.rest if w in SHELL_OPERATORS]:
        raise HeyError(
            f"the built-in hey runs one load test, not a shell pipeline ({operators[0]!r}); "
            "use `type: bash` for shell commands")
    if len(scan.rest) > 1:
        raise HeyError(f"hey takes one URL after its flags, got {scan.rest!r}")
    url = scan.rest[0]
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise HeyError(f"hey: {url!r} is not an http:// or https:// URL")
    requests, workers, rate, duration, timeout = _amounts(scan.values)
    return HeyOptions(
        url=url, requests=requests, workers=workers, rate=rate, duration=duration,
        method=_method(scan.values), headers=tuple(scan.headers),
        body=scan.values["d"].encode() if "d" in scan.values else None,
        body_file=scan.values.get("D"), timeout=timeout, host=scan.values.get("host"),
        content_type=scan.values.get("T", DEFAULT_CONTENT_TYPE), accept=scan.values.get("A"),
        basic_auth=_basic_auth(scan.values), proxy=scan.values.get("x"),
        disable_keepalive="disable-keepalive" in scan.flags,
        disable_redirects="disable-redirects" in scan.flags, ignored=_ignored(scan),
    )


def _amounts(values: dict[str, str]) -> tuple[int, int, float, float | None, float]:
    """-n, -c, -q, -z and -t, checked as hey checks them."""
    workers = int(_number("c", values.get("c", str(DEFAULT_WORKERS)), int))
    requests = int(_number("n", values.get("n", str(DEFAULT_REQUESTS)), int))
    rate = _number("q", values.get("q", "0"), float)
    timeout = _number("t", values.get("t", str(int(DEFAULT_TIMEOUT))), int)
    duration: float | None = None
    if "z" in values:
        try:
            duration = parse_duration(values["z"]) or None  # hey: -z 0 is no duration
        except ValueError as error:
            raise HeyError(f"hey: invalid value {values['z']!r} for flag -z: {error}") from None
    if duration is not None and workers <= 0:
        raise HeyError("hey: -c cannot be smaller than 1.")
    if duration is None and (requests <= 0 or workers <= 0):
        raise HeyError("hey: -n and -c cannot be smaller than 1.")
    if duration is None and requests < workers:
        raise HeyError("hey: -n cannot be less than -c.")
    if rate < 0:
        raise HeyError("hey: -q cannot be negative.")
    if timeout < 0:
        raise HeyError("hey: -t cannot be negative.")
    return requests, workers, rate, duration, float(timeout)


def _method(values: dict[str, str]) -> str:
    method = values.get("m", "GET").upper()
    if method not in METHODS:
        raise HeyError(f"hey: unsupported method {method!r} (one of {', '.join(METHODS)})")
    return method


def _basic_auth(values: dict[str, str]) -> tuple[str, str] | None:
    if "a" not in values:
        return None
    match = _BASIC_AUTH.match(values["a"])
    if not match:
        raise HeyError("hey: -a wants username:password")
    return match[1], match[2]


def _ignored(scan: _Scan) -> tuple[str, ...]:
    """Flags accepted without effect; refuses the ones whose effect cannot be had."""
    if scan.values.get("o"):
        raise HeyError(f"hey: -o {scan.values['o']} is not supported by the built-in hey "
                       "(its summary goes to the load tester's log)")
    ignored = [f"-{flag}" for flag in sorted(scan.flags & {"h2", "disable-compression"})]
    if "cpus" in scan.values:
        ignored.append("-cpus")
    return tuple(ignored)
