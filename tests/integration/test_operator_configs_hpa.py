"""Config tracking and the primary HPA through the real operator on the lab: the `-primary`
copies of the target's ConfigMap and Secret, a ConfigMap change as a new revision (and
none when tracking is off), and a primary HPA kept in step with the target's between
rollouts."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from canary_operator.lab import Lab
from canary_operator.lab.workloads import deployment
from tests.canary_cluster import Cluster, Sampler
from tests.integration.test_operator_canary import (
    GOOD,
    NAME,
    example,
    serve_canary,
)
from tests.istio_exporter import IstioExporter
from tests.operator_harness import OperatorProcess

CONFIG, ENV, SECRET = f"{NAME}-config", f"{NAME}-env", f"{NAME}-secret"
HPA = f"{NAME}-hpa"
CPU = [{"type": "Resource", "resource": {
    "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]

StartOperator = Callable[..., OperatorProcess]


@pytest.fixture
def start_operator(lab: Lab, namespace: str, prometheus_url: str,
                   canary_crds: None, tmp_path: Path) -> Iterator[StartOperator]:
    """Start the operator on the test's namespace, with extra settings if given."""
    started: list[OperatorProcess] = []

    def start(**extra_env: str) -> OperatorProcess:
        process = OperatorProcess(lab, [namespace], prometheus_url, tmp_path,
                                  extra_env=dict(extra_env))
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


# -- config tracking -------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def create_configs(cluster: Cluster) -> None:
    cluster.core.create_namespaced_config_map(cluster.namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=CONFIG), data={"greeting": "hello"}))
    cluster.core.create_namespaced_config_map(cluster.namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=ENV), data={"LOG_LEVEL": "info"}))
    cluster.core.create_namespaced_secret(cluster.namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name=SECRET), type="Opaque",
        data={"password": _b64("s3cret")}))


def configured_target(replicas: int = 2) -> dict[str, Any]:
    """The lab's Deployment with one ConfigMap in an env var (valueFrom), another as the
    whole environment (envFrom), and the Secret in a volume."""
    body = deployment(NAME, "podinfo:6.9.0", replicas=replicas)
    pod = body["spec"]["template"]["spec"]
    container = pod["containers"][0]
    container["env"] = [{"name": "GREETING", "valueFrom": {
        "configMapKeyRef": {"name": CONFIG, "key": "greeting"}}}]
    container["envFrom"] = [{"configMapRef": {"name": ENV}}]
    container["volumeMounts"] = [{"name": "creds", "mountPath": "/etc/creds"}]
    pod["volumes"] = [{"name": "creds", "secret": {"secretName": SECRET}}]
    return body


def initialize(cluster: Cluster, traffic: IstioExporter, canary: dict[str, Any],
               target: dict[str, Any]) -> None:
    """Primary traffic, the target and the Canary; wait until Initialized."""
    traffic.set_behaviour(cluster.namespace, f"{NAME}-primary", rps=20)
    cluster.create_target(body=target)
    cluster.apply_canary(canary)
    cluster.wait_phase("Initialized", timeout=60)


def config_refs_of(cluster: Cluster, name: str) -> tuple[str, str, str]:
    """The ConfigMap (valueFrom, envFrom) and Secret names a Deployment's pod template
    uses."""
    d = cluster.deployment(name)
    assert d.spec and d.spec.template.spec
    pod = d.spec.template.spec
    env = pod.containers[0].env or []
    ref = env[0].value_from.config_map_key_ref  # type: ignore[union-attr]
    env_from = (pod.containers[0].env_from or [])[0].config_map_ref
    volume = next(v for v in pod.volumes or [] if v.name == "creds")
    return (ref.name, env_from.name, volume.secret.secret_name)  # type: ignore[union-attr,return-value]


def config_map_data(cluster: Cluster, name: str) -> dict[str, str]:
    return dict(cluster.core.read_namespaced_config_map(name, cluster.namespace).data or {})


def new_revision_events(cluster: Cluster) -> list[str]:
    return [m for m in cluster.events() if m.startswith("New revision detected")]


