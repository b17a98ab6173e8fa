"""Clients reach the lab the way users do: kubectl with `lab env`, tokens under RBAC."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from canary_operator.lab import Lab


def _lab_env(lab: Lab) -> dict[str, str]:
    """Run `canary-operator lab env` and apply its exports to a copy of our environment."""
    out = subprocess.run(
        [sys.executable, "-m", "canary_operator.cli.main", "lab", "env",
         "--state-dir", str(lab.state.state_dir)],
        capture_output=True, text=True, check=True,
    ).stdout
    env = dict(os.environ)
    for line in out.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.replace("$PATH", env.get("PATH", ""))
    return env


def test_kubectl_works_with_the_kubeconfig_lab_env_prints(lab: Lab) -> None:
    env = _lab_env(lab)
    assert Path(env["KUBECONFIG"]) == lab.state.kubeconfig
    nodes = subprocess.run(["kubectl", "get", "nodes", "-o", "name"], env=env,
                           capture_output=True, text=True, check=True).stdout.split()
    assert nodes == ["node/kwok-node-0", "node/kwok-node-1", "node/kwok-node-2"]
    version = subprocess.run(["kubectl", "version", "-o", "json"], env=env,
                             capture_output=True, text=True, check=True).stdout
    assert '"gitVersion": "v1.36.3"' in version  # client and server are version-stamped


def test_the_api_server_reports_its_real_version(api: client.ApiClient) -> None:
    info = client.VersionApi(api).get_code()
    assert (info.git_version, info.major, info.minor) == ("v1.36.3", "1", "36")


def _token_client(lab: Lab, token: str) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = lab.state.server
    configuration.ssl_ca_cert = str(lab.state.state_dir / "pki" / "ca.crt")
    configuration.api_key = {"authorization": token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    return client.ApiClient(configuration)


def test_a_service_account_is_denied_until_a_role_binding_allows_it(
    lab: Lab, api: client.ApiClient, namespace: str
) -> None:
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader")))
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[lab.state.server], expiration_seconds=600))
    token = core.create_namespaced_service_account_token("reader", namespace, request)
    assert token.status is not None
    as_reader = client.CoreV1Api(_token_client(lab, token.status.token))

    with pytest.raises(ApiException) as denied:
        as_reader.list_namespaced_pod(namespace)
    assert denied.value.status == 403
    assert f"system:serviceaccount:{namespace}:reader" in str(denied.value.body)

    rbac.create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name="pod-reader"),
        rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["list"])]))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="reader-reads-pods"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role",
                                  name="pod-reader"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader",
                                       namespace=namespace)]))

    def allowed() -> bool:
        try:
            as_reader.list_namespaced_pod(namespace)
        except ApiException as error:
            if error.status == 403:
                return False  # the authorizer's cache has not seen the binding yet
            raise
        return True

    lab.wait_for(allowed, "the RoleBinding to take effect", timeout=30)
    with pytest.raises(ApiException) as still_denied:  # only what the Role grants
        as_reader.list_namespaced_secret(namespace)
    assert still_denied.value.status == 403
