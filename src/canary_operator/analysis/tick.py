"""One tick's context: the spec, the status it starts from, what was seen, and the two
ways a tick ends: `hold` (nothing changes) or `record` (a new status, actions, events)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from canary_operator.analysis.decision import Action, Alert, Decision, Event, RunHooks
from canary_operator.analysis.gates import hook_results, hooks_of
from canary_operator.analysis.observation import HookResult, Observation
from canary_operator.analysis.phases import enter_phase
from canary_operator.analysis.reasons import Reason
from canary_operator.analysis.schedule import step_time
from canary_operator.analysis.steps import max_weight
from canary_operator.api.canary import Analysis, CanarySpec, WebhookType
from canary_operator.api.status import CanaryStatus, Phase


@dataclass(frozen=True)
class Approval:
    """A `kubectl canary promote` the analysis is carrying out: the next step now, without
    waiting for the interval or running the checks (`full`: the promotion now). It never
    stands in for the readiness of the workloads nor for the failure threshold."""

    by: str
    full: bool = False


@dataclass(frozen=True)
class Tick:
    spec: CanarySpec
    status: CanaryStatus
    seen: Observation
    approval: Approval | None = None

    # -- names as events print them ---------------------------------------------------

    @property
    def canary(self) -> str:
        return f"{self.seen.name}.{self.seen.namespace}"

    @property
    def target(self) -> str:
        return f"{self.spec.target_ref.name}.{self.seen.namespace}"

    @property
    def primary(self) -> str:
        return f"{self.spec.target_ref.name}-primary.{self.seen.namespace}"

    @property
    def kind(self) -> str:
        return self.spec.target_ref.kind

    # -- the analysis settings ----------------------------------------------------------

    @property
    def analysis(self) -> Analysis | None:
        return self.spec.analysis

    @property
    def skipped(self) -> bool:
        return self.spec.analysis_skipped

    @property
    def threshold(self) -> int:
        return self.analysis.effective_threshold if self.analysis else 1

    @property
    def max_weight(self) -> int:
        return max_weight(self.analysis)

    # -- webhooks and revisions -----------------------------------------------------------

    def hooks(self, kind: WebhookType, phase: Phase | None = None) -> tuple[HookResult, ...]:
        """The answers of this Canary's hooks of `kind` (raises HooksNeeded until the
        shell has called them); the payload carries `phase`, by default the current one."""
        return hook_results(self.spec, self.seen, kind,
                            self.status.phase if phase is None else phase)

    def post_rollout(self, phase: Phase) -> tuple[Action, ...]:
        if not hooks_of(self.spec, WebhookType.POST_ROLLOUT):
            return ()
        return (RunHooks(WebhookType.POST_ROLLOUT, phase),)

    def revision(self) -> dict[str, Any]:
        """The status fields that name the revision seen: its hash and its configs."""
        configs = self.seen.tracked_configs
        return {"last_applied_spec": self.seen.target_hash,
                "tracked_configs": dict(configs) if configs is not None else None}

    # -- endings ------------------------------------------------------------------------

    def hold(self, reason: str, events: Iterable[Event] = (),
             actions: Iterable[Action] = ()) -> Decision:
        """The status stays as it is (nothing to write)."""
        return Decision(self.status, tuple(actions), tuple(events), reason)

    def record(self, status: CanaryStatus, reason: str, code: Reason, *,
               actions: Iterable[Action] = (), events: Iterable[Event] = (),
               step: bool = False, alerts: Iterable[Alert] = ()) -> Decision:
        """A new status carrying the reason; `step=True` starts the next interval (from
        the step's slot in the cadence: see `step_time`)."""
        update: dict[str, Any] = {"reason": code.value, "message": reason}
        if step:
            update["last_step_time"] = step_time(self.spec, self.status, self.seen.now)
        if status.phase != self.status.phase:
            update["last_transition_reason"] = code.value
            update["last_transition_message"] = reason
        return Decision(status.model_copy(update=update), tuple(actions), tuple(events), reason,
                        tuple(alerts))

    def enter(self, phase: Phase, status: CanaryStatus | None = None) -> CanaryStatus:
        return enter_phase(self.status if status is None else status, phase,
                           now=self.seen.now, kind=self.kind)

    def with_fields(self, **fields: Any) -> CanaryStatus:
        return self.status.model_copy(update=fields)
