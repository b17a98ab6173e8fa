"""The plugin's command line: kubectl's options anywhere, exit 3 when it cannot run, the
same commands under `canary-operator`."""

from __future__ import annotations

from pathlib import Path

import pytest

from canary_operator.cli import kubectl
from canary_operator.cli import main as operator_cli


def test_kubectl_options_go_before_or_after_the_command() -> None:
    before = kubectl.build_parser().parse_args(["-n", "prod", "--context", "c", "get", "x"])
    after = kubectl.build_parser().parse_args(["get", "x", "-n", "prod", "--context", "c"])
    for args in (before, after):
        assert (args.namespace, args.context, args.name) == ("prod", "c", "x")


def test_durations_and_flags() -> None:
    args = kubectl.build_parser().parse_args(["status", "x", "--timeout", "90s"])
    assert args.timeout == 90
    assert kubectl.build_parser().parse_args(["status", "x"]).timeout == 600
    promote = kubectl.build_parser().parse_args(["promote", "x", "--full", "--no-wait"])
    assert promote.full and promote.no_wait and promote.timeout == 30


def test_a_usage_error_exits_3_not_2_which_means_timed_out(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        kubectl.main(["status"])
    assert exited.value.code == 3
    with pytest.raises(SystemExit) as exited:
        kubectl.main(["status", "x", "--timeout", "soon"])
    assert exited.value.code == 3
    assert "not a duration" in capsys.readouterr().err


def test_no_kubeconfig_exits_3_with_the_reason(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    assert kubectl.main(["--kubeconfig", str(missing), "get"]) == 3
    assert "cannot load the kubeconfig" in capsys.readouterr().err


def test_canary_operator_hands_the_commands_over(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert operator_cli.main(["get", "--kubeconfig", str(tmp_path / "nope")]) == 3
    assert "cannot load the kubeconfig" in capsys.readouterr().err
    help_text = operator_cli.build_parser().format_help()
    for command in kubectl.COMMANDS:
        assert command in help_text
