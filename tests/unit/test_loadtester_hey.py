"""hey's command line as the built-in generator reads it, and Go-style durations."""

from __future__ import annotations

import pytest

from canary_operator.loadtester.durations import parse_duration
from canary_operator.loadtester.hey import (
    DEFAULT_CONTENT_TYPE,
    HeyError,
    is_hey_command,
    parse_hey,
)

URL = "http://podinfo-canary.test:9898/"


def test_flagger_s_documented_load_test() -> None:
    options = parse_hey(f"hey -z 1m -q 10 -c 2 {URL}")
    assert (options.url, options.duration, options.rate, options.workers) == (URL, 60, 10, 2)
    assert options.method == "GET" and options.body is None
    assert options.requests_per_worker is None  # the duration bounds the run


def test_flagger_s_post_example_keeps_the_quoted_body() -> None:
    options = parse_hey(
        f"hey -z 1m -q 10 -c 2 -m POST -d '{{test: 2}}' {URL}echo")
    assert options.method == "POST"
    assert options.body == b"{test: 2}"
    assert options.url == f"{URL}echo"


def test_every_supported_flag() -> None:
    options = parse_hey(
        "/usr/local/bin/hey -n 30 -c 3 -q 1.5 -m put -H 'X-A: 1' -H 'X-B:two words' "
        "-t 7 -host app.example.com -T application/json -A text/plain -a user:secret "
        "-x proxy:3128 -disable-keepalive -disable-redirects=true -h2 -cpus 2 "
        f"-D /tmp/body.json {URL}")
    assert (options.requests, options.workers, options.rate) == (30, 3, 1.5)
    assert options.requests_per_worker == 10
    assert options.method == "PUT"
    assert options.headers == (("X-A", "1"), ("X-B", "two words"))
    assert (options.timeout, options.host) == (7.0, "app.example.com")
    assert (options.content_type, options.accept) == ("application/json", "text/plain")
    assert options.basic_auth == ("user", "secret")
    assert options.proxy == "proxy:3128"
    assert options.disable_keepalive and options.disable_redirects
    assert options.body_file == "/tmp/body.json"
    assert options.ignored == ("-h2", "-cpus")


def test_go_flag_syntax_variants() -> None:
    options = parse_hey(f"hey --z=30s -c=4 --q 2 -- {URL}")
    assert (options.duration, options.workers, options.rate) == (30, 4, 2)


def test_hey_s_defaults() -> None:
    options = parse_hey(f"hey {URL}")
    assert (options.requests, options.workers, options.rate) == (200, 50, 0)
    assert options.requests_per_worker == 4
    assert (options.timeout, options.content_type) == (20.0, DEFAULT_CONTENT_TYPE)
    assert options.duration is None


def test_the_last_value_of_a_flag_wins_and_z_zero_means_no_duration() -> None:
    options = parse_hey(f"hey -c 1 -c 5 -n 10 -z 0 {URL}")
    assert (options.workers, options.duration, options.requests_per_worker) == (5, None, 2)


@pytest.mark.parametrize(("command", "message"), [
    ("hey -z 1m", "URL is missing"),
    (f"hey -y 3 {URL}", "flag provided but not defined: -y"),
    (f"hey -n 5 -c 10 {URL}", "-n cannot be less than -c"),
    (f"hey -n 0 {URL}", "-n and -c cannot be smaller than 1"),
    (f"hey -z 10s -c 0 {URL}", "-c cannot be smaller than 1"),
    (f"hey -z soon {URL}", "invalid value 'soon' for flag -z"),
    (f"hey -c two {URL}", "invalid value 'two' for flag -c"),
    (f"hey -q -1 {URL}", "-q cannot be negative"),
    (f"hey -m FETCH {URL}", "unsupported method"),
    (f"hey -H nocolon {URL}", "could not parse the header"),
    (f"hey -a nopassword {URL}", "-a wants username:password"),
    (f"hey -o csv {URL}", "-o csv is not supported"),
    (f"hey -h2=maybe {URL}", "invalid boolean value"),
    ("hey -c", "flag needs an argument: -c"),
    ("hey podinfo:9898", "not an http:// or https:// URL"),
    (f"hey -z 1m {URL} | tee /tmp/out", "not a shell pipeline"),
    (f"hey {URL} {URL}", "one URL"),
    (f"hey -d 'open {URL}", "cannot split"),
    (f"curl {URL}", "not a hey command"),
])
def test_what_hey_refuses_is_refused_with_the_reason(command: str, message: str) -> None:
    with pytest.raises(HeyError, match=message.replace("|", r"\|")):
        parse_hey(command)


@pytest.mark.parametrize(("command", "expected"), [
    (f"hey -z 1m {URL}", True), (f"/usr/bin/hey {URL}", True), (f"  hey {URL}", True),
    (f"heyy {URL}", False), (f"curl -s {URL}", False), ("", False),
    ("ghz --insecure podinfo.test:9898", False),
])
def test_which_commands_are_hey(command: str, expected: bool) -> None:
    assert is_hey_command(command) is expected


@pytest.mark.parametrize(("text", "seconds"), [
    ("1m", 60), ("90s", 90), ("1h30m", 5400), ("250ms", 0.25), ("1.5h", 5400),
    ("0", 0), ("45", 45), ("2.5", 2.5), ("1m0.5s", 60.5), ("+3s", 3), ("100us", 1e-4),
])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "m", "1x", "1 m", "-1s", "-5", "1m-2s", "s1"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
