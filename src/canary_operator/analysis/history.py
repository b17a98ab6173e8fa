"""The decision history: the last metric checks, bounded, newest last."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from canary_operator.analysis.checks import CheckResult
from canary_operator.api.status import CanaryStatus, CheckRecord


def with_history(status: CanaryStatus, results: Sequence[CheckResult], now: datetime,
                 limit: int) -> CanaryStatus:
    if not results or limit <= 0:
        return status
    checked = [result.to_status() for result in results]
    records = [CheckRecord(time=now, name=check.name, outcome=check.outcome, value=check.value,
                           threshold=check.threshold, window=check.window)
               for check in checked]
    kept = [*(status.history or []), *records][-limit:]
    return status.model_copy(update={"history": kept})
