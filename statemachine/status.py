"""Serialise the status fields the controller owns and diff them into one JSON merge patch for `/status`.

Room: plan (pure). Only the fields listed in `MANAGED` are ever written; anything else in the stored status
(for example `alb`, `albs`, analysis state) is left alone. Go's `omitempty` is honoured on both sides so an
unchanged status yields no patch at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statemachine import merge_patch, models

__all__ = ["MANAGED", "label_selector", "status_fields", "status_patch"]

MANAGED = (
    "abort", "abortedAt", "pauseConditions", "controllerPause", "currentPodHash", "currentStepIndex",
    "stableRS", "promoteFull", "phase", "message", "conditions", "observedGeneration", "replicas",
    "updatedReplicas", "readyReplicas", "availableReplicas", "HPAReplicas", "selector",
    "workloadObservedGeneration",
)
_MANAGED_CANARY = ("weights", "stablePingPong", "currentStepAnalysisRunStatus",
                   "currentBackgroundAnalysisRunStatus")
_KEEP_EMPTY = ("currentStepIndex",)


def label_selector(selector: Mapping[str, Any]) -> str:
    """A LabelSelector as Go's metav1.FormatLabelSelector prints it ("app=web,tier in (a,b)"), "<none>" when
    it selects everything."""
    parts: list[tuple[str, str]] = []
    labels = selector.get("matchLabels")
    for key, value in (labels.items() if isinstance(labels, Mapping) else ()):
        parts.append((str(key), f"{key}={value}"))
    expressions = selector.get("matchExpressions")
    for item in expressions if isinstance(expressions, list) else ():
        if not isinstance(item, Mapping):
            continue
        key, operator = str(item.get("key") or ""), str(item.get("operator") or "")
        values = ",".join(sorted(str(v) for v in item.get("values") or []))
        shown = {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key,
                 "DoesNotExist": f"!{key}"}.get(operator)
        if shown is not None:
            parts.append((key, shown))
    return ",".join(text for _, text in sorted(parts)) or "<none>"


def _destination(destination: models.WeightDestination) -> dict[str, Any]:
    out: dict[str, Any] = {"weight": destination.weight}
    if destination.service_name:
        out["serviceName"] = destination.service_name
    if destination.pod_template_hash:
        out["podTemplateHash"] = destination.pod_template_hash
    return out


def _weights(weights: models.TrafficWeights) -> dict[str, Any]:
    out: dict[str, Any] = {"canary": _destination(weights.canary), "stable": _destination(weights.stable)}
    if weights.additional:
        out["additional"] = [_destination(d) for d in weights.additional]
    if weights.verified is not None:
        out["verified"] = weights.verified
    return out


def _condition(condition: models.Condition) -> dict[str, Any]:
    return {
        "type": condition.type, "status": condition.status,
        "lastUpdateTime": condition.last_update_time, "lastTransitionTime": condition.last_transition_time,
        "reason": condition.reason, "message": condition.message,
    }


def status_fields(status: models.RolloutStatus) -> dict[str, Any]:
    """The managed fields of a status as the API stores them (Go JSON names, empty values omitted)."""
    fields: dict[str, Any] = {
        "abort": status.abort,
        "abortedAt": status.aborted_at,
        "pauseConditions": [{"reason": p.reason, "startTime": p.start_time} for p in status.pause_conditions],
        "controllerPause": status.controller_pause,
        "currentPodHash": status.current_pod_hash,
        "currentStepIndex": status.current_step_index,
        "stableRS": status.stable_rs,
        "promoteFull": status.promote_full,
        "phase": status.phase,
        "message": status.message,
        "conditions": [_condition(c) for c in status.conditions],
        "observedGeneration": status.observed_generation,
        "replicas": status.replicas,
        "updatedReplicas": status.updated_replicas,
        "readyReplicas": status.ready_replicas,
        "availableReplicas": status.available_replicas,
        "HPAReplicas": status.hpa_replicas,
        "selector": status.selector,
        "workloadObservedGeneration": status.workload_observed_generation,
    }
    canary: dict[str, Any] = {"stablePingPong": status.canary.stable_ping_pong}
    if status.canary.weights is not None:
        canary["weights"] = _weights(status.canary.weights)
    for key, ref in (("currentStepAnalysisRunStatus", status.canary.step_analysis),
                     ("currentBackgroundAnalysisRunStatus", status.canary.background_analysis)):
        if ref is not None:  # RolloutAnalysisRunStatus: `status` is always written, `message` when set
            canary[key] = {"name": ref.name, "status": ref.status, **({"message": ref.message}
                                                                        if ref.message else {})}
    fields["canary"] = canary
    return _omit_empty(fields)


def _is_empty(key: str, value: Any) -> bool:
    if key in _KEEP_EMPTY:
        return value is None
    return value is None or value is False or value == "" or value == [] or value == {} or (
        isinstance(value, int) and not isinstance(value, bool) and value == 0)


def _omit_empty(fields: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in fields.items() if not _is_empty(k, v)}
    if isinstance(out.get("canary"), dict):
        canary = {k: v for k, v in out["canary"].items() if v not in (None, "")}
        if canary:
            out["canary"] = canary
        else:
            out.pop("canary")
    return out


def status_patch(raw_status: Mapping[str, Any], status: models.RolloutStatus) -> dict[str, Any] | None:
    """`{"status": {...}}` with only the managed fields that changed; None when nothing did."""
    current = _omit_empty({k: raw_status[k] for k in MANAGED if k in raw_status})
    desired = status_fields(status)
    patch = merge_patch.diff(current, desired, MANAGED)
    raw_canary = raw_status.get("canary")
    old_canary = raw_canary if isinstance(raw_canary, dict) else {}
    old_canary = {k: v for k, v in old_canary.items() if k not in _MANAGED_CANARY or v not in (None, "")}
    canary_patch = merge_patch.diff(old_canary, desired.get("canary", {}), _MANAGED_CANARY)
    if canary_patch:
        patch["canary"] = canary_patch
    return {"status": patch} if patch else None
