"""The README's first command works: the demo promotes a good release, rolls back a bad
one, says why, and leaves nothing running."""

from __future__ import annotations

from pathlib import Path

from canary_operator.lab import Lab
from canary_operator.lab.demo import run_demo
from tests.paths import shared_testdata


def test_the_demo_promotes_then_rolls_back_and_cleans_up(lab: Lab, tmp_path: Path) -> None:
    said: list[str] = []
    state_dir = tmp_path / "demo-lab"
    releases = run_demo(state_dir, shared_testdata(), keep=False, say=said.append, live=False)

    assert [(r.phase, r.image.rsplit(":", 1)[1]) for r in releases] == [
        ("Succeeded", "6.9.1"), ("Failed", "6.9.2")]
    for release in releases:
        assert release.seconds >= release.minimum_seconds * 0.8, release
    assert "success rate" in releases[1].why or "request-success-rate" in releases[1].why
    progress = [line for line in said if "weight" in line and "failed checks" in line]
    assert any("Progressing" in line and " 30%" in line for line in progress), said
    assert any(line.startswith("ghcr.io/stefanprodan/podinfo:6.9.2: Failed after") for line in said)
    assert said[-1] == "lab stopped"
    assert not state_dir.exists()
    assert all(lab.status().values())  # the session's own lab was not touched
