"""The kube-apiserver's own counters, read from its /metrics with the lab's admin
certificate, and a set of FlowSchemas that count one identity's requests exactly.

`apiserver_request_total` counts every client (controller-manager, scheduler, kwok, the
mesh simulator): a baseline window is subtracted from it. The operator under test runs as
its own ServiceAccount, and `flow_schemas()` classify that account's requests by verb and
resource into FlowSchemas of their own, so `apiserver_flowcontrol_dispatched_requests_total`
counts the operator's requests and nobody else's.
"""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from canary_operator.lab import Lab
from canary_operator.lab.pki import Pki

FLOW_PREFIX = "bench-"
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
# (API group, resource[/subresource]) worth naming; anything else is "other".
RESOURCES: tuple[tuple[str, str], ...] = (
    ("flagger.app", "canaries"),
    ("flagger.app", "canaries/status"),
    ("flagger.app", "canaries/finalizers"),
    ("flagger.app", "metrictemplates"),
    ("flagger.app", "alertproviders"),
    ("apps", "deployments"),
    ("apps", "deployments/scale"),
    ("apps", "replicasets"),
    ("", "services"),
    ("", "pods"),
    ("", "events"),
    ("events.k8s.io", "events"),
    ("", "configmaps"),
    ("", "secrets"),
    ("", "namespaces"),
    ("networking.istio.io", "virtualservices"),
    ("networking.istio.io", "destinationrules"),
    ("autoscaling", "horizontalpodautoscalers"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("coordination.k8s.io", "leases"),
)
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
READ_VERBS = frozenset({"get", "list"})
# apiserver_request_total's verbs, in the request verbs FlowSchemas use.
_HTTP_VERBS = {"post": "create", "put": "update", "apply": "patch", "watchlist": "watch"}

Key = tuple[str, str]  # (verb, "resource[/subresource]" or "other" / "non-resource")


def admin_tls(lab: Lab) -> ssl.SSLContext:
    pki = Pki(lab.state.state_dir / "pki")
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
    return context


def _flow_name(verb: str, group: str, resource: str) -> str:
    return f"{FLOW_PREFIX}{verb}.{group or 'core'}.{resource.replace('/', '.')}"


def _schema(name: str, precedence: int, subject: Mapping[str, Any],
            rule: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": {"name": name},
        "spec": {
            "matchingPrecedence": precedence,
            "priorityLevelConfiguration": {"name": "workload-high"},
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [{"subjects": [dict(subject)], **rule}],
        },
    }


def flow_schemas(service_account: str, namespace: str) -> list[dict[str, Any]]:
    """FlowSchemas sorting the account's requests by verb and resource (named ones first,
    then one per verb for any other resource, then non-resource URLs)."""
    subject = {"kind": "ServiceAccount",
               "serviceAccount": {"name": service_account, "namespace": namespace}}
    schemas = []
    for verb in VERBS:
        for group, resource in RESOURCES:
            schemas.append(_schema(_flow_name(verb, group, resource), 10, subject, {
                "resourceRules": [{"verbs": [verb], "apiGroups": [group],
                                   "resources": [resource], "clusterScope": True,
                                   "namespaces": ["*"]}]}))
        schemas.append(_schema(f"{FLOW_PREFIX}{verb}.other", 20, subject, {
            "resourceRules": [{"verbs": [verb], "apiGroups": ["*"], "resources": ["*"],
                               "clusterScope": True, "namespaces": ["*"]}]}))
    schemas.append(_schema(f"{FLOW_PREFIX}non-resource", 20, subject, {
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}))
    return schemas


def install_flow_schemas(api: client.ApiClient, service_account: str, namespace: str) -> int:
    custom = client.CustomObjectsApi(api)
    schemas = flow_schemas(service_account, namespace)
    for schema in schemas:
        try:
            custom.create_cluster_custom_object(
                "flowcontrol.apiserver.k8s.io", "v1", "flowschemas", schema)
        except ApiException as error:
            if error.status != 409:
                raise
    return len(schemas)


def _flow_key(flow_schema: str) -> Key | None:
    """(verb, resource) of one of our FlowSchemas' names, None for anybody else's."""
    if not flow_schema.startswith(FLOW_PREFIX):
        return None
    rest = flow_schema.removeprefix(FLOW_PREFIX)
    if rest == "non-resource":
        return ("get", "non-resource")
    verb, _, target = rest.partition(".")
    if target == "other":
        return (verb, "other")
    for group, resource in RESOURCES:
        if _flow_name(verb, group, resource) == flow_schema:
            return (verb, resource if not group else f"{resource}.{group}")
    return (verb, target)


@dataclass
class ApiSnapshot:
    """Counters at one moment: every client's requests and the operator's own."""

    everyone: Counter[Key] = field(default_factory=Counter)
    operator: Counter[Key] = field(default_factory=Counter)

    def __sub__(self, other: ApiSnapshot) -> ApiSnapshot:
        return ApiSnapshot(_minus(self.everyone, other.everyone),
                           _minus(self.operator, other.operator))


def _minus(a: Counter[Key], b: Counter[Key]) -> Counter[Key]:
    out: Counter[Key] = Counter()
    for key in set(a) | set(b):
        out[key] = a.get(key, 0) - b.get(key, 0)
    return out


def _resource_label(labels: Mapping[str, str]) -> str:
    resource = labels.get("resource", "") or "non-resource"
    if labels.get("subresource"):
        resource = f"{resource}/{labels['subresource']}"
    group = labels.get("group", "")
    return f"{resource}.{group}" if group else resource


def parse_snapshot(text: str) -> ApiSnapshot:
    snapshot = ApiSnapshot()
    for family in text_string_to_metric_families(text):
        if family.name == "apiserver_request":  # the parser drops the _total suffix
            for sample in family.samples:
                if sample.name == "apiserver_request_total":
                    verb = sample.labels.get("verb", "").lower()
                    key = (_HTTP_VERBS.get(verb, verb), _resource_label(sample.labels))
                    snapshot.everyone[key] += int(sample.value)
        elif family.name == "apiserver_flowcontrol_dispatched_requests":
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                found = _flow_key(sample.labels.get("flow_schema", ""))
                if found is not None:
                    snapshot.operator[found] += int(sample.value)
    return snapshot


class ApiServerMetrics:
    """Reads the lab's kube-apiserver /metrics (as the lab's admin)."""

    def __init__(self, lab: Lab) -> None:
        self._client = httpx.Client(base_url=lab.state.server, verify=admin_tls(lab), timeout=30)

    def snapshot(self) -> ApiSnapshot:
        response = self._client.get("/metrics")
        response.raise_for_status()
        return parse_snapshot(response.text)

    def close(self) -> None:
        self._client.close()


def totals(counts: Mapping[Key, float], verbs: Iterable[str] | None = None) -> float:
    wanted = set(verbs) if verbs is not None else None
    return sum(v for (verb, _), v in counts.items() if wanted is None or verb in wanted)
