"""Validating a parsed Rollout: the InvalidSpec message the reference shows, plus our stricter rules.

Room: plan (pure). Never raises (but `check`, whose job it is), never does I/O, never mutates its inputs.

Public API:
- `validate(rollout, *, ingresses=None, services=None) -> str | None`: the message of the InvalidSpec
  condition, `The Rollout "<name>" is invalid: <field error>`, first match in the reference's order
  (reference §1.7, `validation.go` then the referenced-resource checks), or None when the Rollout is valid.
- `errors(...) -> list[str]`: every message, in that order (the first is what `validate` returns).
- `check(...)`: raises `models.InvalidSpec(message)` when `validate` finds something.
`ingresses` / `services` are raw API dicts keyed by name, in the Rollout's namespace. None means "not known":
existence and content checks are skipped (offline `plan` without Services); an empty mapping means none exist.
Helpers for raw Ingress/Service dicts live in `statemachine.ingress_checks`; the canary strategy's checks in
`statemachine.canary_validation`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from statemachine import bluegreen_spec, canary_validation, go_text, ingress_checks, models

__all__ = ["check", "empty_template", "errors", "invalid_spec_message", "validate"]

# Paths below reproduce the reference: its spec checks are rooted at `spec.strategy` (no `.canary`), while its
# Service/Ingress checks use full paths.
_S = "spec.strategy"
_CANARY = "spec.strategy.canary"
_ALB = "spec.strategy.canary.trafficRouting.alb"
_INVALID = "Invalid value"

_STRATEGY_MISSING = "Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'"
_SELECTOR_MISSING = "Rollout has missing field '.spec.selector'"
_SELECTOR_EMPTY = "empty selector is invalid for deployment"
_SELECTOR_MISMATCH = "`selector` does not match template `labels`"
_TEMPLATE_NOT_EMPTY = "template must be empty for workload reference rollout"


def invalid_spec_message(rollout_name: str, field_error: str) -> str:
    """The condition message for one field error, as the reference formats it."""
    return f'The Rollout "{rollout_name}" is invalid: {field_error}'


def validate(
    rollout: models.Rollout,
    *,
    ingresses: Mapping[str, Any] | None = None,
    services: Mapping[str, Any] | None = None,
) -> str | None:
    """The InvalidSpec message for the first problem, in the reference's order; None when valid."""
    found = errors(rollout, ingresses=ingresses, services=services)
    return found[0] if found else None


def check(
    rollout: models.Rollout,
    *,
    ingresses: Mapping[str, Any] | None = None,
    services: Mapping[str, Any] | None = None,
) -> None:
    """Raise `models.InvalidSpec` with the message `validate` returns, if any."""
    message = validate(rollout, ingresses=ingresses, services=services)
    if message is not None:
        raise models.InvalidSpec(message)


def errors(
    rollout: models.Rollout,
    *,
    ingresses: Mapping[str, Any] | None = None,
    services: Mapping[str, Any] | None = None,
) -> list[str]:
    """Every InvalidSpec message in order; resources are looked at only when the spec itself is valid."""
    field_errors = list(_spec_errors(rollout))
    canary = rollout.canary
    alb = canary.alb if canary is not None else None
    if not field_errors and canary is not None and alb is not None:
        field_errors = list(_resource_errors(rollout, canary, alb, ingresses, services))
    if not field_errors and rollout.blue_green is not None and services is not None:
        labels = (rollout.template.get("metadata") or {}).get("labels") or {}
        field_errors = list(bluegreen_spec.service_errors(rollout.blue_green, rollout_name=rollout.name,
                                                          template_labels=labels, services=services))
    return [invalid_spec_message(rollout.name, error) for error in field_errors]


# --- field-error formatting -------------------------------------------------------------------------


def _invalid(path: str, value: Any, detail: str) -> str:
    return go_text.field_error(path, _INVALID, value, detail)


def _invalid_raw(path: str, rendered: str, detail: str) -> str:
    """An Invalid error whose value is already rendered (Go `%#v` of a struct, or a nil pointer's "null")."""
    return f"{path}: {_INVALID}: {rendered}: {detail}"


# --- the Rollout spec (reference validation.go order; the canary's in canary_validation) -----------------


def _spec_errors(rollout: models.Rollout) -> Iterator[str]:
    if rollout.replicas < 0:
        yield _invalid("spec.replicas", rollout.replicas, "must be greater than or equal to 0")
    yield from _template_errors(rollout)
    canary = rollout.canary
    if canary is None:
        if rollout.blue_green is not None:
            yield from bluegreen_spec.spec_errors(rollout.blue_green,
                                                  revision_history_limit=rollout.revision_history_limit)
        else:
            yield go_text.field_error(f"{_S}.strategy", "Required value", detail=_STRATEGY_MISSING)
        return
    yield from canary_validation.spec_errors(canary)


def empty_template(template: Any) -> bool:
    """RolloutSpec.EmptyTemplate: a template without labels and annotations (containers do not count)."""
    metadata = template.get("metadata") if isinstance(template, Mapping) else None
    if not isinstance(metadata, Mapping):
        return True
    return not metadata.get("labels") and not metadata.get("annotations")


