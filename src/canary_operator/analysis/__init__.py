"""The pure decision core: phases and transitions, the step schedule, threshold checks.

Imports only `canary_operator.api` and the standard library: no clients, no clock, no
I/O. The controller observes, calls `decide`, and carries out the Decision.
"""

from canary_operator.analysis.checks import CheckResult, Outcome, classify
from canary_operator.analysis.core import decide, needs_metrics
from canary_operator.analysis.decision import (
    Action,
    Decision,
    Event,
    InitializeTargets,
    PromoteTemplate,
    ScaleTargetToZero,
    ScaleTargetUp,
    SetWeights,
)
from canary_operator.analysis.deletion import RevertStep, plan_revert
from canary_operator.analysis.observation import MetricObservation, Observation, Readiness
from canary_operator.analysis.readiness import deployment_readiness
from canary_operator.analysis.reasons import Reason
from canary_operator.analysis.schedule import seconds_until_next_tick

__all__ = [
    "Action",
    "CheckResult",
    "Decision",
    "Event",
    "InitializeTargets",
    "MetricObservation",
    "Observation",
    "Outcome",
    "PromoteTemplate",
    "Readiness",
    "Reason",
    "RevertStep",
    "ScaleTargetToZero",
    "ScaleTargetUp",
    "SetWeights",
    "classify",
    "decide",
    "deployment_readiness",
    "needs_metrics",
    "plan_revert",
    "seconds_until_next_tick",
]
