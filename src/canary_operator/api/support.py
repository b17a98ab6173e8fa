"""What the operator acts on so far, and error messages that name the field.

The CRD accepts every field Flagger does, so a Flagger manifest applies unchanged; the
operator then reports the fields it stores but does not act on yet (`unsupported_fields`)
instead of silently behaving differently from Flagger.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from canary_operator.api.base import DURATION_PATTERN
from canary_operator.api.canary import Analysis, CanaryService, CanarySpec
from canary_operator.api.crdgen import schema_at
from canary_operator.api.metric_template import MetricTemplate, MetricTemplateProvider

# Per model: the fields the operator acts on. A field missing here is reported when it is
# set, so a new field stays "not acted on" until someone implements it and lists it.
_SUPPORTED: dict[type[BaseModel], frozenset[str]] = {
    CanarySpec: frozenset({
        "targetRef", "service", "analysis", "provider", "metricsServer",
        "progressDeadlineSeconds", "skipAnalysis", "suspend", "revertOnDeletion",
        "autoscalerRef",
    }),
    CanaryService: frozenset({
        "port", "name", "portName", "targetPort", "hosts", "gateways", "match", "retries",
        "timeout", "rewrite", "headers", "corsPolicy", "trafficPolicy", "apex", "primary",
        "canary",
    }),
    Analysis: frozenset({
        "interval", "threshold", "maxWeight", "stepWeight", "stepWeights",
        "stepWeightPromotion", "metrics", "primaryReadyThreshold", "canaryReadyThreshold",
        "iterations", "mirror", "mirrorWeight", "match", "sessionAffinity", "webhooks",
        "alerts",
    }),
    MetricTemplateProvider: frozenset({"type", "address", "headers", "insecureSkipVerify"}),
}
# The MetricTemplate provider types the operator can query (the others are Flagger's).
SUPPORTED_METRIC_PROVIDERS = frozenset({"prometheus"})
SUPPORTED_PROVIDERS = frozenset({"istio"})
SUPPORTED_TARGET_KINDS = frozenset({"Deployment"})


def unsupported_fields(spec: CanarySpec) -> list[str]:
    """The set fields of a Canary spec the operator does not act on yet, as camelCase paths
    (`spec.analysis.mirror`): fields in spec order, then supported fields whose value is not
    (`spec.provider`, `spec.targetRef.kind`)."""
    found = list(_unsupported_in(spec, "spec"))
    if spec.provider is not None and spec.provider not in SUPPORTED_PROVIDERS:
        found.append("spec.provider")
    if spec.target_ref.kind not in SUPPORTED_TARGET_KINDS:
        found.append("spec.targetRef.kind")
    return found


def unsupported_template_fields(template: MetricTemplate) -> list[str]:
    """The set fields of a MetricTemplate's provider the operator does not act on yet
    (`spec.provider.secretRef`, `spec.provider.region`). A provider type other than
    Prometheus is no such field: each check of it fails, saying so."""
    return list(_unsupported_in(template.spec.provider, "spec.provider"))


def _unsupported_in(model: BaseModel, path: str) -> Iterable[str]:
    supported = _SUPPORTED[type(model)]
    for name, field in type(model).model_fields.items():
        wire_name = field.alias or name
        value = getattr(model, name)
        if wire_name not in supported:
            if _engaged(value):
                yield f"{path}.{wire_name}"
        elif isinstance(value, BaseModel) and type(value) in _SUPPORTED:
            yield from _unsupported_in(value, f"{path}.{wire_name}")


def _engaged(value: object) -> bool:
    """Whether a field's value asks for behaviour: false, zero and empty ask for none
    (Flagger treats `iterations: 0` or `mirror: false` as not set)."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float | str | list | dict):
        return bool(value)
    return True


# --- validation errors for users ------------------------------------------------------------

# Where a model sits in its resource, for models validated on their own.
_MODEL_PATHS = {
    "CanarySpec": "spec",
    "MetricTemplateSpec": "spec",
    "AlertProviderSpec": "spec",
    "CanaryStatus": "status",
    "Analysis": "spec.analysis",
    "CanaryService": "spec.service",
}
# Union members appear in the location as a tag (`targetPort.int`, `targetPort.str`).
_UNION_TAG = re.compile(r"^(int|str|float|bool|none|[a-z-]+\[.*\])$")
_TYPE_NAMES = {
    "int": "an integer", "float": "a number", "bool": "true or false", "string": "a string",
    "str": "a string", "list": "a list", "dict": "a mapping", "model": "a mapping",
}