def test_tracked_configs_get_primary_copies_and_a_configmap_change_is_a_new_revision(
    cluster: Cluster, exporter: IstioExporter, start_operator: StartOperator,
    prometheus_url: str,
) -> None:
    start_operator()
    create_configs(cluster)
    initialize(cluster, exporter, example(cluster.namespace), configured_target())

    canary = cluster.canary()
    tracked = canary["status"]["trackedConfigs"]
    assert set(tracked) == {f"configmap/{CONFIG}", f"configmap/{ENV}",
                            f"secret/{SECRET}"}, tracked
    assert all(re.fullmatch(r"[0-9a-f]{16}", value) for value in tracked.values()), tracked
    copy = cluster.core.read_namespaced_config_map(f"{CONFIG}-primary", cluster.namespace)
    secret = cluster.core.read_namespaced_secret(f"{SECRET}-primary", cluster.namespace)
    assert copy.data == {"greeting": "hello"}
    assert secret.data == {"password": _b64("s3cret")}
    env_copy = cluster.core.read_namespaced_config_map(f"{ENV}-primary", cluster.namespace)
    for obj in (copy, env_copy, secret):
        owners = obj.metadata.owner_references or []  # type: ignore[union-attr]
        assert [(o.kind, o.name, o.uid) for o in owners] == [
            ("Canary", NAME, canary["metadata"]["uid"])], owners
    assert env_copy.data == {"LOG_LEVEL": "info"}
    primary_refs = (f"{CONFIG}-primary", f"{ENV}-primary", f"{SECRET}-primary")
    assert config_refs_of(cluster, f"{NAME}-primary") == primary_refs
    assert config_refs_of(cluster, NAME) == (CONFIG, ENV, SECRET)  # the target is left alone
    assert not new_revision_events(cluster)

    # Only the ConfigMap's data changes: the pod template is the same.
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0, latency_ms=40)
    phases = Sampler(cluster.phase)
    cluster.core.patch_namespaced_config_map(CONFIG, cluster.namespace,
                                             {"data": {"greeting": "bonjour"}})
    cluster.wait_phase("Progressing", timeout=60)
    cluster.wait_event("New revision detected")
    assert new_revision_events(cluster), cluster.events()
    # The canary's pods read the new data now; the primary's copy keeps the old until
    # promotion.
    assert config_map_data(cluster, f"{CONFIG}-primary") == {"greeting": "hello"}
    cluster.wait_phase("Succeeded", timeout=120)
    seen = phases.stop()  # Promoting and Finalising last a tick each: maybe unsampled
    assert seen[0] == "Initialized" and seen[-1] == "Succeeded" and "Progressing" in seen
    assert set(seen) <= {"Initialized", "Progressing", "Promoting", "Finalising",
                         "Succeeded"}, seen

    assert config_map_data(cluster, f"{CONFIG}-primary") == {"greeting": "bonjour"}
    after = cluster.canary()["status"]["trackedConfigs"]
    assert after[f"configmap/{CONFIG}"] != tracked[f"configmap/{CONFIG}"]
    assert after[f"secret/{SECRET}"] == tracked[f"secret/{SECRET}"]
    assert after[f"configmap/{ENV}"] == tracked[f"configmap/{ENV}"]
    assert config_refs_of(cluster, f"{NAME}-primary") == primary_refs
    primary = cluster.deployment(f"{NAME}-primary")
    assert primary.spec and primary.spec.template.spec
    assert primary.spec.template.spec.containers[0].image == "podinfo:6.9.0"
    assert len(new_revision_events(cluster)) == 1


def _quiet_ticks(log: str, namespace: str) -> int:
    """The ticks the operator logged deciding there is no new revision of the target."""
    return log.count(f"no new revision of {NAME}.{namespace} ")


def test_without_config_tracking_a_configmap_change_starts_nothing(
    cluster: Cluster, exporter: IstioExporter, start_operator: StartOperator,
) -> None:
    operator = start_operator(CANARY_OPERATOR_CONFIG_TRACKING="false")
    create_configs(cluster)
    initialize(cluster, exporter, example(cluster.namespace), configured_target())

    status = cluster.canary()["status"]
    assert not status.get("trackedConfigs"), status
    assert config_refs_of(cluster, f"{NAME}-primary") == (CONFIG, ENV, SECRET)
    assert CONFIG + "-primary" not in {
        c.metadata.name for c in cluster.core.list_namespaced_config_map(  # type: ignore[union-attr]
            cluster.namespace).items}

    cluster.core.patch_namespaced_config_map(CONFIG, cluster.namespace,
                                             {"data": {"greeting": "bonjour"}})
    # Proof that the operator looked again, several analysis intervals (1 s) later.
    before = _quiet_ticks(operator.log(), cluster.namespace)
    cluster.lab.wait_for(
        lambda: _quiet_ticks(operator.log(), cluster.namespace) >= before + 5,
        "five more ticks finding no new revision", 60)
    now = cluster.canary()["status"]
    assert now["phase"] == "Initialized"
    assert now["lastTransitionTime"] == status["lastTransitionTime"]
    assert not new_revision_events(cluster)
    assert cluster.deployment(NAME).spec.replicas == 0  # type: ignore[union-attr]


