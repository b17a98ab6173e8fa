"""The codes in `status.reason`: what the last decision was, in one CamelCase word.

`status.message` holds the sentence with the numbers; the code is what code reads (the
loop polls sooner while waiting for a rollout, dashboards group by it).
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    TARGET_NOT_FOUND = "TargetNotFound"
    INITIALIZING = "Initializing"
    INITIALIZED = "Initialized"
    TARGETS_REPAIRED = "TargetsRepaired"
    ROUTES_REPAIRED = "RoutesRepaired"  # an idle Canary's weights were changed by hand
    BACK_TO_PRIMARY_SPEC = "BackToPrimarySpec"
    STRATEGY_NOT_SUPPORTED = "StrategyNotSupported"
    NEW_REVISION = "NewRevision"
    ANALYSIS_RESTARTED = "AnalysisRestarted"
    PRIMARY_NOT_READY = "PrimaryNotReady"  # retriable: waiting for the rollout
    PRIMARY_STUCK = "PrimaryStuck"  # past its deadline: holding, nothing is changed
    CANARY_NOT_READY = "CanaryNotReady"  # retriable: waiting for the rollout
    ANALYSIS_STARTED = "AnalysisStarted"
    ADVANCED = "Advanced"
    CHECKS_FAILED = "ChecksFailed"
    CHECKS_UNAVAILABLE = "ChecksUnavailable"  # the provider failed; nothing counted
    CHECKS_UNAVAILABLE_TOO_LONG = "ChecksUnavailableTooLong"  # ... past the deadline
    PROMOTING = "Promoting"
    PRIMARY_WEIGHT_ADVANCED = "PrimaryWeightAdvanced"
    FINALISING = "Finalising"
    SUCCEEDED = "Succeeded"
    ANALYSIS_SKIPPED = "AnalysisSkipped"
    FAILED_CHECKS_THRESHOLD = "FailedChecksThreshold"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    PROMOTION_FAILED = "PromotionFailed"
    WAITING_FOR_APPROVAL = "WaitingForApproval"  # confirm-rollout refused
    WAITING_FOR_TRAFFIC_INCREASE = "WaitingForTrafficIncrease"  # confirm-traffic-increase
    WAITING_FOR_PROMOTION = "WaitingForPromotion"  # confirm-promotion refused
    PRE_ROLLOUT_FAILED = "PreRolloutFailed"
    ITERATION_ADVANCED = "IterationAdvanced"  # blue/green and A/B testing
    ROUTED_TO_CANARY = "RoutedToCanary"  # blue/green: all traffic to the canary
    MANUAL_ROLLBACK = "ManualRollback"  # a rollback hook asked for it
    PAUSED = "Paused"  # kubectl canary pause
    ABORTED = "Aborted"  # kubectl canary abort
    PROMOTED_MANUALLY = "PromotedManually"  # kubectl canary promote
    RETRYING = "Retrying"  # kubectl canary retry
    COMMAND_IGNORED = "CommandIgnored"  # a command that does not apply in this phase
    # The operator could not observe or act (an API error, a missing object, a bad spec):
    # the message says what; the next tick that gets through replaces it.
    BLOCKED = "Blocked"
    UNBLOCKED = "Unblocked"


# While waiting for a Deployment's rollout the loop comes back soon, not an interval later.
POLLING_REASONS = frozenset({
    Reason.INITIALIZING, Reason.PRIMARY_NOT_READY, Reason.CANARY_NOT_READY,
})
