"""The load tester's own counters, in a registry of its own (served at `/metrics`)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import generate_latest

CONTENT_TYPE = CONTENT_TYPE_LATEST


class LoadtesterMetrics:
    """Requests per endpoint and status code; tasks per kind and outcome; running tasks."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "canary_loadtester_requests", "Requests answered, by endpoint and status code.",
            ["endpoint", "code"], registry=self.registry,
        )
        self.tasks = Counter(
            "canary_loadtester_tasks",
            "Tasks by kind (hey, shell) and outcome (succeeded, failed, skipped: the same "
            "command was still running).",
            ["kind", "outcome"], registry=self.registry,
        )
        self.running = Gauge(
            "canary_loadtester_tasks_running", "Tasks running now.", registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