# -- the primary HPA ---------------------------------------------------------------------


def create_hpa(cluster: Cluster, min_replicas: int = 2, max_replicas: int = 4) -> None:
    client.AutoscalingV2Api(cluster.core.api_client).create_namespaced_horizontal_pod_autoscaler(
        cluster.namespace, client.V2HorizontalPodAutoscaler.model_validate({
            "metadata": {"name": HPA},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                   "name": NAME},
                "minReplicas": min_replicas, "maxReplicas": max_replicas, "metrics": CPU,
            },
        }))


def read_hpa(cluster: Cluster, name: str) -> client.V2HorizontalPodAutoscaler:
    return client.AutoscalingV2Api(
        cluster.core.api_client).read_namespaced_horizontal_pod_autoscaler(
            name, cluster.namespace)


def target_replicas(cluster: Cluster) -> int:
    spec = cluster.deployment(NAME).spec
    return (spec.replicas if spec is not None else None) or 0


def test_the_primary_hpa_follows_the_targets_between_rollouts_and_sizes_the_canary(
    cluster: Cluster, exporter: IstioExporter, start_operator: StartOperator,
    prometheus_url: str,
) -> None:
    start_operator()
    create_hpa(cluster, min_replicas=2, max_replicas=4)
    canary = example(cluster.namespace)
    canary["spec"]["autoscalerRef"] = {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": HPA,
        "primaryScalerReplicas": {"minReplicas": 3}}
    # One replica: so neither the target's own count nor the primary's can pass for the
    # HPA's minReplicas when the canary is scaled up.
    initialize(cluster, exporter, canary, deployment(NAME, "podinfo:6.9.0", replicas=1))

    primary_hpa = read_hpa(cluster, f"{HPA}-primary")
    assert primary_hpa.spec is not None and primary_hpa.metadata is not None
    assert (primary_hpa.spec.scale_target_ref.kind,
            primary_hpa.spec.scale_target_ref.name) == ("Deployment", f"{NAME}-primary")
    assert (primary_hpa.spec.min_replicas, primary_hpa.spec.max_replicas) == (3, 4)
    owners = primary_hpa.metadata.owner_references or []
    assert [(o.kind, o.name) for o in owners] == [("Canary", NAME)]
    generation = cluster.deployment(f"{NAME}-primary").metadata.generation  # type: ignore[union-attr]
    transition = cluster.canary()["status"]["lastTransitionTime"]

    # The target's HPA changes between rollouts: copied at once, without a rollout.
    client.AutoscalingV2Api(cluster.core.api_client).patch_namespaced_horizontal_pod_autoscaler(
        HPA, cluster.namespace, {"spec": {"maxReplicas": 6}})
    cluster.lab.wait_for(
        lambda: read_hpa(cluster, f"{HPA}-primary").spec.max_replicas == 6,  # type: ignore[union-attr]
        "the primary HPA to get maxReplicas 6", 30)
    assert read_hpa(cluster, f"{HPA}-primary").spec.min_replicas == 3  # type: ignore[union-attr]
    assert cluster.phase() == "Initialized"
    assert cluster.canary()["status"]["lastTransitionTime"] == transition
    assert cluster.deployment(f"{NAME}-primary").metadata.generation == generation  # type: ignore[union-attr]
    assert not new_revision_events(cluster)

    # A new revision: the canary goes from 0 to the HPA's minReplicas, and is promoted.
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0, latency_ms=40)
    replicas = Sampler(lambda: target_replicas(cluster))
    cluster.set_image(GOOD)
    cluster.wait_phase("Succeeded", timeout=120)
    cluster.lab.wait_for(lambda: (cluster.deployment(NAME).spec.replicas or 0) == 0,  # type: ignore[union-attr]
                         "the canary to be scaled to zero", 30)
    seen = replicas.stop()
    assert seen[:3] == [0, 2, 0], seen
    primary = cluster.deployment(f"{NAME}-primary")
    assert primary.spec and primary.spec.template.spec
    assert primary.spec.template.spec.containers[0].image == GOOD
    after = read_hpa(cluster, f"{HPA}-primary")
    assert after.spec is not None
    assert (after.spec.scale_target_ref.name, after.spec.min_replicas,
            after.spec.max_replicas) == (f"{NAME}-primary", 3, 6)
