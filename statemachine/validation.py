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
Helpers for raw Ingress/Service dicts live in `statemachine.ingress_checks`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from statemachine import anti_affinity, basic_canary, bluegreen_spec, ingress_checks, models, parsing

__all__ = [
    "MAX_STICKINESS_SECONDS",
    "MIN_STICKINESS_SECONDS",
    "STICKINESS_DURATION_MESSAGE",
    "check",
    "empty_template",
    "errors",
    "invalid_spec_message",
    "validate",
]

MIN_STICKINESS_SECONDS = 1
MAX_STICKINESS_SECONDS = 604800
STICKINESS_DURATION_MESSAGE = (
    "TargetGroupStickinessConfig's duration must be between 1 and 604800 seconds (7 days)!"
)

# Paths below reproduce the reference: its spec checks are rooted at `spec.strategy` (no `.canary`), while its
# Service/Ingress checks use full paths. Our own additions always use the full `spec.strategy.canary` path.
_S = "spec.strategy"
_CANARY = "spec.strategy.canary"
_ALB = "spec.strategy.canary.trafficRouting.alb"
_INVALID = "Invalid value"

_DUPLICATED_SERVICES = (
    "This rollout uses the same service for the stable and canary services, "
    "but two different services are required."
)
_PING_PONG_MISSING = "Ping service and Pong service must to be set to use Ping-Pong feature"
_DUPLICATED_PING_PONG = (
    "This rollout uses the same service for the ping and pong services, "
    "but two different services are required."
)
_ROOT_SERVICE_MISSING = (
    "Root service field is required for the configuration with ALB and ping-pong feature enabled"
)
_SERVICES_MISSING = "Canary service and Stable service must to be set to use Traffic Routing"
_DYNAMIC_WITH_DELAY = "Canary dynamicStableScale cannot be used with scaleDownDelaySeconds"
# The Go constant reads "only support in" (InvalidCanaryMaxWeightOnlySupportInNginxAndPlugins).
_MAX_WEIGHT = "Canary maxTrafficWeight in traffic routing only support in Nginx and Plugins"
_MATCH_MISSED = "StringMatch value missed, match value must have one of the following: exact, regex, prefix"
_ALB_EXACT_ONLY = "SetHeaderRoute match value invalid. ALB supports 'exact' value only"
_MIRROR_ISTIO_ONLY = "SetMirrorRoute requires TrafficRouting, supports Istio only"
_MANAGED_ROUTES_MISSING = "Rollout has missing field 'spec.strategy.canary.trafficRouting.managedRoutes'"
_ROUTE_NOT_MANAGED = (
    "Steps define a route that does not exist in spec.strategy.canary.trafficRouting.managedRoutes"
)
_STRATEGY_MISSING = "Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'"
_SELECTOR_MISSING = "Rollout has missing field '.spec.selector'"
_SELECTOR_EMPTY = "empty selector is invalid for deployment"
_SELECTOR_MISMATCH = "`selector` does not match template `labels`"
_TEMPLATE_NOT_EMPTY = "template must be empty for workload reference rollout"
_UNSUPPORTED_STEP = "step type not supported by alb-rollouts yet"
_SCALE_DOWN_DELAY_UNROUTED = "Canary scaleDownDelaySeconds can only be used with traffic routing"
_DYNAMIC_UNROUTED = "Canary dynamicStableScale can only be used with traffic routing"
_CANARY_SCALE_UNROUTED = "SetCanaryScale requires TrafficRouting to be set"
_HEADER_ROUTE_UNROUTED = "SetHeaderRoute requires TrafficRouting, supports Istio and ALB and Apisix"
_UNSUPPORTED_FIELD = ("not supported by alb-rollouts yet (background analysis would not run: remove it, or "
                      "keep this Rollout on the Argo Rollouts controller)")
_UNSUPPORTED_STEPS: dict[type, str] = {models.Experiment: "experiment", models.Plugin: "plugin"}


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
    return parsing.field_error(path, _INVALID, value, detail)


def _invalid_raw(path: str, rendered: str, detail: str) -> str:
    """An Invalid error whose value is already rendered (Go `%#v` of a struct, or a nil pointer's "null")."""
    return f"{path}: {_INVALID}: {rendered}: {detail}"


def _go_string(value: str | None) -> str:
    return parsing.go_quote(value or "")


def _string_match(match: models.HeaderMatch) -> str:
    return (f"v1alpha1.StringMatch{{Exact:{_go_string(match.exact)}, Prefix:{_go_string(match.prefix)}, "
            f"Regex:{_go_string(match.regex)}}}")


def _mirror_route(step: models.SetMirrorRoute) -> str:
    # The model keeps only the name; match and percentage render as unset.
    return (f"v1alpha1.SetMirrorRoute{{Name:{_go_string(step.name)}, Match:[]v1alpha1.RouteMatch(nil), "
            "Percentage:(*int32)(nil)}")


