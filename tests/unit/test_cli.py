from pathlib import Path

import pytest

from canary_operator.cli.main import main
from canary_operator.lab.cluster import LabState


def test_env_prints_the_kubeconfig_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    LabState(tmp_path, "https://127.0.0.1:6443", tmp_path / "admin.kubeconfig",
             tmp_path / "bin", {"kubernetes": "1.36.3"}).save()
    assert main(["lab", "env", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"export KUBECONFIG={tmp_path / 'admin.kubeconfig'}\n" in out
    assert f"export PATH={tmp_path / 'bin'}:$PATH\n" in out


def test_commands_on_a_lab_that_is_not_up_say_how_to_start_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lab", "status", "--state-dir", str(tmp_path)]) == 1
    assert "canary-operator lab up" in capsys.readouterr().err


def test_state_survives_a_round_trip(tmp_path: Path) -> None:
    state = LabState(tmp_path, "https://127.0.0.1:1", tmp_path / "k", tmp_path / "b", {"a": "1"},
                     prometheus_url="http://127.0.0.1:2")
    state.save()
    assert LabState.load(tmp_path) == state
