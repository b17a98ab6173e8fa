"""Read a py-spy `--format raw` profile (collapsed stacks: `f1;f2;...;fn count`) and list
where the operator spends its CPU: functions by own time and by inclusive time."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def load(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def _function(frame: str) -> str:
    """`name (file.py:line)` without the line, so one function's lines add up."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def top(stacks: Counter[tuple[str, ...]], limit: int = 15,
        prefix: str = "") -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(own, inclusive) shares of the samples per function, largest first; inclusive only
    for functions whose file starts with `prefix` (e.g. "canary_operator/")."""
    total = sum(stacks.values()) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, count in stacks.items():
        own[_function(stack[-1])] += count
        for function in {_function(f) for f in stack}:
            if f"({prefix}" in function:
                inclusive[function] += count
    return ([(f, c / total) for f, c in own.most_common(limit)],
            [(f, c / total) for f, c in inclusive.most_common(limit)])


def markdown(path: Path, limit: int = 15) -> str:
    stacks = load(path)
    own, inclusive = top(stacks, limit, "canary_operator/")
    lines = [f"Profile {path.name}: {sum(stacks.values())} samples of the busy threads.", "",
             "| own time | function |", "|---|---|"]
    lines += [f"| {share:.1%} | `{function}` |" for function, share in own]
    lines += ["", "| inclusive | canary_operator function |", "|---|---|"]
    lines += [f"| {share:.1%} | `{function}` |" for function, share in inclusive]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(Path(sys.argv[1])))