def format_validation_error(kind: str, namespace: str, name: str,
                            error: ValidationError) -> str:
    """One line for a user: the object, then each bad field with its value and the fix.

    `Canary prod/backend-service: spec.analysis.stepWeight must be between 1 and 100 (got 0)`
    """
    prefix = _MODEL_PATHS.get(error.title, "")
    details = error.errors(include_url=False)
    # One message per field, even when every member of a union complained about it.
    by_path: dict[str, list[ErrorDetails]] = {}
    for detail in details:
        path = _field_path(prefix, _strip_union_tags(detail["loc"], details))
        by_path.setdefault(path, []).append(detail)
    problems = [_union_problem(path, group) or _problem(kind, path, group[0])
                for path, group in by_path.items()]
    return f"{kind} {namespace}/{name}: " + "; ".join(problems)


def _union_problem(path: str, group: Sequence[ErrorDetails]) -> str | None:
    expected = [_expected_type(detail["type"]) for detail in group]
    if len(group) < 2 or None in expected:
        return None
    names = list(dict.fromkeys(e for e in expected if e))
    return f"{path} must be {' or '.join(names)} (got {_show(group[0].get('input'))})"


def _strip_union_tags(loc: Sequence[int | str], details: Sequence[ErrorDetails]
                      ) -> tuple[int | str, ...]:
    location = tuple(loc)
    while location and isinstance(location[-1], str) and _UNION_TAG.match(location[-1]):
        parent = location[:-1]
        siblings = sum(1 for d in details if tuple(d["loc"][:len(parent)]) == parent)
        if siblings < 2:
            break
        location = parent
    return location


def _field_path(prefix: str, loc: Sequence[int | str]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else part
    return path or "<object>"


def _problem(kind: str, path: str, detail: ErrorDetails) -> str:
    kind_of_error = detail["type"]
    value = detail.get("input")
    context: dict[str, Any] = dict(detail.get("ctx") or {})
    got = f" (got {_show(value)})"
    if kind_of_error == "missing":
        return f"{path} is required but missing"
    if kind_of_error in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        return f"{path} must be {_range_text(kind, path, context)}{got}"
    if kind_of_error == "literal_error":
        return f"{path} must be one of {context.get('expected', '?')}{got}"
    if kind_of_error == "enum":
        return f"{path} must be one of {context.get('expected', '?')}{got}"
    if kind_of_error == "string_pattern_mismatch":
        if context.get("pattern") == DURATION_PATTERN:
            return f"{path} must be a duration in seconds or minutes like 30s or 1m{got}"
        return f"{path} must match {context.get('pattern')}{got}"
    if kind_of_error == "value_error":
        return f"{path}: {context.get('error', detail['msg'])}"
    expected = _expected_type(kind_of_error)
    if expected:
        return f"{path} must be {expected}{got}"
    return f"{path}: {detail['msg']}{got}"


def _range_text(kind: str, path: str, context: dict[str, Any]) -> str:
    """Both bounds when the schema has both, so the message says the whole valid range."""
    node = schema_at(kind, path) or {}
    low = node.get("minimum", context.get("ge", context.get("gt")))
    high = node.get("maximum", context.get("le", context.get("lt")))
    if low is not None and high is not None:
        return f"between {low} and {high}"
    if "gt" in context:
        return f"greater than {context['gt']}"
    if "lt" in context:
        return f"less than {context['lt']}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _expected_type(error_type: str) -> str | None:
    base = error_type.split("_", 1)[0]
    if error_type.endswith(("_type", "_parsing", "_from_float")) and base in _TYPE_NAMES:
        return _TYPE_NAMES[base]
    if error_type in {"model_type", "model_attributes_type", "dict_type"}:
        return "a mapping"
    return None


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, bool):
        text = "true" if value else "false"
    return text if len(text) <= 60 else text[:57] + "..."
