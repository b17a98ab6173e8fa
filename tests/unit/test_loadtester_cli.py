"""`canary-operator loadtester`'s flags, and the lab state that records its URL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from canary_operator.cli.main import build_parser
from canary_operator.lab.cluster import LabState


def test_defaults_are_a_pod_s_and_flagger_s() -> None:
    args = build_parser().parse_args(["loadtester"])
    assert (args.host, args.port, args.timeout) == ("0.0.0.0", 8080, 3600.0)
    assert args.namespace_pattern is None


def test_flags() -> None:
    args = build_parser().parse_args([
        "loadtester", "--host", "127.0.0.1", "--port", "0", "--timeout", "1m30s",
        "--namespace-regexp", "^team-", "--log-level", "debug"])
    assert (args.host, args.port, args.timeout, args.log_level) == ("127.0.0.1", 0, 90, "debug")
    assert args.namespace_pattern == re.compile("^team-")


@pytest.mark.parametrize("flags", [
    ["--timeout", "soon"], ["--timeout", "0s"], ["--namespace-regexp", "(unclosed"],
    ["--port", "eighty"],
])
def test_bad_flags_are_refused(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["loadtester", *flags])
    assert "error:" in capsys.readouterr().err


def test_the_lab_state_keeps_the_load_tester_s_url(tmp_path: Path) -> None:
    state = LabState(tmp_path, "https://127.0.0.1:1", tmp_path / "k", tmp_path / "b", {},
                     loadtester_url="http://127.0.0.1:3")
    state.save()
    assert LabState.load(tmp_path).loadtester_url == "http://127.0.0.1:3"
    LabState(tmp_path, "https://127.0.0.1:1", tmp_path / "k", tmp_path / "b", {}).save()
    assert LabState.load(tmp_path).loadtester_url is None
