"""What the controller reads and posts through: the watch caches and the event poster."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from canary_operator.analysis.decision import Event

JsonDict = Mapping[str, Any]


class ClusterView(Protocol):
    """Read access to the watch caches: never an API call."""

    def deployment(self, namespace: str, name: str) -> JsonDict | None: ...

    def metric_template(self, namespace: str, name: str) -> JsonDict | None: ...

    def autoscaler(self, namespace: str, name: str) -> JsonDict | None: ...

    def alert_provider(self, namespace: str, name: str) -> JsonDict | None: ...

    def virtual_service(self, namespace: str, name: str) -> JsonDict | None: ...


EventPoster = Callable[[JsonDict, Event], None]
