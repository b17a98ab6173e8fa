"""Errors the lab raises, each naming what failed and where to look.

    LabError
    ├── BuildError          a `go` step failed; carries the build log's tail
    ├── ComponentDied       a started process exited; names it, shows its log's tail
    ├── LabTimeout          a condition was not met before its deadline
    ├── DataFilesMissing    CRDs or kwok stages not found in the data directory
    └── PrerequisiteMissing a program the lab needs (go, prometheus) is not installed
"""

from __future__ import annotations

from pathlib import Path


class LabError(RuntimeError):
    """Base of every lab failure."""


def log_tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log file, or a note that it is empty or missing."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"(empty log at {path})"


class BuildError(LabError):
    def __init__(self, component: str, version: str, step: str, log: Path) -> None:
        super().__init__(
            f"building {component} {version} failed at: {step}\n"
            f"--- last lines of {log} ---\n{log_tail(log)}"
        )
        self.component = component
        self.version = version


class ComponentDied(LabError):
    def __init__(self, name: str, returncode: int | None, log: Path) -> None:
        code = "unknown exit status" if returncode is None else f"exit status {returncode}"
        super().__init__(
            f"lab component {name} exited ({code})\n--- last lines of {log} ---\n{log_tail(log)}"
        )
        self.name = name


class LabTimeout(LabError):
    pass


class DataFilesMissing(LabError):
    pass


class PrerequisiteMissing(LabError):
    pass
