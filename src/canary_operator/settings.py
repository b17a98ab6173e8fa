"""The operator's configuration: one settings object, from `CANARY_OPERATOR_*` variables."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """Read once at startup. Lists are comma-separated: `CANARY_OPERATOR_NAMESPACES=a,b`."""

    model_config = SettingsConfigDict(env_prefix="CANARY_OPERATOR_", frozen=True)

    prometheus_url: str = "http://prometheus:9090"
    # Watched namespaces; empty means the whole cluster.
    namespaces: Annotated[tuple[str, ...], NoDecode] = ()
    selector_labels: Annotated[tuple[str, ...], NoDecode] = (
        "app", "name", "app.kubernetes.io/name",
    )
    mesh_provider: Literal["istio"] = "istio"
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    liveness_endpoint: str = "http://0.0.0.0:8080/healthz"
    # Flagger floors analysis.interval at 10 s; tests and the lab lower it.
    min_interval_seconds: float = Field(default=10.0, gt=0)
    query_timeout_seconds: float = Field(default=5.0, gt=0)
    # Restart the analysis when a ConfigMap or Secret the target's pods use changes, and
    # give the primary `-primary` copies (Flagger's -enable-config-tracking, on by default).
    # Needs get/create/patch on ConfigMaps and Secrets.
    config_tracking: bool = True
    # How many metric checks `status.history` keeps (kubectl canary shows them).
    history_limit: int = Field(default=20, ge=0, le=200)
    # Canaries ticking at once; the others wait their turn before starting. Thousands of
    # Canaries (re)starting together otherwise each hold a tick's objects in memory while
    # they queue for an API connection.
    max_concurrent_ticks: int = Field(default=64, ge=1)
    # Post the routine "Advance ... weight N" Event of every step, as Flagger does. Off,
    # a step costs two API writes (route and status) instead of three; the step still
    # shows in the status, its history and the operator's metrics.
    step_events: bool = True
    # Where the operator's own metrics are served (Flagger's names); empty: not served.
    # The chart listens on all addresses (0.0.0.0:8081) for its ServiceMonitor.
    metrics_address: str = "127.0.0.1:8081"
    # kopf peering: the name of the (Cluster)KopfPeering object the replicas share; only the
    # replica with the highest priority works, the others stand by. Empty: standalone.
    peering: str = ""
    # None: the oldest replica has the highest priority (from its start time, so two
    # replicas never tie, and a tie would pause both): a replica that starts, during a
    # rolling update or after a crash, stands by until the working one is gone.
    peering_priority: int | None = None
    # How long a replica's keep-alive counts: a replica killed without a goodbye is taken
    # over this long after its last one (kopf's default, 60 s).
    peering_lifetime_seconds: int = Field(default=60, ge=2)
    # On SIGTERM, how long the ticks under way may take to finish before the operator stops
    # (and its peer takes over); no tick starts meanwhile.
    drain_seconds: float = Field(default=10.0, ge=0)

    @field_validator("metrics_address")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if value and not (host and port.isdigit() and 0 <= int(port) <= 65535):
            raise ValueError(f"metrics_address must be host:port like 127.0.0.1:8081 "
                             f"(got {value!r}); empty turns the metrics server off")
        return value

    @field_validator("namespaces", "selector_labels", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value
