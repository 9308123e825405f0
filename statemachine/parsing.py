"""Turn a raw Rollout dict (as the API returns it) into `statemachine.models` dataclasses.

Room: plan (pure). Parsing checks only shapes and types; semantic rules live in `validation`.
It never raises anything but `models.InvalidSpec`, whose message names the field at fault.
"""

from __future__ import annotations

from typing import Any

from statemachine import bluegreen_spec, models, revision_history
from statemachine.field_reader import FieldReader
from statemachine.go_text import field_error, go_duration_seconds, go_quote, parse_duration_seconds

# the go_text names stay exported here: callers know them as `parsing.field_error` and so on
__all__ = ["field_error", "go_duration_seconds", "go_quote", "parse_duration_seconds", "parse_rollout"]

_CANARY = "spec.strategy.canary"


def parse_rollout(obj: Any, *, template_resolved: bool = False) -> models.Rollout:
    """Parse a Rollout dict; raises `models.InvalidSpec` (only) when a field has the wrong shape.

    `template_resolved` marks a Rollout whose template came from its `spec.workloadRef`.
    """
    if not isinstance(obj, dict):
        raise models.InvalidSpec(f"a Rollout must be a JSON object, got {type(obj).__name__}")
    raw_metadata = obj.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    raw_name = metadata.get("name")
    name = raw_name if isinstance(raw_name, str) else ""
    r = FieldReader(name)
    namespace = r.string(metadata, "namespace", "metadata") or "default"
    spec = r.mapping(obj, "spec", "")
    strategy = r.mapping(spec, "strategy", "spec")
    canary_dict = r.opt_mapping(strategy, "canary", "spec.strategy")
    kind = "canary" if canary_dict is not None else ("blueGreen" if "blueGreen" in strategy else "")
    replicas = r.integer(spec, "replicas", "spec")
    generation = metadata.get("generation")
    return models.Rollout(
        namespace=namespace,
        name=name,
        uid=r.string(metadata, "uid", "metadata"),
        generation=generation if isinstance(generation, int) and not isinstance(generation, bool) else 0,
        resource_version=r.string(metadata, "resourceVersion", "metadata"),
        labels=_string_pairs(metadata.get("labels")),
        annotations=_string_pairs(metadata.get("annotations")),
        replicas=1 if replicas is None else replicas,
        paused=r.boolean(spec, "paused", "spec"),
        restart_at=r.string(spec, "restartAt", "spec") or None,
        progress_deadline_seconds=_deadline(r.integer(spec, "progressDeadlineSeconds", "spec")),
        progress_deadline_abort=r.boolean(spec, "progressDeadlineAbort", "spec"),
        rollback_window_revisions=r.integer(r.mapping(spec, "rollbackWindow", "spec"), "revisions",
                                            "spec.rollbackWindow"),
        selector=r.mapping(spec, "selector", "spec"),
        has_selector=spec.get("selector") is not None,
        template=r.mapping(spec, "template", "spec"),
        workload_ref=_parse_workload_ref(r, r.opt_mapping(spec, "workloadRef", "spec")),
        template_resolved=template_resolved and spec.get("workloadRef") is not None,
        canary=_parse_canary(r, canary_dict) if canary_dict is not None else None,
        blue_green=bluegreen_spec.parse_blue_green(obj) if canary_dict is None else None,
        revision_history_limit=revision_history.revision_history_limit(obj),
        strategy_kind=kind,
        status=_parse_status(r, r.mapping(obj, "status", "")),
        raw_status=r.mapping(obj, "status", ""),
    )


def _parse_workload_ref(r: FieldReader, ref: dict[str, Any] | None) -> models.WorkloadRef | None:
    if ref is None:
        return None
    path = "spec.workloadRef"
    return models.WorkloadRef(api_version=r.string(ref, "apiVersion", path), kind=r.string(ref, "kind", path),
                              name=r.string(ref, "name", path), scale_down=r.string(ref, "scaleDown", path))


def _deadline(seconds: int | None) -> int:
    return 600 if seconds is None else seconds  # the reference's defaults.DefaultProgressDeadlineSeconds


