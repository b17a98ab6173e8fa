from pathlib import Path

import yaml

from canary_operator.lab.prometheus import prometheus_argv, static_job, write_config


def test_config_scrapes_the_callers_jobs_every_second(tmp_path: Path) -> None:
    path = write_config(tmp_path / "p.yml", [static_job("meshsim", ["127.0.0.1:9000"])])
    config = yaml.safe_load(path.read_text())
    assert config["global"]["scrape_interval"] == "1s"
    assert config["global"]["scrape_timeout"] == "1s"
    assert config["scrape_configs"] == [{
        "job_name": "meshsim",
        "metrics_path": "/metrics",
        "static_configs": [{"targets": ["127.0.0.1:9000"]}],
    }]


def test_prometheus_listens_on_loopback_only() -> None:
    argv = prometheus_argv(Path("/usr/bin/prometheus"), Path("p.yml"), Path("data"), 19090)
    assert "--web.listen-address=127.0.0.1:19090" in argv