# --- the Rollout spec (reference validation.go order, our additions where they fit) ------------------


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
            yield parsing.field_error(f"{_S}.strategy", "Required value", detail=_STRATEGY_MISSING)
        return
    if canary.basic:
        yield from _basic_errors(canary)
        return
    if canary.alb is None or canary.other_traffic_routers:
        yield _routing_error(canary)
        return
    yield from _canary_errors(canary, canary.alb)
    yield from _alb_errors(canary.alb)


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
            yield parsing.field_error("spec.selector", "Required value", detail=_SELECTOR_MISSING)
        elif not rollout.selector.get("matchLabels") and not rollout.selector.get("matchExpressions"):
            yield _invalid_raw("spec.selector", _go_label_selector(rollout.selector), _SELECTOR_EMPTY)
    elif not rollout.template_resolved and not empty_template(rollout.template):
        # the reference's lint path; a reconcile says it on spec.workloadRef first (workload_refs)
        yield parsing.field_error("spec.template", "Internal error", detail=_TEMPLATE_NOT_EMPTY)
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
    inner = ", ".join(f"{parsing.go_quote(k)}:{parsing.go_quote(v)}" for k, v in pairs)
    return f"map[string]string{{{inner}}}"


def _go_label_selector(selector: Mapping[str, Any]) -> str:
    """Go `%#v` of an empty metav1.LabelSelector (the only one `empty selector is invalid` is said of)."""
    labels = selector.get("matchLabels")
    expressions = selector.get("matchExpressions")
    shown_expressions = ("[]v1.LabelSelectorRequirement(nil)" if expressions is None
                         else "[]v1.LabelSelectorRequirement{}")
    return (f"v1.LabelSelector{{MatchLabels:{_go_string_map(labels)}, "
            f"MatchExpressions:{shown_expressions}}}")


def _basic_errors(canary: models.CanaryStrategy) -> Iterator[str]:
    """A canary without trafficRouting (reference ValidateRolloutStrategyCanary, TrafficRouting nil)."""
    yield from basic_canary.surge_unavailable_errors(canary.max_surge, canary.max_unavailable, strict=True)
    stable, canary_svc = canary.stable_service, canary.canary_service
    if canary_svc and canary_svc == stable:
        yield _invalid(f"{_S}.stableService", stable, _DUPLICATED_SERVICES)
    if canary.scale_down_delay_seconds is not None:
        yield _invalid(f"{_S}.scaleDownDelaySeconds", canary.scale_down_delay_seconds,
                       _SCALE_DOWN_DELAY_UNROUTED)
    if canary.dynamic_stable_scale:
        yield _invalid(f"{_S}.dynamicStableScale", True, _DYNAMIC_UNROUTED)
    for field_name in canary.unsupported_fields:
        yield _invalid(f"{_CANARY}.{field_name}", field_name, _UNSUPPORTED_FIELD)
    for index, step in enumerate(canary.steps):
        if isinstance(step, models.SetCanaryScale):
            yield parsing.field_error(f"{_S}.trafficRouting", "Required value", detail=_CANARY_SCALE_UNROUTED)
        elif isinstance(step, models.SetHeaderRoute):
            yield _invalid(f"{_S}.steps[{index}].setHeaderRoute", step.name, _HEADER_ROUTE_UNROUTED)
        else:
            yield from _step_errors(index, step, canary, 100)
    yield from anti_affinity.errors(canary.anti_affinity)


def _routing_error(canary: models.CanaryStrategy) -> str:
    """Ours: why a canary not routed by alb alone cannot be served."""
    path = f"{_CANARY}.trafficRouting"
    others = list(canary.other_traffic_routers)
    if canary.alb is not None:
        return _invalid(path, ["alb", *others], "alb-rollouts routes with alb alone; remove the others")
    if others:
        value: Any = others[0] if len(others) == 1 else others
        return _invalid(path, value, "traffic router not supported by alb-rollouts (only alb)")
    return parsing.field_error(path, "Required value", detail="trafficRouting names no traffic router: "
                               "add trafficRouting.alb, or remove trafficRouting for a basic canary")


