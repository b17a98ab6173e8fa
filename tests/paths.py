"""Where the tests find the shared data files (never copied into the repository)."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_testdata() -> Path | None:
    """`$CANARY_OPERATOR_LAB_DATA`, else `../shared/testdata` beside the checkout, else None
    (then the lab reads the same files from the pinned Go modules)."""
    explicit = os.environ.get("CANARY_OPERATOR_LAB_DATA")
    if explicit:
        return Path(explicit)
    beside = REPO.parent / "shared" / "testdata"
    return beside if beside.is_dir() else None
