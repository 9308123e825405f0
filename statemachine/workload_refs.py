"""Rollouts that run a Deployment's pod template (`spec.workloadRef`), resolved as the reference does.

Room: plan (pure). `service.workload_resolver` reads the Deployment from its cache and hands it here; nothing
here does I/O, reads a clock or mutates its inputs.

Public API:
- `resolve(raw, deployment, *, served=True) -> Resolution`: the effective Rollout dict the controller plans
  from (the reference's informerBasedTemplateResolver.Resolve): the Deployment's `spec.template`, its
  `spec.selector` when the Rollout has none, and the `rollout.argoproj.io/workload-generation` annotation
  set to the Deployment's generation; or the InvalidSpec message when it cannot be resolved. A Rollout without
  workloadRef comes back with that annotation removed (so it is not copied onto new ReplicaSets).
- `referenced(raw) -> str | None`: the "namespace/name" of the Deployment a Rollout references (its index).
- `observed_generation(rollout) -> str`: what `status.workloadObservedGeneration` becomes
  (persistRolloutStatus).
- `deployment_scale(snapshot, *, planned, current) -> int | None`: the Deployment's new `spec.replicas` for
  `workloadRef.scaleDown` (onsuccess: 0 once revision 1 is Healthy; progressively: replicas - ready while
  revision 1 comes up, 0 once Healthy), or None to leave it.
- `deployment_replicas(deployment) -> int`, `deployment_generation(deployment) -> str`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from statemachine import go_text, models, validation
from statemachine.snapshot import Snapshot

__all__ = [
    "DEPLOYMENT_API_VERSION",
    "SCALE_DOWN_NEVER",
    "SCALE_DOWN_ON_SUCCESS",
    "SCALE_DOWN_PROGRESSIVELY",
    "TEMPLATE_NOT_EMPTY",
    "WORKLOAD_GENERATION_ANNOTATION",
    "Resolution",
    "deployment_generation",
    "deployment_replicas",
    "deployment_scale",
    "object_ref",
    "observed_generation",
    "referenced",
    "resolve",
]

WORKLOAD_GENERATION_ANNOTATION = models.WORKLOAD_GENERATION_ANNOTATION
"""The referenced workload's generation, on the Rollout (and copied onto its new ReplicaSets)."""
DEPLOYMENT_API_VERSION = "apps/v1"
SCALE_DOWN_NEVER = "never"
SCALE_DOWN_ON_SUCCESS = "onsuccess"
SCALE_DOWN_PROGRESSIVELY = "progressively"
TEMPLATE_NOT_EMPTY = "template must be empty for workload reference rollout"
_SERVER_NOT_FOUND = "the server could not find the requested resource"
_HEALTHY = "Healthy"
# Kinds the reference resolves that alb-rollouts does not (yet): refused by name, never ignored.
_REFERENCE_ONLY = {("apps", "ReplicaSet"), ("", "PodTemplate")}

Raw = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Resolution:
    """The Rollout to plan from. `raw` is the effective Rollout (the input when nothing was resolved);
    `from_ref` whether its template came from the Deployment (TemplateResolvedFromRef); `problem` the
    InvalidSpec message when the workloadRef cannot be resolved; `deployment` the Deployment read."""

    raw: Raw
    from_ref: bool = False
    problem: str | None = None
    deployment: Raw | None = None


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _ref(raw: Raw) -> Mapping[str, Any] | None:
    ref = _map(raw.get("spec")).get("workloadRef")
    return ref if isinstance(ref, Mapping) else None


def _group_version(api_version: str) -> tuple[str, str]:
    """schema.ParseGroupVersion: "apps/v1" → (apps, v1), "v1" → ("", v1); malformed → ("", "")."""
    if not api_version:
        return "", ""
    if api_version.count("/") > 1:
        return "", ""
    group, _, version = api_version.rpartition("/")
    return group, version


def referenced(raw: Raw) -> str | None:
    """The "namespace/name" of the Deployment the Rollout's workloadRef names (None: none, another kind)."""
    ref = _ref(raw)
    if ref is None or _text(ref.get("kind")) != "Deployment":
        return None
    group, _ = _group_version(_text(ref.get("apiVersion")))
    name = _text(ref.get("name"))
    namespace = _text(_map(raw.get("metadata")).get("namespace")) or "default"
    return f"{namespace}/{name}" if group == "apps" and name else None


def object_ref(ref: Mapping[str, Any]) -> str:
    """The ObjectRef as field.Invalid prints it (Go `%#v` of the struct)."""
    fields = (("APIVersion", "apiVersion"), ("Kind", "kind"), ("Name", "name"), ("ScaleDown", "scaleDown"))
    shown = ", ".join(f"{go}:{go_text.go_quote(_text(ref.get(key)))}" for go, key in fields)
    return f"v1alpha1.ObjectRef{{{shown}}}"


def _invalid(raw: Raw, ref: Mapping[str, Any], detail: str) -> str:
    """validation.InvalidWorkloadRef inside the reference's InvalidSpec condition message."""
    name = _text(_map(raw.get("metadata")).get("name"))
    error = f"spec.workloadRef: Invalid value: {object_ref(ref)}: {detail}"
    return validation.invalid_spec_message(name, error)


