"""The canary strategy's field checks: the reference's messages for `spec.strategy.canary`, plus ours.

Room: plan (pure). `statemachine.validation` runs them after the selector and template checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from statemachine import anti_affinity, basic_canary, go_text, models

__all__ = ["MAX_STICKINESS_SECONDS", "MIN_STICKINESS_SECONDS", "STICKINESS_DURATION_MESSAGE", "spec_errors"]

MIN_STICKINESS_SECONDS = 1
MAX_STICKINESS_SECONDS = 604800
STICKINESS_DURATION_MESSAGE = (
    "TargetGroupStickinessConfig's duration must be between 1 and 604800 seconds (7 days)!"
)

# Paths below reproduce the reference: its spec checks are rooted at `spec.strategy` (no `.canary`). Our own
# additions always use the full `spec.strategy.canary` path.
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
_UNSUPPORTED_STEP = "step type not supported by alb-rollouts yet"
_SCALE_DOWN_DELAY_UNROUTED = "Canary scaleDownDelaySeconds can only be used with traffic routing"
_DYNAMIC_UNROUTED = "Canary dynamicStableScale can only be used with traffic routing"
_CANARY_SCALE_UNROUTED = "SetCanaryScale requires TrafficRouting to be set"
_HEADER_ROUTE_UNROUTED = "SetHeaderRoute requires TrafficRouting, supports Istio and ALB and Apisix"
_UNSUPPORTED_FIELD = ("not supported by alb-rollouts yet (background analysis would not run: remove it, or "
                      "keep this Rollout on the Argo Rollouts controller)")
_UNSUPPORTED_STEPS: dict[type, str] = {models.Experiment: "experiment", models.Plugin: "plugin"}


def _invalid(path: str, value: Any, detail: str) -> str:
    return go_text.field_error(path, _INVALID, value, detail)


def _invalid_raw(path: str, rendered: str, detail: str) -> str:
    """An Invalid error whose value is already rendered (Go `%#v` of a struct, or a nil pointer's "null")."""
    return f"{path}: {_INVALID}: {rendered}: {detail}"


def _go_string(value: str | None) -> str:
    return go_text.go_quote(value or "")


def _string_match(match: models.HeaderMatch) -> str:
    return (f"v1alpha1.StringMatch{{Exact:{_go_string(match.exact)}, Prefix:{_go_string(match.prefix)}, "
            f"Regex:{_go_string(match.regex)}}}")


def _mirror_route(step: models.SetMirrorRoute) -> str:
    # The model keeps only the name; match and percentage render as unset.
    return (f"v1alpha1.SetMirrorRoute{{Name:{_go_string(step.name)}, Match:[]v1alpha1.RouteMatch(nil), "
            "Percentage:(*int32)(nil)}")


def spec_errors(canary: models.CanaryStrategy) -> Iterator[str]:
    """The canary's field errors in the reference's order: a basic canary's, or those of one routed by alb."""
    if canary.basic:
        yield from _basic_errors(canary)
        return
    if canary.alb is None or canary.other_traffic_routers:
        yield _routing_error(canary)
        return
    yield from _canary_errors(canary, canary.alb)
    yield from _alb_errors(canary.alb)


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
            yield go_text.field_error(f"{_S}.trafficRouting", "Required value", detail=_CANARY_SCALE_UNROUTED)
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
    return go_text.field_error(path, "Required value", detail="trafficRouting names no traffic router: "
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
        yield go_text.field_error(f"{_S}.trafficRouting.managedRoutes", "Required value",
                                  detail=_MANAGED_ROUTES_MISSING)
    elif step.name not in canary.managed_routes:
        yield _invalid(f"{path}.{kind}", step.name, _ROUTE_NOT_MANAGED)


def _alb_errors(alb: models.AlbRouting) -> Iterator[str]:
    """Ours: the reference fails these only when it renders the action (or lets the LBC reject them)."""
    port = alb.service_port
    if port == 0:
        yield go_text.field_error(f"{_ALB}.servicePort", "Required value",
                                  detail="the Services' port the ALB action forwards to (1-65535)")
    elif not 1 <= port <= 65535:
        yield _invalid(f"{_ALB}.servicePort", port, "must be between 1 and 65535, inclusive")
    stickiness = alb.stickiness
    if stickiness is None or not stickiness.enabled:
        return
    if not MIN_STICKINESS_SECONDS <= stickiness.duration_seconds <= MAX_STICKINESS_SECONDS:
        yield _invalid(f"{_ALB}.stickinessConfig.durationSeconds", stickiness.duration_seconds,
                       STICKINESS_DURATION_MESSAGE)