def _string_pairs(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple(sorted((str(k), v) for k, v in value.items() if isinstance(v, str)))


UNSUPPORTED_CANARY_FIELDS: tuple[str, ...] = ()
"""Honoured by the reference, not by us yet: a safety gate must not vanish silently (none left)."""


def _parse_canary(r: FieldReader, canary: dict[str, Any]) -> models.CanaryStrategy:
    routing = r.opt_mapping(canary, "trafficRouting", _CANARY)
    alb = None
    managed: tuple[str, ...] = ()
    others: tuple[str, ...] = ()
    max_weight = None
    if routing is not None:
        path = f"{_CANARY}.trafficRouting"
        alb_dict = r.opt_mapping(routing, "alb", path)
        alb = _parse_alb(r, alb_dict) if alb_dict is not None else None
        routes = r.items(routing, "managedRoutes", path) or []
        names = []
        for i, route in enumerate(routes):
            if not isinstance(route, dict) or not isinstance(route.get("name"), str):
                raise r.fail(f"{path}.managedRoutes[{i}]", route, "must be an object with a string name")
            names.append(route["name"])
        managed = tuple(names)
        others = tuple(sorted(k for k in routing if k not in ("alb", "managedRoutes", "maxTrafficWeight")))
        max_weight = r.integer(routing, "maxTrafficWeight", path)
    ping_pong_dict = r.opt_mapping(canary, "pingPong", _CANARY)
    ping_pong = None
    if ping_pong_dict is not None:
        ping_pong = models.PingPong(
            ping_service=r.string(ping_pong_dict, "pingService", f"{_CANARY}.pingPong"),
            pong_service=r.string(ping_pong_dict, "pongService", f"{_CANARY}.pingPong"),
        )
    steps = r.items(canary, "steps", _CANARY) or []
    return models.CanaryStrategy(
        canary_service=r.string(canary, "canaryService", _CANARY),
        stable_service=r.string(canary, "stableService", _CANARY),
        ping_pong=ping_pong,
        steps=tuple(_parse_step(r, step, i) for i, step in enumerate(steps)),
        alb=alb,
        managed_routes=managed,
        max_traffic_weight=max_weight,
        has_traffic_routing=routing is not None,
        other_traffic_routers=others,
        dynamic_stable_scale=r.boolean(canary, "dynamicStableScale", _CANARY),
        abort_scale_down_delay_seconds=r.integer(canary, "abortScaleDownDelaySeconds", _CANARY),
        scale_down_delay_seconds=r.integer(canary, "scaleDownDelaySeconds", _CANARY),
        min_pods_per_replica_set=r.integer(canary, "minPodsPerReplicaSet", _CANARY),
        max_surge=_int_or_string(r, canary, "maxSurge"),
        max_unavailable=_int_or_string(r, canary, "maxUnavailable"),
        unsupported_fields=tuple(name for name in UNSUPPORTED_CANARY_FIELDS if canary.get(name) is not None),
        anti_affinity=r.opt_mapping(canary, "antiAffinity", _CANARY),
        analysis=r.opt_mapping(canary, "analysis", _CANARY),
    )


def _int_or_string(r: FieldReader, canary: dict[str, Any], key: str) -> int | str | None:
    """An IntOrString field (maxSurge, maxUnavailable) as written; its meaning is basic_canary's to decide."""
    value = canary.get(key)
    if value is None or (isinstance(value, int | str) and not isinstance(value, bool)):
        return value
    raise r.fail(f"{_CANARY}.{key}", value, "must be an integer or a percentage string")


def _parse_alb(r: FieldReader, alb: dict[str, Any]) -> models.AlbRouting:
    path = f"{_CANARY}.trafficRouting.alb"
    stickiness_dict = r.opt_mapping(alb, "stickinessConfig", path)
    stickiness = None
    if stickiness_dict is not None:
        duration = r.integer(stickiness_dict, "durationSeconds", f"{path}.stickinessConfig")
        stickiness = models.Stickiness(
            enabled=r.boolean(stickiness_dict, "enabled", f"{path}.stickinessConfig"),
            duration_seconds=duration or 0,
        )
    port = r.integer(alb, "servicePort", path)
    return models.AlbRouting(
        ingress=r.string(alb, "ingress", path) or None,
        ingresses=r.strings(alb, "ingresses", path),
        service_port=port or 0,
        root_service=r.string(alb, "rootService", path),
        annotation_prefix=r.string(alb, "annotationPrefix", path),
        stickiness=stickiness,
    )


def _parse_step(r: FieldReader, step: Any, index: int) -> models.Step:
    path = f"{_CANARY}.steps[{index}]"
    if not isinstance(step, dict) or len(step) != 1:
        raise r.fail(path, step, "a step must set exactly one of setWeight, pause, setCanaryScale, "
                     "setHeaderRoute, setMirrorRoute, experiment, analysis, plugin")
    ((kind, body),) = step.items()
    if kind == "setWeight":
        weight = r.integer(step, "setWeight", path)
        return models.SetWeight(weight=weight or 0)
    if kind == "pause":
        return _parse_pause(r, body, path)
    if kind == "setCanaryScale":
        body = r.mapping(step, kind, path)
        return models.SetCanaryScale(
            weight=r.integer(body, "weight", f"{path}.setCanaryScale"),
            replicas=r.integer(body, "replicas", f"{path}.setCanaryScale"),
            match_traffic_weight=r.boolean(body, "matchTrafficWeight", f"{path}.setCanaryScale"),
        )
    if kind == "setHeaderRoute":
        return _parse_header_route(r, r.mapping(step, kind, path), f"{path}.setHeaderRoute")
    if kind == "setMirrorRoute":
        body = r.mapping(step, kind, path)
        return models.SetMirrorRoute(name=r.string(body, "name", f"{path}.setMirrorRoute"))
    if kind == "experiment":
        return models.Experiment()
    if kind == "analysis":
        return models.Analysis(raw=r.mapping(step, kind, path))
    if kind == "plugin":
        body = r.mapping(step, kind, path)
        return models.Plugin(name=r.string(body, "name", f"{path}.plugin"))
    raise r.fail(path, kind, "unknown step type")


def _parse_pause(r: FieldReader, body: Any, path: str) -> models.Pause:
    if body is None:
        return models.Pause()
    if not isinstance(body, dict):
        raise r.fail(f"{path}.pause", body, "must be an object")
    raw = body.get("duration")
    if raw is None:
        return models.Pause()
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise r.fail(f"{path}.pause.duration", raw, "must be an integer or a duration string")
    seconds = parse_duration_seconds(raw)
    if seconds is None:
        raise r.fail(f"{path}.pause.duration", raw, "invalid duration (use seconds, or units: 30s, 5m, 1h)")
    return models.Pause(duration_seconds=seconds, raw=raw)


def _parse_header_route(r: FieldReader, body: dict[str, Any], path: str) -> models.SetHeaderRoute:
    name = r.string(body, "name", path)
    matches = r.items(body, "match", path)
    if matches is None:
        return models.SetHeaderRoute(name=name, match=None)
    parsed = []
    for i, match in enumerate(matches):
        mpath = f"{path}.match[{i}]"
        if not isinstance(match, dict):
            raise r.fail(mpath, match, "must be an object")
        value = r.opt_mapping(match, "headerValue", mpath)
        vpath = f"{mpath}.headerValue"
        parsed.append(models.HeaderMatch(
            header_name=r.string(match, "headerName", mpath),
            exact=r.string(value, "exact", vpath) or None if value else None,
            prefix=r.string(value, "prefix", vpath) or None if value else None,
            regex=r.string(value, "regex", vpath) or None if value else None,
            has_value=value is not None,
        ))
    return models.SetHeaderRoute(name=name, match=tuple(parsed))


def _parse_status(r: FieldReader, status: dict[str, Any]) -> models.RolloutStatus:
    canary = r.mapping(status, "canary", "status")
    pause_conditions = tuple(
        models.PauseCondition(reason=str(p.get("reason", "")), start_time=str(p.get("startTime", "")))
        for p in (r.items(status, "pauseConditions", "status") or []) if isinstance(p, dict)
    )
    conditions = tuple(
        models.Condition(
            type=str(c.get("type", "")), status=str(c.get("status", "")), reason=str(c.get("reason", "")),
            message=str(c.get("message", "")), last_update_time=str(c.get("lastUpdateTime", "")),
            last_transition_time=str(c.get("lastTransitionTime", "")),
        )
        for c in (r.items(status, "conditions", "status") or []) if isinstance(c, dict)
    )
    observed = status.get("observedGeneration")
    albs = r.items(status, "albs", "status")
    return models.RolloutStatus(
        abort=r.boolean(status, "abort", "status"),
        aborted_at=r.string(status, "abortedAt", "status") or None,
        pause_conditions=pause_conditions,
        controller_pause=r.boolean(status, "controllerPause", "status"),
        current_pod_hash=r.string(status, "currentPodHash", "status"),
        current_step_index=r.integer(status, "currentStepIndex", "status"),
        stable_rs=r.string(status, "stableRS", "status"),
        promote_full=r.boolean(status, "promoteFull", "status"),
        phase=r.string(status, "phase", "status"),
        message=r.string(status, "message", "status"),
        conditions=conditions,
        observed_generation="" if observed is None else str(observed),
        replicas=r.integer(status, "replicas", "status") or 0,
        updated_replicas=r.integer(status, "updatedReplicas", "status") or 0,
        ready_replicas=r.integer(status, "readyReplicas", "status") or 0,
        available_replicas=r.integer(status, "availableReplicas", "status") or 0,
        hpa_replicas=r.integer(status, "HPAReplicas", "status") or 0,
        selector=r.string(status, "selector", "status"),
        workload_observed_generation=r.string(status, "workloadObservedGeneration", "status"),
        canary=models.CanaryStatus(
            weights=_parse_weights(r, r.opt_mapping(canary, "weights", "status.canary")),
            stable_ping_pong=r.string(canary, "stablePingPong", "status.canary"),
            step_analysis=_run_ref(canary.get("currentStepAnalysisRunStatus")),
            background_analysis=_run_ref(canary.get("currentBackgroundAnalysisRunStatus")),
        ),
        alb=_parse_alb_status(r.opt_mapping(status, "alb", "status")),
        albs=None if albs is None else tuple(_parse_alb_status(a) or models.AlbStatus() for a in albs),
    )


def _run_ref(value: Any) -> models.AnalysisRunRef | None:
    """A RolloutAnalysisRunStatus; None when absent or nameless."""
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        return None
    return models.AnalysisRunRef(value["name"], str(value.get("status") or ""),
                                 str(value.get("message") or ""))


def _parse_destination(value: Any) -> models.WeightDestination:
    value = value if isinstance(value, dict) else {}
    weight = value.get("weight")
    return models.WeightDestination(
        weight=weight if isinstance(weight, int) and not isinstance(weight, bool) else 0,
        service_name=str(value.get("serviceName", "")),
        pod_template_hash=str(value.get("podTemplateHash", "")),
    )


def _parse_weights(r: FieldReader, weights: dict[str, Any] | None) -> models.TrafficWeights | None:
    if weights is None:
        return None
    verified = weights.get("verified")
    return models.TrafficWeights(
        canary=_parse_destination(weights.get("canary")),
        stable=_parse_destination(weights.get("stable")),
        additional=tuple(_parse_destination(a) for a in (r.items(weights, "additional", "status") or [])),
        verified=verified if isinstance(verified, bool) else None,
    )


def _parse_ref(value: Any) -> models.AwsResourceRef:
    value = value if isinstance(value, dict) else {}
    return models.AwsResourceRef(
        name=str(value.get("name", "")),
        arn=str(value.get("arn", "")),
        full_name=str(value.get("fullName", "")),
    )


def _parse_alb_status(value: Any) -> models.AlbStatus | None:
    if not isinstance(value, dict):
        return None
    return models.AlbStatus(
        load_balancer=_parse_ref(value.get("loadBalancer")),
        canary_target_group=_parse_ref(value.get("canaryTargetGroup")),
        stable_target_group=_parse_ref(value.get("stableTargetGroup")),
        ingress=str(value.get("ingress", "")),
    )
