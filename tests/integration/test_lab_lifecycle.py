"""`lab up`, `status` and `down` from the command line, on a second, separate lab."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from canary_operator.lab import Lab
from canary_operator.lab.datafiles import from_go_modules
from canary_operator.lab.errors import ComponentDied
from canary_operator.lab.processes import is_running, wait_for
from tests.paths import shared_testdata

CONTROL_PLANE = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "canary_operator.cli.main", "lab", *args],
                          capture_output=True, text=True, check=False, timeout=600)


def test_down_stops_exactly_what_up_started_and_a_dead_component_is_named(
    lab: Lab, tmp_path: Path
) -> None:
    state_dir = tmp_path / "second-lab"
    data = ["--data-dir", str(shared_testdata())] if shared_testdata() else []
    up = _cli("up", "--state-dir", str(state_dir), "--nodes", "1", *data)
    assert up.returncode == 0, up.stderr
    assert f"export KUBECONFIG={state_dir / 'admin.kubeconfig'}" in up.stdout
    second = Lab.attach(state_dir)
    assert [p.name for p in second.state.processes] == CONTROL_PLANE

    status = _cli("status", "--state-dir", str(state_dir))
    assert status.returncode == 0
    for name in CONTROL_PLANE:
        assert f"{name} " in status.stdout and "NOT RUNNING" not in status.stdout

    kwok = next(p for p in second.state.processes if p.name == "kwok")
    os.kill(kwok.pid, signal.SIGKILL)
    wait_for(lambda: not is_running(kwok), "kwok to die", timeout=10)
    status = _cli("status", "--state-dir", str(state_dir))
    assert status.returncode == 1
    assert "kwok                     NOT RUNNING" in status.stdout
    with pytest.raises(ComponentDied, match="lab component kwok exited") as died:
        second.check_alive()
    assert "kwok.log" in str(died.value)

    down = _cli("down", "--state-dir", str(state_dir))
    assert down.returncode == 0, down.stderr
    assert not any(is_running(p) for p in second.state.processes)
    assert not state_dir.exists()
    # The session's own lab was not touched.
    assert all(lab.status().values())


def test_data_files_come_from_the_pinned_go_modules_without_a_data_dir() -> None:
    files = from_go_modules()
    assert files.istio_crds.is_file()
    assert all(stage.is_file() for stage in files.kwok_stages)
    shared = shared_testdata()
    if shared is not None:  # the same pinned release as the shared copy
        shared_crds = shared / "istio" / "crds-v1.30.3.yaml"
        assert files.istio_crds.read_bytes() == shared_crds.read_bytes()

