"""The imperative shell around `analysis.decide`: observe -> decide -> act -> record.

`canary` holds the tick; `observing` builds the Observation (watch caches, the route,
tracked configs, metrics, hooks); `acting` carries out a Decision's actions;
`notifying` posts its events, event hooks and alerts.
"""

from canary_operator.controller.canary import CanaryController, TickResult
from canary_operator.controller.view import ClusterView, EventPoster, JsonDict

__all__ = ["CanaryController", "ClusterView", "EventPoster", "JsonDict", "TickResult"]
