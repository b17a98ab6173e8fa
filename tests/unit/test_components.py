from pathlib import Path

from canary_operator.lab.components import Ports, control_plane, fake_node
from canary_operator.lab.pki import Pki

PORTS = Ports(2379, 2380, 6443, 10257, 10259, 10247)


def _components() -> list:
    stages = (Path("/data/node.yaml"), Path("/data/pod.yaml"))
    return control_plane(Path("/bin"), Pki(Path("/pki")), PORTS, Path("/state"),
                         Path("/state/admin.kubeconfig"), stages)


def test_components_start_in_dependency_order() -> None:
    assert [c.name for c in _components()] == [
        "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok",
    ]


def test_nothing_listens_beyond_loopback() -> None:
    for component in _components():
        joined = " ".join(component.argv)
        assert "0.0.0.0" not in joined, component.name
        assert "127.0.0.1" in component.health_url
    apiserver = _components()[1]
    assert "--bind-address=127.0.0.1" in apiserver.argv


def test_apiserver_authorizes_with_rbac_and_signs_service_account_tokens() -> None:
    argv = _components()[1].argv
    assert "--authorization-mode=RBAC" in argv
    assert "--service-account-signing-key-file=/pki/sa.key" in argv
    assert "--client-ca-file=/pki/ca.crt" in argv


def test_kwok_gets_every_stage_file_and_manages_only_fake_nodes() -> None:
    argv = _components()[-1].argv
    assert "--config=/data/node.yaml,/data/pod.yaml" in argv
    assert "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake" in argv
    node = fake_node("kwok-node-0")
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"  # type: ignore[index]
    assert "taints" not in node.get("spec", {})  # type: ignore[operator]


def test_controller_manager_and_scheduler_are_not_throttled_below_the_api_server() -> None:
    by_name = {c.name: c.argv for c in _components()}
    for name in ("kube-controller-manager", "kube-scheduler"):
        qps = [a for a in by_name[name] if a.startswith("--kube-api-qps=")]
        assert qps and float(qps[0].split("=")[1]) >= 100, name
    assert "--concurrent-deployment-syncs=20" in by_name["kube-controller-manager"]