def _without_generation(raw: Raw) -> Raw:
    """RemoveRolloutWorkloadRefGeneration: a Rollout without workloadRef keeps no stale generation."""
    metadata = _map(raw.get("metadata"))
    annotations = _map(metadata.get("annotations"))
    if WORKLOAD_GENERATION_ANNOTATION not in annotations:
        return raw
    kept = {k: v for k, v in annotations.items() if k != WORKLOAD_GENERATION_ANNOTATION}
    return {**raw, "metadata": {**metadata, "annotations": kept}}


def deployment_generation(deployment: Raw) -> str:
    """metadata.generation as the annotation carries it (strconv.FormatInt; 0 when unset)."""
    generation = _map(deployment.get("metadata")).get("generation")
    return str(generation) if isinstance(generation, int) and not isinstance(generation, bool) else "0"


def deployment_replicas(deployment: Raw) -> int:
    """spec.replicas (the API server defaults it to 1)."""
    value = _map(deployment.get("spec")).get("replicas")
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def resolve(raw: Raw, deployment: Raw | None, *, served: bool = True) -> Resolution:
    """The effective Rollout for `raw`, given the Deployment its workloadRef names (None: not found);
    `served` False when the API server does not serve apps/v1 deployments at all."""
    ref = _ref(raw)
    if ref is None:
        return Resolution(_without_generation(raw))
    spec = _map(raw.get("spec"))
    if not validation.empty_template(spec.get("template")):
        return Resolution(raw, problem=_invalid(raw, ref, TEMPLATE_NOT_EMPTY))
    group, version = _group_version(_text(ref.get("apiVersion")))
    kind = _text(ref.get("kind"))
    if (group, kind) in _REFERENCE_ONLY:
        return Resolution(raw, problem=_invalid(
            raw, ref, f"workload of type {group}/{kind} is not supported by alb-rollouts yet "
                      "(only apps/Deployment)"))
    if (group, kind) != ("apps", "Deployment"):
        unsupported = f"workload of type {group}/{kind} is not supported"
        return Resolution(raw, problem=_invalid(raw, ref, unsupported))
    if version != "v1" or not served:
        return Resolution(raw, problem=_invalid(raw, ref, _SERVER_NOT_FOUND))
    if deployment is None:
        key = referenced(raw) or ""
        return Resolution(raw, problem=_invalid(raw, ref, f'deployments.apps "{key}" not found'))
    deployment_spec = _map(deployment.get("spec"))
    effective_spec = dict(spec)
    template = deployment_spec.get("template")
    from_ref = isinstance(template, Mapping)
    if isinstance(template, Mapping):
        effective_spec["template"] = copy.deepcopy(dict(template))
    selector = deployment_spec.get("selector")
    if spec.get("selector") is None and isinstance(selector, Mapping):
        effective_spec["selector"] = copy.deepcopy(dict(selector))
    metadata = _map(raw.get("metadata"))
    annotations = {**_map(metadata.get("annotations")),
                   WORKLOAD_GENERATION_ANNOTATION: deployment_generation(deployment)}
    effective = {**raw, "metadata": {**metadata, "annotations": annotations}, "spec": effective_spec}
    return Resolution(effective, from_ref=from_ref, deployment=deployment)


def _int32(text: str | None) -> int:
    try:
        return int(text or "")
    except ValueError:
        return 0


def observed_generation(rollout: models.Rollout) -> str:
    """`status.workloadObservedGeneration`: the annotation's generation once the template was resolved from
    the workload, "" otherwise (the reference's persistRolloutStatus)."""
    current = rollout.status.workload_observed_generation
    if not rollout.template_resolved:
        return ""
    generation = _int32(rollout.annotation(WORKLOAD_GENERATION_ANNOTATION))
    return current if generation == _int32(current) else str(generation)


def deployment_scale(snapshot: Snapshot, *, planned: int | None, current: int) -> int | None:
    """The referenced Deployment's new spec.replicas (None: leave it), from the status read at the start of
    the reconcile. `planned` is the size the plan gives the new ReplicaSet (None: unchanged); `current` the
    Deployment's spec.replicas.

    onsuccess (promoteStable): revision 1, the Rollout Healthy and fully promoted → 0.
    progressively (reconcileNewReplicaSet): the new ReplicaSet is revision 1; Healthy → 0; else, once some
    replicas are ready (or the new ReplicaSet shrinks), replicas - readyReplicas (never below 0).
    never, "" or anything else: None.
    """
    rollout = snapshot.rollout
    ref = rollout.workload_ref
    if ref is None or not rollout.template_resolved:
        return None
    status = rollout.status
    target: int | None = None
    if ref.scale_down == SCALE_DOWN_ON_SUCCESS:
        promoted = bool(status.stable_rs) and status.stable_rs == snapshot.pod_hash
        if rollout.revision == 1 and status.phase == _HEALTHY and promoted:
            target = 0
    elif ref.scale_down == SCALE_DOWN_PROGRESSIVELY:
        new_rs = snapshot.new_rs
        if new_rs is None or new_rs.revision != 1:
            return None
        if status.phase == _HEALTHY:
            target = 0
        else:
            before = new_rs.spec_replicas
            after = before if planned is None else planned
            if status.ready_replicas > 0 or before > after:
                target = max(rollout.replicas - status.ready_replicas, 0)
    return None if target is None or target == current else target
