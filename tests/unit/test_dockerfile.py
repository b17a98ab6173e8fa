"""The Dockerfile builds what the chart runs: `canary-operator run`, non-root, from a slim base.

There is no container engine here, so the file is checked as data (parsed by Docker's own
parser, through the `dockerfile` package) against the package it packs; hadolint lints it in
`make lint`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import dockerfile
import pytest

from canary_operator.cli import main as cli_main
from canary_operator.settings import OperatorSettings
from tests.paths import REPO

SLIM_PYTHON = re.compile(r"^python:3\.\d+-slim$")
# What a final image must not contain: package managers installing, compilers.
BUILD_TOOLING = re.compile(r"\b(apt-get|apt|apk|pip|gcc|make|build-essential)\b")


def _stages() -> list[list[dockerfile.Command]]:
    """The Dockerfile's instructions, one list per stage (each starting with its FROM)."""
    stages: list[list[dockerfile.Command]] = []
    for command in dockerfile.parse_file(str(REPO / "Dockerfile")):
        if command.cmd == "FROM":
            stages.append([])
        elif not stages:
            assert command.cmd == "ARG", f"only ARG may precede the first FROM: {command}"
            continue
        stages[-1].append(command)
    return stages


def _one(stage: list[dockerfile.Command], instruction: str) -> dockerfile.Command:
    found = [c for c in stage if c.cmd == instruction]
    assert found, f"the final stage has no {instruction}"
    return found[-1]  # the last one is the one in force


def _pyproject() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_the_image_is_built_in_stages_on_slim_python() -> None:
    stages = _stages()
    assert len(stages) >= 2, "build the wheel in one stage, ship only the venv from another"
    images = [stage[0].value[0] for stage in stages]
    assert all(SLIM_PYTHON.match(image) for image in images), images
    # The virtualenv links to the interpreter of the stage that made it.
    assert len(set(images)) == 1, f"build and final stages must share one base: {images}"


def test_the_final_stage_receives_only_the_virtualenv_and_installs_nothing() -> None:
    final = _stages()[-1]
    copies = [c for c in final if c.cmd == "COPY"]
    assert copies, "the final stage copies the virtualenv from the build stage"
    for copy in copies:
        assert any(flag.startswith("--from=") for flag in copy.flags), copy.original
    for run in (c for c in final if c.cmd == "RUN"):
        assert not BUILD_TOOLING.search(" ".join(run.value)), run.original


def test_the_operator_runs_as_a_numeric_non_root_user() -> None:
    user = _one(_stages()[-1], "USER").value[0]
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), f"USER {user}: numeric, so runAsNonRoot can verify it"
    assert int(uid) != 0
    assert not gid or (gid.isdigit() and int(gid) != 0)


def test_the_entrypoint_is_canary_operator_run() -> None:
    entrypoint = _one(_stages()[-1], "ENTRYPOINT")
    assert entrypoint.json, "exec form, so signals reach the operator"
    assert list(entrypoint.value) == ["canary-operator", "run"]


def test_the_entrypoint_and_its_run_command_exist_in_the_package() -> None:
    scripts = _pyproject()["project"]["scripts"]  # type: ignore[index]
    assert scripts["canary-operator"] == "canary_operator.cli.main:main"
    assert callable(cli_main.main)
    args = cli_main.build_parser().parse_args(["run"])
    assert args.command == "run"


def test_the_exposed_port_is_the_liveness_endpoint() -> None:
    exposed = _one(_stages()[-1], "EXPOSE").value
    liveness = urlsplit(OperatorSettings().liveness_endpoint)
    assert str(liveness.port) in exposed


def test_the_virtualenv_is_on_path() -> None:
    final = _stages()[-1]
    (copy,) = (c for c in final if c.cmd == "COPY")
    venv = copy.value[-1]
    env = " ".join(" ".join(c.value) for c in final if c.cmd == "ENV")
    assert f"PATH {venv}/bin:" in env or f"PATH={venv}/bin:" in env, env


# --- the build context ------------------------------------------------------------------

def _pattern(glob: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex (`**` any depth, `*` and `?` within a segment)."""
    parts = []
    for token in re.split(r"(\*\*/?|\*|\?)", glob.strip("/")):
        if token.startswith("**"):
            parts.append("(?:.*/)?" if token.endswith("/") else ".*")
        elif token == "*":
            parts.append("[^/]*")
        elif token == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts) + "$")


def _ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, _pattern(line.lstrip("!"))))
    return rules


def _in_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path, or one of its parents, decides."""
    segments = path.split("/")
    prefixes = ["/".join(segments[: i + 1]) for i in range(len(segments))]
    included = True
    for negated, pattern in rules:
        if any(pattern.match(prefix) for prefix in prefixes):
            included = negated
    return included


def _files(directory: Path) -> Iterator[str]:
    for path in directory.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            yield path.relative_to(REPO).as_posix()


def test_everything_the_build_stage_copies_is_in_the_build_context() -> None:
    rules = _ignore_rules()
    build = _stages()[0]
    sources = [s for c in build if c.cmd == "COPY" for s in c.value[:-1]]
    assert sources
    for source in sources:
        path = REPO / source
        assert path.exists(), f"COPY {source}: no such file in the repository"
        files = list(_files(path)) if path.is_dir() else [source]
        excluded = [f for f in files if not _in_context(f, rules)]
        assert not excluded, f".dockerignore drops files the build copies: {excluded[:5]}"


def test_the_wheel_s_extra_files_are_copied_into_the_build_stage() -> None:
    wheel = _pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]  # type: ignore[index]
    copied = {s.rstrip("/") for c in _stages()[0] if c.cmd == "COPY" for s in c.value[:-1]}
    for source in wheel.get("force-include", {}):
        assert source in copied, f"the wheel needs {source}; COPY it in the build stage"


@pytest.mark.parametrize("path", [".venv/bin/python", "tests/conftest.py", "crds/canaries.yaml",
                                  "deploy/helm/canary-operator/Chart.yaml",
                                  "src/canary_operator/__pycache__/x.pyc"])
def test_the_build_context_leaves_out_what_the_image_does_not_need(path: str) -> None:
    assert not _in_context(path, _ignore_rules())
