"""The lab is a real cluster: Deployments roll out on kwok's fake nodes."""

from __future__ import annotations

from kubernetes import client

from canary_operator.lab import Lab
from canary_operator.lab.workloads import deployment, rollout_complete


def _create(apps: client.AppsV1Api, namespace: str, name: str, image: str) -> None:
    apps.create_namespaced_deployment(
        namespace, client.V1Deployment.model_validate(deployment(name, image, replicas=3))
    )


def test_a_deployment_becomes_available_with_all_replicas_ready(
    lab: Lab, api: client.ApiClient, namespace: str
) -> None:
    apps = client.AppsV1Api(api)
    _create(apps, namespace, "web", "podinfo:6.9.0")

    def available() -> bool:
        d = apps.read_namespaced_deployment("web", namespace)
        conditions = d.status.conditions or [] if d.status else []
        return any(c.type == "Available" and c.status == "True" for c in conditions) and (
            d.status is not None and d.status.ready_replicas == 3
        )

    lab.wait_for(available, "deployment web to be Available with 3 ready replicas")
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 3
    assert {p.status.phase for p in pods if p.status} == {"Running"}
    assert all(p.spec and p.spec.node_name and p.spec.node_name.startswith("kwok-node-")
               for p in pods)


def test_a_rolling_update_replaces_every_pod(
    lab: Lab, api: client.ApiClient, namespace: str
) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    _create(apps, namespace, "web", "podinfo:6.9.0")
    lab.wait_for(lambda: rollout_complete(apps.read_namespaced_deployment("web", namespace)),
                 "first rollout of web")
    (old_rs,) = apps.list_namespaced_replica_set(namespace, label_selector="app=web").items
    assert old_rs.metadata and old_rs.metadata.labels
    old_hash = old_rs.metadata.labels["pod-template-hash"]

    apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "web", "image": "podinfo:6.9.1"}]}}}})
    lab.wait_for(lambda: rollout_complete(apps.read_namespaced_deployment("web", namespace)),
                 "rolling update of web to 6.9.1")

    sets = {rs.metadata.labels["pod-template-hash"]: rs
            for rs in apps.list_namespaced_replica_set(namespace, label_selector="app=web").items
            if rs.metadata and rs.metadata.labels}
    new_hash = next(h for h in sets if h != old_hash)
    new_rs, old = sets[new_hash], sets[old_hash]
    assert new_rs.status and new_rs.status.ready_replicas == 3
    assert new_rs.spec and new_rs.spec.template and new_rs.spec.template.spec
    assert new_rs.spec.template.spec.containers[0].image == "podinfo:6.9.1"
    assert old.spec and old.spec.replicas == 0

    def old_pods_deleted() -> bool:
        return not core.list_namespaced_pod(
            namespace, label_selector=f"app=web,pod-template-hash={old_hash}").items

    lab.wait_for(old_pods_deleted, "the old ReplicaSet's pods to be deleted")
    current = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(current) == 3
    assert {p.metadata.labels["pod-template-hash"] for p in current
            if p.metadata and p.metadata.labels} == {new_hash}
