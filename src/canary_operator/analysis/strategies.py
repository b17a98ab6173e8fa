"""Blue/green and A/B testing: a fixed number of iterations instead of weight steps
(flagger.md §2.2 step 25, `runBlueGreen` and `runAB`)."""

from __future__ import annotations

from collections.abc import Sequence

from canary_operator.analysis import events
from canary_operator.analysis.decision import Action, Decision, Event, SetWeights
from canary_operator.analysis.promotion import promotion_refused, start_promotion
from canary_operator.analysis.reasons import Reason
from canary_operator.analysis.tick import Tick
from canary_operator.api.status import CanaryStatus, Phase


def blue_green_step(tick: Tick, status: CanaryStatus, passed: str,
                    started: Sequence[Event] = ()) -> Decision:
    """Iterations with all traffic on the primary (mirrored to the canary with
    `mirror`); then, once promotion is confirmed, all traffic to the canary for one more
    checked interval; then the promotion."""
    iterations = _iterations(tick)
    done = status.iterations
    mirror = bool(tick.analysis and tick.analysis.mirror)
    if done < iterations:
        wanted = ((100, 0), mirror)
        actions = () if (tick.seen.weights, tick.seen.mirrored) == wanted else (
            SetWeights(100, 0, mirror=mirror),)
        return _iteration(tick, status, passed, started, actions)
    if done == iterations:
        gate = promotion_refused(tick, status, passed)
        if gate is not None:
            return gate
        routed = tick.enter(Phase.PROGRESSING, status.model_copy(
            update={"iterations": done + 1, "canary_weight": 100}))
        text = events.STOP_MIRRORING if mirror else events.ROUTING_ALL_TO_CANARY
        return tick.record(
            routed, f"{passed}; {iterations} iterations done: routing all traffic to "
                    f"{tick.target} for a last checked interval",
            Reason.ROUTED_TO_CANARY, actions=(SetWeights(0, 100),),
            events=(*started, events.normal(text)), step=True,
        )
    return start_promotion(tick, status, status.canary_weight, passed, confirmed=True)


def ab_testing_step(tick: Tick, status: CanaryStatus, passed: str,
                    started: Sequence[Event] = ()) -> Decision:
    """Iterations with the requests matching `analysis.match` on the canary (the router
    sends only those to it); then the promotion, once confirmed."""
    if status.iterations < _iterations(tick):
        actions = () if tick.seen.weights == (0, 100) else (SetWeights(0, 100),)
        return _iteration(tick, status, passed, started, actions)
    return start_promotion(tick, status, status.canary_weight, passed)


def _iteration(tick: Tick, status: CanaryStatus, passed: str, started: Sequence[Event],
               actions: Sequence[Action]) -> Decision:
    iteration, iterations = status.iterations + 1, _iterations(tick)
    counted = tick.enter(Phase.PROGRESSING, status.model_copy(update={"iterations": iteration}))
    return tick.record(
        counted, f"{passed}; iteration {iteration}/{iterations}",
        Reason.ANALYSIS_STARTED if started else Reason.ITERATION_ADVANCED,
        actions=actions,
        events=(*started, events.iteration_advanced(tick.canary, iteration, iterations)),
        step=True,
    )


def _iterations(tick: Tick) -> int:
    return tick.analysis.iterations or 0 if tick.analysis else 0