def _template_errors(rollout: models.Rollout) -> Iterator[str]:
    """Selector and pod template (reference ValidateRolloutSpec, then ValidatePodTemplateSpecForReplicaSet for
    the selector match and the containers): a Rollout with neither template nor workloadRef stops here,
    never reaching a ReplicaSet without containers."""
    ref = rollout.workload_ref
    if ref is None:
        if not rollout.has_selector:
            yield go_text.field_error("spec.selector", "Required value", detail=_SELECTOR_MISSING)
        elif not rollout.selector.get("matchLabels") and not rollout.selector.get("matchExpressions"):
            yield _invalid_raw("spec.selector", _go_label_selector(rollout.selector), _SELECTOR_EMPTY)
    elif not rollout.template_resolved and not empty_template(rollout.template):
        # the reference's lint path; a reconcile says it on spec.workloadRef first (workload_refs)
        yield go_text.field_error("spec.template", "Internal error", detail=_TEMPLATE_NOT_EMPTY)
    if ref is not None and not rollout.template_resolved:
        return  # not resolved yet: nothing to validate the template of
    metadata = rollout.template.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    selector = rollout.selector if rollout.has_selector else None
    if not _selects(selector, labels if isinstance(labels, Mapping) else {}):
        yield _invalid_raw("spec.template.metadata.labels", _go_string_map(labels), _SELECTOR_MISMATCH)
    spec = rollout.template.get("spec")
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    if not isinstance(containers, list) or not containers:
        yield "spec.template.spec.containers: Required value"  # field.Required(path, ""): no detail


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, Any]) -> bool:
    """metav1.LabelSelectorAsSelector(selector).Matches(labels); a nil selector matches nothing, an empty one
    everything (ValidatePodTemplateSpecForReplicaSet skips the check for an empty one)."""
    if selector is None:
        return False
    match_labels = selector.get("matchLabels")
    for key, value in (match_labels.items() if isinstance(match_labels, Mapping) else ()):
        if labels.get(key) != value:
            return False
    expressions = selector.get("matchExpressions")
    for item in expressions if isinstance(expressions, list) else ():
        if not isinstance(item, Mapping):
            continue
        key, operator = str(item.get("key") or ""), item.get("operator")
        raw_values = item.get("values")
        values: list[Any] = raw_values if isinstance(raw_values, list) else []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if (operator == "Exists" and not present) or (operator == "DoesNotExist" and present):
            return False
    return True


def _go_string_map(value: Any) -> str:
    """Go `%#v` of a map[string]string: nil, {} or sorted `"k":"v"` pairs."""
    if value is None:
        return "map[string]string(nil)"
    pairs = sorted((str(k), str(v)) for k, v in value.items()) if isinstance(value, Mapping) else []
    inner = ", ".join(f"{go_text.go_quote(k)}:{go_text.go_quote(v)}" for k, v in pairs)
    return f"map[string]string{{{inner}}}"


def _go_label_selector(selector: Mapping[str, Any]) -> str:
    """Go `%#v` of an empty metav1.LabelSelector (the only one `empty selector is invalid` is said of)."""
    labels = selector.get("matchLabels")
    expressions = selector.get("matchExpressions")
    shown_expressions = ("[]v1.LabelSelectorRequirement(nil)" if expressions is None
                         else "[]v1.LabelSelectorRequirement{}")
    return (f"v1.LabelSelector{{MatchLabels:{_go_string_map(labels)}, "
            f"MatchExpressions:{shown_expressions}}}")


# --- referenced Services and Ingresses (reference controller.go order) -------------------------------


def _service_refs(canary: models.CanaryStrategy) -> list[tuple[str, str]]:
    refs = [(f"{_CANARY}.stableService", canary.stable_service),
            (f"{_CANARY}.canaryService", canary.canary_service)]
    if canary.ping_pong is not None:
        refs += [(f"{_CANARY}.pingPong.pingService", canary.ping_pong.ping_service),
                 (f"{_CANARY}.pingPong.pongService", canary.ping_pong.pong_service)]
    # The rootService is an action name, not necessarily a Service (the LBC does not require one).
    return [(path, name) for path, name in refs if name]


def _resource_errors(
    rollout: models.Rollout,
    canary: models.CanaryStrategy,
    alb: models.AlbRouting,
    ingresses: Mapping[str, Any] | None,
    services: Mapping[str, Any] | None,
) -> Iterator[str]:
    refs = _service_refs(canary)
    if services is not None:
        for path, name in refs:
            if name not in services:
                yield _invalid(path, name, f'service "{name}" not found')
                return
    # Empty `ingresses` is dropped by the reference's remarshal (omitempty), so it counts as unset.
    single, multi = bool(alb.ingress), bool(alb.ingresses)
    if single == multi:
        both = "Both are configured." if single else "Neither are configured."
        yield go_text.field_error(_ALB, "Internal error",
                                  detail=f"Either Ingress or Ingresses must be configured. {both}")
        return
    names = (alb.ingresses or ()) if multi else (alb.ingress or "",)
    path = f"{_ALB}.ingresses" if multi else f"{_ALB}.ingress"
    if ingresses is not None:
        for name in names:
            if name not in ingresses:
                yield _invalid(path, list(names) if multi else name,
                               f'ingress.networking.k8s.io "{name}" not found')
                return
    if services is not None:
        for ref_path, name in refs:
            owner = ingress_checks.managed_by(services[name])
            if owner is not None and owner != rollout.name:
                yield _invalid(ref_path, name, f'Service "{name}" is managed by another Rollout')
    if ingresses is not None:
        action = alb.root_service or canary.stable_service
        for name in names:
            problem = _ingress_problem(ingresses[name], name, action)
            if problem is not None:
                yield _invalid(path, name, problem)


def _ingress_problem(ingress: Any, name: str, action: str) -> str | None:
    shape = ingress_checks.ingress_shape_problem(ingress, name)
    if shape is not None:
        return shape
    if not ingress_checks.ingress_has_service(ingress, action):
        return f"ingress `{name}` has no rules using service {action} backend"
    for where, port in ingress_checks.service_ports(ingress, action):
        if not ingress_checks.is_use_annotation(port):
            port_text = ingress_checks.describe_port(port)
            return (f"ingress `{name}` {where} routes service {action} to {port_text}, "
                    "not to port name use-annotation, so the ALB would not apply the weights")
    return None
