"""`canary-operator lab meshsim` parses its options and finds the cluster to watch."""

from __future__ import annotations

from pathlib import Path

import pytest

from canary_operator.cli.main import build_parser
from canary_operator.lab import LabError
from canary_operator.lab.meshsim.command import default_kubeconfig


def test_parses_kubeconfig_port_rate_and_namespaces() -> None:
    args = build_parser().parse_args([
        "lab", "meshsim", "--kubeconfig", "/tmp/kc", "--port", "9100", "--rps", "50",
        "--namespace", "a", "--namespace", "b",
    ])
    assert (args.lab_command, args.kubeconfig, args.port, args.rps, args.namespaces) == (
        "meshsim", Path("/tmp/kc"), 9100, 50.0, ["a", "b"])


def test_defaults_to_20_requests_a_second_everywhere_on_a_free_port() -> None:
    args = build_parser().parse_args(["lab", "meshsim"])
    assert (args.kubeconfig, args.port, args.rps, args.namespaces) == (None, None, 20.0, None)


def test_reports_from_both_sides_unless_told_one() -> None:
    parser = build_parser()
    assert parser.parse_args(["lab", "meshsim"]).reporters == ("destination", "source")
    assert parser.parse_args(["lab", "meshsim", "--reporters", "destination"]).reporters == (
        "destination",)


def test_an_unknown_reporter_is_refused_with_the_choices(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["lab", "meshsim", "--reporters", "sidecar"])
    assert "--reporters takes destination and/or source" in capsys.readouterr().err


def test_the_kubeconfig_defaults_to_kubeconfig_env_first_file() -> None:
    assert default_kubeconfig({"KUBECONFIG": "/a/config:/b/config"}) == Path("/a/config")


def test_without_kubeconfig_env_it_uses_the_running_labs(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="no lab is running"):
        default_kubeconfig({}, state_dir=tmp_path)
