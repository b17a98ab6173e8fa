"""What the operator may do with the API, and why: the source of the chart's RBAC.

The Helm chart's ClusterRole (or, in namespaced mode, the Role in each watched namespace)
grants exactly `required_rules(...)`; a unit test renders the chart and compares, and an
integration test runs the operator with nothing more and checks every other verb is denied.

Not listed because every authenticated user has them already (the `system:discovery`
ClusterRole): the discovery endpoints `/api` and `/apis/...` that kopf reads at startup to
resolve the resources it serves.

Not listed because the operator never needs them:

- `delete` on anything: the objects it creates carry an owner reference to their Canary,
  and the garbage collector deletes them with it.
- `update` (but on `canaries/finalizers`, see its rule): every write is a patch (merge
  patch, or JSON Patch with a `test`).
- `namespaces` and `customresourcedefinitions` (list, watch): kopf observes them only to
  follow namespace patterns and CRDs created after it starts. The startup handler turns
  that off (`settings.scanning.disabled`): the operator serves exactly the namespaces it is
  given and the CRDs that exist when it starts. Both are cluster-scoped, so this is what
  keeps namespaced mode free of any cluster-wide permission.
- `secrets` and `configmaps`: only config tracking reads them (configs.read_tracked_configs,
  by name), and it is off unless `config_tracking` (the chart's `configTracking`) is on.
- `get` on `horizontalpodautoscalers`: both HPAs come from the operator's watch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Grant = tuple[str, str, str]  # (apiGroup, resource, verb): one thing the operator may do


@dataclass(frozen=True)
class Rule:
    """One RBAC rule: verbs on a resource of an API group, and the code path needing it."""

    api_group: str
    resource: str
    verbs: tuple[str, ...]
    reason: str

    def grants(self) -> frozenset[Grant]:
        return frozenset((self.api_group, self.resource, verb) for verb in self.verbs)

    def as_policy_rule(self) -> dict[str, list[str]]:
        return {"apiGroups": [self.api_group], "resources": [self.resource],
                "verbs": list(self.verbs)}


FLAGGER = "flagger.app"
ISTIO = "networking.istio.io"
KOPF = "kopf.dev"

# In every watched namespace (all of them in cluster-wide mode).
OPERATOR_RULES: tuple[Rule, ...] = (
    Rule(FLAGGER, "canaries", ("get", "list", "watch", "patch"),
         "kopf watches Canaries (operator.canary_loop, operator.revert_on_deletion) and "
         "patches them with its progress annotations and the finalizer "
         "canary-operator.dev/finalizer; a tick whose status write conflicts reads its "
         "Canary again (kube.status.read_canary)"),
    Rule(FLAGGER, "canaries/status", ("patch",),
         "kube.status.write_status (the tick's decided status, a problem, an invalid "
         "Canary) and controller._patch_status (Terminating) write Canary.status through "
         "the status subresource"),
    Rule(FLAGGER, "canaries/finalizers", ("update",),
         "the primary Deployment, the Services, DestinationRules and VirtualService are "
         "created with an owner reference to the Canary that has blockOwnerDeletion; where "
         "the OwnerReferencesPermissionEnforcement admission plugin is on (e.g. OpenShift) "
         "that needs update on the owner's finalizers"),
    Rule(FLAGGER, "metrictemplates", ("list", "watch"),
         "kopf index operator.metric_templates_index: templateRef lookups never call the API"),
    Rule(FLAGGER, "alertproviders", ("list", "watch"),
         "kopf index operator.alert_providers_index: alerts[].providerRef lookups never "
         "call the API"),
    Rule("apps", "deployments", ("get", "list", "watch", "create", "patch"),
         "kopf index operator.deployments_index (list, watch); workloads.ensure_primary "
         "reads and creates <target>-primary; workloads.scale and workloads.promote read "
         "and merge-patch the target's replicas and the primary's template"),
    Rule("autoscaling", "horizontalpodautoscalers", ("list", "watch", "create", "patch"),
         "a kopf index of HorizontalPodAutoscalers (list, watch) serves the target's HPA "
         "named by autoscalerRef and the primary's copy; autoscalers.ensure_primary_hpa "
         "creates <hpa>-primary and merge-patches it from the index, never reading it"),
    Rule("", "services", ("get", "create", "patch"),
         "services.ensure_services reads, creates and patches the apex, -primary and "
         "-canary Services; services.revert_apex_service patches a user's apex Service"),
    Rule(ISTIO, "virtualservices", ("get", "list", "watch", "create", "patch"),
         "kopf index operator.virtual_services_index (list, watch): the routes are read "
         "from it each tick; routers.istio.IstioRouter.reconcile reads and creates the "
         "apex VirtualService, set_routes patches its routes"),
    Rule(ISTIO, "destinationrules", ("get", "create", "patch"),
         "routers.istio.IstioRouter.reconcile reads, creates and patches the -primary and "
         "-canary DestinationRules"),
    Rule("", "events", ("create", "patch"),
         "kube.events.EventRecorder creates core v1 Events about Canaries and patches the "
         "count of one that repeats; kopf creates its own"),
)

CONFIG_TRACKING_RULES: tuple[Rule, ...] = (
    Rule("", "configmaps", ("get", "create", "patch"),
         "config tracking: configs.read_tracked_configs reads the ConfigMaps the target's "
         "pods use, configs.ensure_primary_configs reads, creates and merge-patches their "
         "-primary copies (by name: never listed or watched)"),
    Rule("", "secrets", ("get", "create", "patch"),
         "config tracking: configs.read_tracked_configs reads the Secrets the target's "
         "pods use, configs.ensure_primary_configs reads, creates and merge-patches their "
         "-primary copies (by name: never listed or watched)"),
)


def peering_rule(*, cluster_wide: bool) -> Rule:
    """kopf's peering (leader election between replicas): it watches the peering object
    and patches its keep-alive into it; it never gets, creates or deletes one."""
    resource = "clusterkopfpeerings" if cluster_wide else "kopfpeerings"
    return Rule(KOPF, resource, ("list", "watch", "patch"),
                "kopf peering with more than one replica: watch the peering object and "
                "patch this replica's keep-alive into its status")


def required_rules(*, cluster_wide: bool, config_tracking: bool = False,
                   peering: bool = False) -> tuple[Rule, ...]:
    """Every rule the operator needs in one mode. In namespaced mode all of them are
    namespaced and go into a Role in each watched namespace: nothing is cluster-wide."""
    rules = list(OPERATOR_RULES)
    if config_tracking:
        rules += CONFIG_TRACKING_RULES
    if peering:
        rules.append(peering_rule(cluster_wide=cluster_wide))
    return tuple(rules)


def grants(rules: Iterable[Rule]) -> frozenset[Grant]:
    return frozenset().union(*(rule.grants() for rule in rules))


class PolicyRuleError(ValueError):
    """A Role's rule this module cannot compare grant by grant (a wildcard, a name)."""


def policy_grants(policy_rules: Iterable[Mapping[str, Any]]) -> frozenset[Grant]:
    """The grants of a Role's or ClusterRole's `rules`, however they are grouped.

    Wildcards, resourceNames and nonResourceURLs are refused: the chart uses none, and
    a rule with them cannot be checked against `required_rules`.
    """
    found: set[Grant] = set()
    for rule in policy_rules:
        if rule.get("resourceNames") or rule.get("nonResourceURLs"):
            raise PolicyRuleError(f"rule {dict(rule)} names resources or URLs")
        groups, resources, verbs = (list(rule.get(key) or ()) for key in
                                    ("apiGroups", "resources", "verbs"))
        if "*" in groups + resources + verbs:
            raise PolicyRuleError(f"rule {dict(rule)} has a wildcard")
        found.update((g, r, v) for g in groups for r in resources for v in verbs)
    return frozenset(found)
