"""The pure decision core: phases and transitions, the step schedule, threshold checks.

Imports only `canary_operator.api` and the standard library: no clients, no clock, no
I/O. The controller observes, calls `decide`, and carries out the Decision.
"""

from canary_operator.analysis.checks import CheckResult, Outcome, classify
from canary_operator.analysis.core import blocked, decide, needs_metrics, pending_hooks
from canary_operator.analysis.decision import (
    Action,
    Alert,
    Decision,
    Event,
    InitializeTargets,
    PromoteTemplate,
    RunHooks,
    ScaleTargetToZero,
    ScaleTargetUp,
    SetWeights,
)
from canary_operator.analysis.deletion import RevertStep, plan_revert
from canary_operator.analysis.gates import HookCall
from canary_operator.analysis.observation import (
    HookResult,
    MetricObservation,
    Observation,
    Readiness,
)
from canary_operator.analysis.readiness import deployment_readiness
from canary_operator.analysis.reasons import Reason
from canary_operator.analysis.schedule import (
    awaits_rollout,
    problem_backoff,
    seconds_until_next_tick,
)
from canary_operator.analysis.steps import Strategy, strategy_of

__all__ = [
    "Action",
    "Alert",
    "CheckResult",
    "Decision",
    "Event",
    "HookCall",
    "HookResult",
    "InitializeTargets",
    "MetricObservation",
    "Observation",
    "Outcome",
    "PromoteTemplate",
    "Readiness",
    "Reason",
    "RevertStep",
    "RunHooks",
    "ScaleTargetToZero",
    "ScaleTargetUp",
    "SetWeights",
    "Strategy",
    "awaits_rollout",
    "blocked",
    "classify",
    "decide",
    "deployment_readiness",
    "needs_metrics",
    "pending_hooks",
    "plan_revert",
    "problem_backoff",
    "seconds_until_next_tick",
    "strategy_of",
]
