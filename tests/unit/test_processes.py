import socket
import sys
from pathlib import Path

import pytest

from canary_operator.lab.errors import ComponentDied, LabTimeout
from canary_operator.lab.processes import (
    ProcessRecord,
    check_alive,
    free_port,
    is_running,
    resident_bytes,
    spawn,
    stop,
    wait_for,
)

SLEEPER = (sys.executable, "-c", "import time; time.sleep(600)")


def test_stop_ends_exactly_the_recorded_process(tmp_path: Path) -> None:
    first = spawn("first", SLEEPER, tmp_path / "first.log")
    second = spawn("second", SLEEPER, tmp_path / "second.log")
    try:
        assert is_running(first) and is_running(second)
        assert resident_bytes(first.pid) > 0
        stop(first)
        assert not is_running(first)
        assert is_running(second)
    finally:
        stop(second)
    assert not is_running(second)


def test_a_recycled_pid_running_another_program_is_not_ours(tmp_path: Path) -> None:
    real = spawn("real", SLEEPER, tmp_path / "real.log")
    try:
        impostor = ProcessRecord("etcd", real.pid, ("/no/such/etcd",), tmp_path / "x.log")
        assert not is_running(impostor)
        stop(impostor)  # must not touch the process behind the recycled pid
        assert is_running(real)
    finally:
        stop(real)


def test_a_dead_component_is_named_with_its_log_tail(tmp_path: Path) -> None:
    crasher = spawn(
        "kube-apiserver",
        (sys.executable, "-c", "print('E1126 bind: address already in use'); raise SystemExit(1)"),
        tmp_path / "apiserver.log",
    )
    with pytest.raises(ComponentDied) as died:
        wait_for(lambda: False, "never", timeout=30, watch=[crasher])
    assert "kube-apiserver" in str(died.value)
    assert "address already in use" in str(died.value)


def test_check_alive_passes_while_everything_runs(tmp_path: Path) -> None:
    record = spawn("sleeper", SLEEPER, tmp_path / "s.log")
    try:
        check_alive([record])
    finally:
        stop(record)


def test_wait_for_times_out_naming_the_condition() -> None:
    with pytest.raises(LabTimeout, match="the moon to turn blue"):
        wait_for(lambda: False, "the moon to turn blue", timeout=0.3, poll=0.05)


def test_free_port_is_on_loopback_and_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
