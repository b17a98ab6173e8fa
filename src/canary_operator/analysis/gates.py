"""Webhook gates (flagger.md §1.3 and §2.2 steps 15, 19, 23, 25).

The core asks for a hook type's answers with `hook_results`; when the Observation does
not hold them yet it raises `HooksNeeded`, the shell calls those hooks and decides again.
So deciding stays pure, and a hook is called only on a tick whose path reaches it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from canary_operator.analysis.observation import HookResult, Observation
from canary_operator.api.canary import CanarySpec, CanaryWebhook, WebhookType
from canary_operator.api.status import Phase


@dataclass(frozen=True)
class HookCall:
    """Call every hook of `type`, with `phase` in the payload."""

    type: WebhookType
    phase: Phase


class HooksNeeded(Exception):
    def __init__(self, call: HookCall) -> None:
        super().__init__(f"{call.type.value} hooks needed")
        self.call = call


def hooks_of(spec: CanarySpec, kind: WebhookType) -> list[CanaryWebhook]:
    return spec.analysis.webhooks_of(kind) if spec.analysis else []


def hook_results(spec: CanarySpec, seen: Observation, kind: WebhookType,
                 phase: Phase) -> tuple[HookResult, ...]:
    """The answers of the hooks of `kind`: empty when the Canary has none (nothing to
    call, nothing gates)."""
    if not hooks_of(spec, kind):
        return ()
    found = seen.hooks.get(kind)
    if found is None:
        raise HooksNeeded(HookCall(kind, phase))
    return found


def refused(results: Sequence[HookResult]) -> list[HookResult]:
    return [result for result in results if not result.ok]


def muted(spec: CanarySpec, kind: WebhookType, results: Sequence[HookResult]) -> bool:
    """Whether every refusing hook asks for no alert (`muteAlert`)."""
    by_name = {hook.name: hook for hook in hooks_of(spec, kind)}
    return all(by_name[result.name].mute_alert for result in results
               if result.name in by_name)
