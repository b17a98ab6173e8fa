"""Event texts, Flagger's where Flagger has one (flagger.md §4.2), so alerts, dashboards
and scripts that grep for them keep working. `<name>.<ns>` is the Canary, `<target>.<ns>`
the target Deployment."""

from __future__ import annotations

from canary_operator.analysis.checks import CheckResult, MetricKind, Outcome
from canary_operator.analysis.decision import Alert, Event
from canary_operator.analysis.formatting import one_line

SUSPENDED = "skipping canary run as object is suspended"
ROUTING_ALL_TO_PRIMARY = "Routing all traffic to primary"
ROUTING_ALL_TO_CANARY = "Routing all traffic to canary"


def normal(message: str) -> Event:
    return Event("Normal", message)


def warning(message: str) -> Event:
    return Event("Warning", message)


def initialization_done(canary: str) -> Event:
    return normal(f"Initialization done! {canary}")


def new_revision(target: str) -> Event:
    return normal(f"New revision detected! Scaling up {target}")


def analysis_restarted(target: str) -> Event:
    return normal(f"New revision detected! Restarting analysis for {target}")


def analysis_started(target: str) -> Event:
    return normal(f"Starting canary analysis for {target}")


def canary_weight_advanced(canary: str, weight: int) -> Event:
    return Event("Normal", f"Advance {canary} canary weight {weight}", step=True)


def primary_weight_advanced(canary: str, weight: int) -> Event:
    return Event("Normal", f"Advance {canary} primary weight {weight}", step=True)


def copying_template(target: str, primary: str) -> Event:
    return normal(f"Copying {target} template spec to {primary}")


def promotion_completed(target: str) -> Event:
    return normal(f"Promotion completed! Scaling down {target}")


def analysis_skipped(target: str) -> Event:
    return normal(f"Promotion completed! Canary analysis was skipped for {target}")


def threshold_reached(canary: str, failed_checks: int) -> Event:
    return warning(f"Rolling back {canary} failed checks threshold reached {failed_checks}")


def deadline_exceeded(canary: str, message: str) -> Event:
    return warning(f"Rolling back {canary} progress deadline exceeded {message}")


def canary_failed(target: str) -> Event:
    return warning(f"Canary failed! Scaling down {target}")


def promotion_failed(canary: str, message: str) -> Event:
    return warning(f"Promotion of {canary} failed, primary not ready: {message}")


def canary_not_ready_text(target: str, message: str) -> str:
    return f"canary deployment {target} not ready: {message}"


def primary_not_ready_text(primary: str, message: str) -> str:
    return f"{primary} not ready: {message}"


def iteration_advanced(canary: str, iteration: int, iterations: int) -> Event:
    return Event("Normal", f"Advance {canary} canary iteration {iteration}/{iterations}", step=True)


STOP_MIRRORING = "Stop traffic mirroring and route all traffic to canary"


def waiting_for_approval(canary: str, hook: str) -> Event:
    return warning(f"Halt {canary} advancement waiting for approval {hook}")


def waiting_for_promotion(canary: str, hook: str) -> Event:
    return warning(f"Halt {canary} advancement waiting for promotion approval {hook}")


def waiting_for_traffic_increase(canary: str, hook: str) -> Event:
    return warning(f"Halt {canary} advancement waiting for traffic increase approval {hook}")


def hook_passed(kind: str, hook: str) -> Event:
    """`Pre-rollout check X passed`, `Confirm-promotion check X passed`, ..."""
    return normal(f"{kind.capitalize()} check {hook} passed")


def pre_rollout_failed(canary: str, hook: str, message: str) -> Event:
    return warning(f"Halt {canary} advancement pre-rollout check {hook} failed {message}")


def external_check_failed(canary: str, hook: str, message: str) -> Event:
    return warning(f"Halt {canary} advancement external check {hook} failed {message}")


def manual_rollback(canary: str) -> Event:
    return warning(f"Rolling back {canary} manual webhook invoked")


def check_halted(canary: str, target: str, result: CheckResult) -> Event:
    """The Warning for a metric that did not pass; Flagger's texts for a `Fail`."""
    if result.outcome is Outcome.ERROR:
        return warning(f"Halt {canary} advancement {result.name} query failed: {result.error} "
                       "(not counted as a failed check)")
    if result.outcome is Outcome.INVALID:
        return warning(f"Halt {canary} advancement {result.name} cannot be checked: "
                       f"{result.error} (counted as a failed check)")
    if result.outcome is Outcome.NO_DATA:
        hint = ("" if result.kind is MetricKind.CUSTOM
                else f"; probably {target} is not receiving traffic")
        return warning(f"Halt {canary} advancement {result.name} NoData: no values found "
                       f"over {result.window} for query {one_line(result.query)!r}{hint}")
    labels = {MetricKind.SUCCESS_RATE: "success rate", MetricKind.DURATION: "request duration"}
    label = labels.get(result.kind, result.name)
    return warning(f"Halt {canary} advancement {label} {result.value_text} {result.comparison}")


# -- alerts: Flagger's texts (flagger.md §4.2) --------------------------------------------


def alert_initialized(kind: str) -> Alert:
    return Alert("info", f"New {kind} detected, initialization completed.")


NEW_REVISION_ALERT = Alert("info", "New revision detected, progressing canary analysis.")
# Flagger sends the waiting and the manual-rollback alerts with severity warn.
WAITING_ALERT = Alert("warn", "Canary is waiting for approval.")
WAITING_PROMOTION_ALERT = Alert("warn", "Canary promotion is waiting for approval.")
WAITING_TRAFFIC_ALERT = Alert("warn", "Canary traffic increase is waiting for approval.")
SUCCEEDED_ALERT = Alert("info", "Canary analysis completed successfully, promotion finished.")
SKIPPED_ALERT = Alert("info", "Canary analysis was skipped, promotion finished.")
MANUAL_ROLLBACK_ALERT = Alert("warn", "Rolling back manual webhook invoked")


def alert_threshold(failed_checks: int) -> Alert:
    return Alert("error", f"Failed checks threshold reached {failed_checks}")


def alert_deadline(message: str) -> Alert:
    return Alert("error", f"Progress deadline exceeded {message}")


def alert_promotion_failed(message: str) -> Alert:
    return Alert("error", f"Promotion failed, primary not ready: {message}")


def aborted_alert(who: str) -> Alert:
    return Alert("warn", f"Canary aborted by {who}, rolling back")
