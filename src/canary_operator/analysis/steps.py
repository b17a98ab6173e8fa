"""The weight schedule: how far the canary's share moves per step (flagger.md §2.2
step 25, `nextStepWeight`), and how it moves back to the primary when promoting."""

from __future__ import annotations

from enum import StrEnum

from canary_operator.api.canary import Analysis


class Strategy(StrEnum):
    """Flagger's deployment strategies, named as its metrics label them."""

    CANARY = "canary"
    BLUE_GREEN = "blue-green"
    AB_TESTING = "ab-testing"


def strategy_of(analysis: Analysis | None) -> Strategy:
    """Flagger's dispatch: iterations with a match is A/B testing, iterations alone is
    blue/green (even beside a stepWeight), anything else is a canary."""
    if analysis is not None and analysis.iterations:
        return Strategy.AB_TESTING if analysis.match else Strategy.BLUE_GREEN
    return Strategy.CANARY


def max_weight(analysis: Analysis | None) -> int:
    """The highest canary weight of the analysis. Flagger reads maxWeight 0 as unset."""
    if analysis is None:
        return 100
    return analysis.effective_max_weight or 100


def has_schedule(analysis: Analysis | None) -> bool:
    """Whether the strategy can run: iterations to count, or weights to step through."""
    return analysis is not None and bool(
        analysis.iterations or analysis.step_weight or analysis.step_weights)


def next_canary_weight(analysis: Analysis, weight: int) -> int:
    """The canary weight one step after `weight`, never above maxWeight.

    `stepWeight` wins over `stepWeights` (as in Flagger). With `stepWeights` the next
    weight is the first step above the current one, which is Flagger's rule for weights
    on a step and also lands a weight between steps (a changed spec) on the next step.
    """
    ceiling = max_weight(analysis)
    if analysis.step_weight:
        proposed = weight + analysis.step_weight
    else:
        proposed = next((step for step in analysis.step_weights or [] if step > weight), ceiling)
    return max(0, min(proposed, ceiling, 100))


def next_promotion_weight(analysis: Analysis | None, weight: int) -> int:
    """The canary weight one promotion step after `weight`: 0 at once unless
    stepWeightPromotion moves traffic back to the primary in steps."""
    step = analysis.step_weight_promotion if analysis is not None else None
    if not step:
        return 0
    return max(0, weight - step)
