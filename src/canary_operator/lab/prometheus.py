"""Run Prometheus (Debian's package, or any on PATH) for the lab, scraping every second."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from canary_operator.lab.errors import PrerequisiteMissing

SCRAPE_INTERVAL = "1s"


def find_prometheus() -> Path:
    found = shutil.which("prometheus")
    if found:
        return Path(found)
    debian = Path("/usr/bin/prometheus")
    if debian.is_file():
        return debian
    raise PrerequisiteMissing(
        "prometheus is not installed: `apt-get install --no-install-recommends prometheus` "
        "(Debian) or put a prometheus binary on PATH"
    )


def prometheus_config(scrape_configs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A configuration scraping the caller's jobs every second (timeout must not exceed it)."""
    return {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "scrape_configs": [dict(job) for job in scrape_configs],
    }


def static_job(name: str, targets: Sequence[str], path: str = "/metrics") -> dict[str, Any]:
    """A scrape job for fixed host:port targets."""
    return {"job_name": name, "metrics_path": path, "static_configs": [{"targets": list(targets)}]}


def write_config(path: Path, scrape_configs: Sequence[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump(prometheus_config(scrape_configs), sort_keys=False))
    return path


def prometheus_argv(binary: Path, config: Path, data_dir: Path, port: int) -> tuple[str, ...]:
    return (
        str(binary),
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        "--storage.tsdb.retention.time=2h",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        "--log.level=warn",
    )
