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


def test_fast_controllers_raise_the_client_rates_only_when_asked() -> None:
    def argv_of(fast: bool) -> dict[str, tuple[str, ...]]:
        stages = (Path("/data/node.yaml"),)
        return {c.name: c.argv for c in control_plane(
            Path("/bin"), Pki(Path("/pki")), PORTS, Path("/state"),
            Path("/state/admin.kubeconfig"), stages, fast_controllers=fast)}

    fast, default = argv_of(True), argv_of(False)
    for name in ("kube-controller-manager", "kube-scheduler"):
        assert "--kube-api-qps=500" in fast[name], name
        assert not any(a.startswith("--kube-api-qps") for a in default[name]), name
    assert "--concurrent-deployment-syncs=20" in fast["kube-controller-manager"]
    assert not any(a.startswith("--concurrent-") for a in default["kube-controller-manager"])
