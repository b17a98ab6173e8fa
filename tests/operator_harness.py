"""Run the real operator (`canary-operator run`) as a process against the lab."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from canary_operator.lab import Lab
from canary_operator.lab.processes import ProcessRecord, free_port, is_running, spawn, stop


@dataclass
class OperatorProcess:
    """One operator process; `restart()` kills it hard and starts a new one."""

    lab: Lab
    namespaces: Sequence[str]
    prometheus_url: str
    log_dir: Path
    min_interval_seconds: float = 1.0
    record: ProcessRecord | None = None
    starts: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    # Whose credentials the operator uses: the lab's admin unless a test gives another.
    kubeconfig: Path | None = None
    # host:port of the operator's /metrics, chosen at the first start and kept on restarts.
    metrics_address: str = ""

    def env(self) -> dict[str, str]:
        self.metrics_address = (self.extra_env.get("CANARY_OPERATOR_METRICS_ADDRESS")
                                or self.metrics_address or f"127.0.0.1:{free_port()}")
        env = dict(os.environ)
        env.update({
            "KUBECONFIG": str(self.kubeconfig or self.lab.state.kubeconfig),
            "CANARY_OPERATOR_PROMETHEUS_URL": self.prometheus_url,
            "CANARY_OPERATOR_NAMESPACES": ",".join(self.namespaces),
            "CANARY_OPERATOR_MIN_INTERVAL_SECONDS": str(self.min_interval_seconds),
            "CANARY_OPERATOR_LIVENESS_ENDPOINT": f"http://127.0.0.1:{free_port()}/healthz",
            "CANARY_OPERATOR_METRICS_ADDRESS": self.metrics_address,
            "CANARY_OPERATOR_QUERY_TIMEOUT_SECONDS": "2",
        })
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        self.starts += 1
        self.record = spawn(
            "canary-operator",
            (sys.executable, "-m", "canary_operator.cli.main", "run"),
            self.log_dir / f"operator-{self.starts}.log",
            env=self.env(),
        )

    def kill(self) -> None:
        if self.record is not None:
            stop(self.record, grace_seconds=0)  # SIGKILL after no grace: a crash, not a shutdown

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.record is not None:
            stop(self.record)

    def running(self) -> bool:
        return self.record is not None and is_running(self.record)

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.log_dir.glob("operator-*.log"))
        )
