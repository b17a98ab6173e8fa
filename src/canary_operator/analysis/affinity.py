"""Session affinity cookies (analysis.sessionAffinity): which cookie pins a user to the
canary, to the primary, and which old one to expire. Values are derived from the
revision, not drawn at random, so deciding twice gives the same cookie."""

from __future__ import annotations

import hashlib

from canary_operator.api.canary import Analysis
from canary_operator.api.status import CanaryStatus


def cookie_value(run: str, role: str) -> str:
    """Ten lowercase letters, stable for one analysis run and role."""
    digest = hashlib.sha256(f"{run}/{role}".encode()).digest()
    return "".join(chr(ord("a") + byte % 26) for byte in digest[:10])


def with_affinity(analysis: Analysis | None, status: CanaryStatus,
                  canary_weight: int) -> CanaryStatus:
    """The status' cookies once the canary takes `canary_weight` percent: a cookie while
    it takes traffic; at 0 the cookie becomes the previous one, to be expired."""
    affinity = analysis.session_affinity if analysis else None
    if affinity is None:
        return status
    update: dict[str, str | None] = {}
    # One run: the revision and when its analysis began, so analysing the same revision
    # again (a retry) gives users a new cookie rather than the failed run's.
    run = f"{status.last_applied_spec or ''}@{status.last_transition_time or ''}"
    if canary_weight > 0:
        if not status.session_affinity_cookie:
            value = cookie_value(run, "canary")
            update["session_affinity_cookie"] = f"{affinity.cookie_name}={value}"
        if affinity.primary_cookie_name and not status.primary_session_affinity_cookie:
            value = cookie_value(run, "primary")
            update["primary_session_affinity_cookie"] = (
                f"{affinity.primary_cookie_name}={value}")
    elif status.session_affinity_cookie:
        update["previous_session_affinity_cookie"] = status.session_affinity_cookie
        update["session_affinity_cookie"] = None
    return status.model_copy(update=update) if update else status