def _canary_errors(canary: models.CanaryStrategy, alb: models.AlbRouting) -> Iterator[str]:
    stable, canary_svc = canary.stable_service, canary.canary_service
    if canary_svc and canary_svc == stable:
        yield _invalid(f"{_S}.stableService", stable, _DUPLICATED_SERVICES)
    ping_pong = canary.ping_pong
    if ping_pong is not None:
        if not ping_pong.ping_service:
            yield _invalid(f"{_S}.pingPong.pingService", "", _PING_PONG_MISSING)
        if not ping_pong.pong_service:
            yield _invalid(f"{_S}.pingPong.pongService", "", _PING_PONG_MISSING)
        if ping_pong.ping_service == ping_pong.pong_service:
            yield _invalid(f"{_S}.pingPong.pingService", ping_pong.ping_service, _DUPLICATED_PING_PONG)
        if not alb.root_service:
            yield _invalid(f"{_S}.trafficRouting.alb.rootService", "", _ROOT_SERVICE_MISSING)
    else:
        if not stable:
            yield _invalid(f"{_S}.stableService", "", _SERVICES_MISSING)
        if not canary_svc:
            yield _invalid(f"{_S}.canaryService", "", _SERVICES_MISSING)
    if canary.scale_down_delay_seconds is not None and canary.dynamic_stable_scale:
        yield _invalid(f"{_S}.dynamicStableScale", True, _DYNAMIC_WITH_DELAY)
    if canary.max_traffic_weight is not None:
        yield _invalid(f"{_S}.trafficRouting.maxTrafficWeight", canary.max_traffic_weight, _MAX_WEIGHT)
    for field_name in canary.unsupported_fields:
        yield _invalid(f"{_CANARY}.{field_name}", field_name, _UNSUPPORTED_FIELD)
    max_weight = canary.max_traffic_weight if canary.max_traffic_weight is not None else 100
    for index, step in enumerate(canary.steps):
        yield from _step_errors(index, step, canary, max_weight)
    yield from anti_affinity.errors(canary.anti_affinity)


def _step_errors(
    index: int, step: models.Step, canary: models.CanaryStrategy, max_weight: int
) -> Iterator[str]:
    path = f"{_S}.steps[{index}]"
    unsupported = _UNSUPPORTED_STEPS.get(type(step))
    if unsupported is not None:
        yield _invalid(f"{_CANARY}.steps[{index}]", unsupported, _UNSUPPORTED_STEP)
        return
    if isinstance(step, models.SetWeight) and not 0 <= step.weight <= max_weight:
        yield _invalid(f"{path}.setWeight", step.weight, f"SetWeight needs to be between 0 and {max_weight}")
    elif isinstance(step, models.Pause) and step.duration_seconds is not None and step.duration_seconds < 0:
        yield _invalid(f"{path}.pause.duration", step.duration_seconds, "Duration needs to be greater than 0")
    elif isinstance(step, models.SetCanaryScale):
        yield from _canary_scale_errors(index, step)
    elif isinstance(step, models.SetHeaderRoute | models.SetMirrorRoute):
        yield from _route_errors(path, step, canary)


def _canary_scale_errors(index: int, step: models.SetCanaryScale) -> Iterator[str]:
    path = f"{_CANARY}.steps[{index}].setCanaryScale"
    if step.weight is not None and not 0 <= step.weight <= 100:
        yield _invalid(f"{path}.weight", step.weight, "must be between 0 and 100")
    if step.replicas is not None and step.replicas < 0:
        yield _invalid(f"{path}.replicas", step.replicas, "must be greater than or equal to 0")


def _route_errors(
    path: str, step: models.SetHeaderRoute | models.SetMirrorRoute, canary: models.CanaryStrategy
) -> Iterator[str]:
    if isinstance(step, models.SetHeaderRoute):
        kind = "setHeaderRoute"
        for j, match in enumerate(step.match or ()):
            where = f"{path}.setHeaderRoute.match[{j}]"
            if not match.has_value:
                yield _invalid_raw(where, '"null"', _MATCH_MISSED)
            elif not match.exact or match.prefix or match.regex:
                yield _invalid_raw(where, _string_match(match), _ALB_EXACT_ONLY)
    else:
        kind = "setMirrorRoute"
        yield _invalid_raw(f"{path}.setMirrorRoute", _mirror_route(step), _MIRROR_ISTIO_ONLY)
    # The model cannot tell `managedRoutes: []` from a missing field; both read as missing.
    if not canary.managed_routes:
        yield parsing.field_error(f"{_S}.trafficRouting.managedRoutes", "Required value",
                                  detail=_MANAGED_ROUTES_MISSING)
    elif step.name not in canary.managed_routes:
        yield _invalid(f"{path}.{kind}", step.name, _ROUTE_NOT_MANAGED)


def _alb_errors(alb: models.AlbRouting) -> Iterator[str]:
    """Ours: the reference fails these only when it renders the action (or lets the LBC reject them)."""
    port = alb.service_port
    if port == 0:
        yield parsing.field_error(f"{_ALB}.servicePort", "Required value",
                                  detail="the Services' port the ALB action forwards to (1-65535)")
    elif not 1 <= port <= 65535:
        yield _invalid(f"{_ALB}.servicePort", port, "must be between 1 and 65535, inclusive")
    stickiness = alb.stickiness
    if stickiness is None or not stickiness.enabled:
        return
    if not MIN_STICKINESS_SECONDS <= stickiness.duration_seconds <= MAX_STICKINESS_SECONDS:
        yield _invalid(f"{_ALB}.stickinessConfig.durationSeconds", stickiness.duration_seconds,
                       STICKINESS_DURATION_MESSAGE)


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
        yield parsing.field_error(_ALB, "Internal error",
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
