"""How `kubectl canary` reaches the API server: kubeconfig or in-cluster, as kubectl does,
and who the user is (for the commands' annotations and the operator's events)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class KubeconfigError(Exception):
    """No kubeconfig, an unknown context, or no in-cluster credentials."""


@dataclass(frozen=True)
class Connection:
    """An API client and the defaults of where it came from."""

    api: client.ApiClient
    namespace: str  # the context's namespace, else "default"
    context_user: str | None  # the kubeconfig context's user name; None in-cluster


def connect(kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """Like kubectl: `--kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`; in a Pod
    without any of those, the service account."""
    config_file = kubeconfig or os.environ.get("KUBECONFIG") or None
    default_file = Path.home() / ".kube" / "config"
    if (config_file is None and not default_file.exists()
            and "KUBERNETES_SERVICE_HOST" in os.environ):
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        namespace = (_SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
                     if _SERVICE_ACCOUNT_NAMESPACE.exists() else "default")
        return Connection(client.ApiClient(configuration), namespace, None)
    try:
        contexts, active = config.list_kube_config_contexts(config_file)  # type: ignore[no-untyped-call]
        chosen = active
        if context is not None:
            chosen = next((c for c in contexts if c.get("name") == context), None)
            if chosen is None:
                names = ", ".join(c.get("name", "?") for c in contexts) or "none"
                raise KubeconfigError(f"context {context!r} is not in the kubeconfig "
                                       f"(contexts: {names})")
        api = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=config_file, context=context, persist_config=False)
    except (ConfigException, OSError) as error:
        raise KubeconfigError(f"cannot load the kubeconfig: {error}") from None
    settings = (chosen or {}).get("context") or {}
    return Connection(api, settings.get("namespace") or "default", settings.get("user"))


def whoami(connection: Connection) -> str:
    """The user's name as the API server sees it (SelfSubjectReview); when the server
    refuses, the kubeconfig context's user name, marked "(kubeconfig)"."""
    try:
        review = client.AuthenticationV1Api(connection.api).create_self_subject_review(
            client.V1SelfSubjectReview())
    except Exception:  # refused (403), an old server (404), unreachable: fall back
        review = None
    user_info = review.status.user_info if review is not None and review.status else None
    if user_info is not None and user_info.username:
        return user_info.username
    if connection.context_user:
        return f"{connection.context_user} (kubeconfig)"
    return "unknown (in-cluster)"
