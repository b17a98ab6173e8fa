"""MetricTemplate rendering: the subset of Go `text/template` that Flagger's queries use.

Supported actions: `{{ name }}`, `{{ namespace }}`, `{{ target }}`, `{{ service }}`,
`{{ ingress }}`, `{{ route }}`, `{{ interval }}` and `{{ variables.<key> }}`, with or without
spaces inside the braces, Go's trim markers (`{{- ` and ` -}}`) and comments (`{{/* */}}`).
Anything else (pipelines, `if`, `range`, `.Field`) raises `TemplateError`, as does an unknown
key: Flagger renders with `missingkey=error`, so a typo fails the check instead of querying
for an empty label.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from canary_operator.api.canary import Canary, CanaryMetric
from canary_operator.metrics.protocol import TemplateError

_ACTION = re.compile(r"\{\{(?P<body>.*?)\}\}", re.DOTALL)
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_KEY = re.compile(rf"(?P<root>{_IDENTIFIER})(?:\.(?P<field>{_IDENTIFIER}))?")
_GO_SPACE = " \t\r\n"
_SHOWN_TEMPLATE_CHARS = 300


def template_variables(canary: Canary, metric: CanaryMetric) -> dict[str, object]:
    """The values a Flagger query template can use for this Canary and metric.

    `route` is `routeRef.name` or the target name; Flagger's Knative special case (the
    latest created revision) needs cluster state and is not modelled here.
    """
    spec = canary.spec
    target = spec.target_ref.name
    return {
        "name": canary.metadata.name,
        "namespace": canary.metadata.namespace,
        "target": target,
        "service": spec.service.name or target,
        "ingress": spec.ingress_ref.name if spec.ingress_ref else target,
        "route": spec.route_ref.name if spec.route_ref else target,
        "interval": metric.interval,
        "variables": dict(metric.template_variables or {}),
    }


def render(
    query_template: str, canary: Canary, metric: CanaryMetric, *, origin: str | None = None
) -> str:
    """Render `query_template` for `canary`'s `metric`; `origin` says where the text came
    from (for example `MetricTemplate istio-system/latency`) in error messages."""
    where = f"Canary {canary.key}: metric {metric.name!r}"
    if origin:
        where = f"{where} ({origin})"
    return render_template(query_template, template_variables(canary, metric), where)


def render_template(query_template: str, values: Mapping[str, object], where: str) -> str:
    """Render `query_template` with `values`; `where` prefixes every error message."""
    pieces: list[str] = []
    position = 0
    trim_next = False
    for match in _ACTION.finditer(query_template):
        text = query_template[position : match.start()]
        body = match.group("body")
        trim_previous = len(body) >= 2 and body[0] == "-" and body[1] in _GO_SPACE
        trim_following = len(body) >= 2 and body[-1] == "-" and body[-2] in _GO_SPACE
        pieces.append(_literal(text, query_template, where, trim_next, trim_previous))
        inner = body[1 if trim_previous else 0 : -1 if trim_following else None].strip(_GO_SPACE)
        pieces.append(_evaluate(inner, values, query_template, where))
        trim_next = trim_following
        position = match.end()
    pieces.append(_literal(query_template[position:], query_template, where, trim_next, False))
    return "".join(pieces)


def _literal(text: str, template: str, where: str, trim_left: bool, trim_right: bool) -> str:
    if "{{" in text:
        raise TemplateError(
            f"{where}: query template has an unclosed '{{{{' (every '{{{{' needs a '}}}}'); "
            f"template: {_shown(template)}",
            key=None,
            template=template,
        )
    if trim_left:
        text = text.lstrip(_GO_SPACE)
    if trim_right:
        text = text.rstrip(_GO_SPACE)
    return text


def _evaluate(action: str, values: Mapping[str, object], template: str, where: str) -> str:
    if action.startswith("/*") and action.endswith("*/"):
        return ""
    written = f"{{{{ {action} }}}}"
    key = _KEY.fullmatch(action)
    if key is None:
        raise TemplateError(
            f"{where}: query template action {written} is not supported; use one of "
            f"{_known_keys(values)}; template: {_shown(template)}",
            key=action,
            template=template,
        )
    root, field = key.group("root"), key.group("field")
    if root not in values:
        raise TemplateError(
            f"{where}: query template uses unknown key {root!r} in {written}; known keys: "
            f"{_known_keys(values)}; template: {_shown(template)}",
            key=action,
            template=template,
        )
    value = values[root]
    if isinstance(value, Mapping):
        if field is None:
            raise TemplateError(
                f"{where}: query template uses {written} without a key; write "
                f"{{{{ {root}.<key> }}}}; template: {_shown(template)}",
                key=action,
                template=template,
            )
        if field not in value:
            present = ", ".join(sorted(value)) or "none"
            raise TemplateError(
                f"{where}: query template uses {written} but templateVariables has no key "
                f"{field!r} (it has: {present}); template: {_shown(template)}",
                key=action,
                template=template,
            )
        return str(value[field])
    if field is not None:
        raise TemplateError(
            f"{where}: query template uses {written} but {root!r} has no fields; "
            f"write {{{{ {root} }}}}; template: {_shown(template)}",
            key=action,
            template=template,
        )
    return str(value)


def _known_keys(values: Mapping[str, object]) -> str:
    return ", ".join(
        f"{key}.<key>" if isinstance(value, Mapping) else key for key, value in values.items()
    )


def _shown(template: str) -> str:
    """The template on one line, shortened: error messages end up in Kubernetes Events."""
    flat = " ".join(template.split())
    if len(flat) > _SHOWN_TEMPLATE_CHARS:
        flat = flat[: _SHOWN_TEMPLATE_CHARS - 3] + "..."
    return repr(flat)
