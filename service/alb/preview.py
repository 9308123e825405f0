"""What the controller would write for one Rollout, computed offline (plan room, pure; `alb-rollouts plan`).

Parses and validates the Rollout, decides the desired weight, then renders each Ingress's merge-patch body and
the `status.canary.weights` merge patch with the same functions the controller uses. Never does I/O: the
caller reads files and prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.alb import actions, ingress_patch
from statemachine import models, planning, snapshot, validation, weights

__all__ = [
    "NotAlb",
    "Preview",
    "derive_state",
    "fallback_desired_weight",
    "preview",
    "routing_for",
    "status_patch",
]


class NotAlb(ValueError):
    """The Rollout is valid but routes no traffic through an ALB: there is nothing to plan."""


@dataclass(frozen=True, slots=True)
class Preview:
    """One Rollout's plan: state, weight, (namespace, name, body or None) per Ingress, status patch."""

    rollout: str
    state: str
    desired_weight: int
    patches: tuple[tuple[str, str, dict[str, Any] | None], ...]
    status: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        return {
            "rollout": self.rollout,
            "state": self.state,
            "desiredWeight": self.desired_weight,
            "patches": [
                {"kind": "Ingress", "namespace": namespace, "name": name, "patch": body}
                for namespace, name, body in self.patches
            ],
            "status": self.status,
        }


def routing_for(rollout: models.Rollout) -> ingress_patch.Routing:
    """The Routing of a Rollout: ping-pong picks the target-group names, the key keeps root/stable."""
    canary = rollout.canary
    if canary is None or canary.alb is None:
        raise NotAlb(f'rollout "{rollout.key}" does not use ALB traffic routing; there is nothing to plan')
    alb = canary.alb
    if canary.ping_pong is not None:
        ping_pong = canary.ping_pong
        canary_name, stable_name = actions.ping_pong_services(
            rollout.status.canary.stable_ping_pong, ping_pong.ping_service, ping_pong.pong_service
        )
    else:
        canary_name, stable_name = canary.canary_service, canary.stable_service
    sticky = (alb.stickiness.enabled, alb.stickiness.duration_seconds) if alb.stickiness else None
    return ingress_patch.Routing(
        rollout=rollout.name,
        action_service=actions.action_service(alb.root_service, canary.stable_service),
        canary_service=canary_name,
        stable_service=stable_name,
        port=alb.service_port,
        prefix=actions.resolve_prefix(alb.annotation_prefix),
        stickiness=sticky,
        managed_routes=canary.managed_routes,
    )


def fallback_desired_weight(rollout: models.Rollout) -> int:
    """FALLBACK when no `now` is given (no planner): last setWeight at or before currentStepIndex, 100
    past the last step, 0 when fully promoted (stableRS == currentPodHash), aborted or without steps."""
    status = rollout.status
    if status.stable_rs == status.current_pod_hash or status.abort or not rollout.steps:
        return 0
    index = max(status.current_step_index or 0, 0)
    if index >= len(rollout.steps):
        return 100
    for step in reversed(rollout.steps[: index + 1]):
        if isinstance(step, models.SetWeight):
            return max(0, min(100, step.weight))
    return 0


def derive_state(rollout: models.Rollout) -> str:
    """FALLBACK when no `now` is given (no planner): the machine state read straight from the status."""
    status = rollout.status
    if status.abort:
        return "Aborted"
    if status.stable_rs and status.stable_rs == status.current_pod_hash:
        return "Promoted"
    if rollout.paused or status.pause_conditions:
        return "Paused"
    return "Progressing"


@dataclass(frozen=True, slots=True)
class _Decision:
    state: str
    weight: int
    remove_routes: bool
    status: dict[str, Any] | None


def _healthy_snapshot(rollout: models.Rollout) -> snapshot.Snapshot:
    """Offline there are no ReplicaSets: assume both are healthy at the sizes the current step wants."""
    status = rollout.status
    canary_count, stable_count = weights.traffic_routed_counts(rollout, status.canary.weights)
    view = snapshot.ReplicaSetView
    stable_rs = view(name=f"{rollout.name}-{status.stable_rs}", hash=status.stable_rs,
                     spec_replicas=stable_count, available_replicas=stable_count, ready_replicas=stable_count)
    new_rs = view(name=f"{rollout.name}-{status.current_pod_hash}", hash=status.current_pod_hash,
                  spec_replicas=canary_count, available_replicas=canary_count, ready_replicas=canary_count)
    if status.stable_rs == status.current_pod_hash:
        new_rs = stable_rs
    return snapshot.Snapshot(
        rollout=rollout,
        new_rs=new_rs,
        stable_rs=stable_rs if status.stable_rs else None,
        template_hash=status.current_pod_hash,
    )


def _weights_part(patch: dict[str, Any] | None) -> dict[str, Any] | None:
    canary = ((patch or {}).get("status") or {}).get("canary")
    if not isinstance(canary, dict) or "weights" not in canary:
        return None
    return {"status": {"canary": {"weights": canary["weights"]}}}


def _decide(rollout: models.Rollout, now: datetime | None) -> _Decision:
    """State, weight, route removal and weights status patch: from statemachine.planning at `now`."""
    if now is None:
        status = rollout.status
        done = status.stable_rs == status.current_pod_hash or status.abort or status.promote_full
        desired = fallback_desired_weight(rollout)
        return _Decision(derive_state(rollout), desired, done, status_patch(rollout, desired))
    result = planning.plan(_healthy_snapshot(rollout), now=now)
    current = rollout.status.canary.weights
    desired = result.canary_weight if result.write_weights else (current.canary.weight if current else 0)
    return _Decision(result.target.value, desired, result.remove_routes, _weights_part(result.status_patch))


def _header_route(rollout: models.Rollout) -> ingress_patch.HeaderRoute | None:
    """The current setHeaderRoute step, applied only from revision 2 on like the reference (§1.6)."""
    index = rollout.status.current_step_index
    if index is None or not 0 <= index < len(rollout.steps) or rollout.revision <= 1:
        return None
    step = rollout.steps[index]
    if not isinstance(step, models.SetHeaderRoute):
        return None
    if step.match is None:
        return ingress_patch.HeaderRoute(step.name, None)
    return ingress_patch.HeaderRoute(
        step.name, tuple(actions.Match(m.header_name, m.exact) for m in step.match)
    )


def _destination(weight: int, service: str, pod_hash: str) -> dict[str, Any]:
    destination: dict[str, Any] = {"weight": weight}
    if service:
        destination["serviceName"] = service
    if pod_hash:
        destination["podTemplateHash"] = pod_hash
    return destination


def status_patch(rollout: models.Rollout, desired: int) -> dict[str, Any] | None:
    """The merge patch of `status.canary.weights` for `desired` (stable clamped), or None when unchanged."""
    canary = rollout.canary or models.CanaryStrategy()
    split = actions.split_weights(desired)
    wanted: dict[str, Any] = {
        "canary": _destination(split.canary, canary.canary_service, rollout.status.current_pod_hash),
        "stable": _destination(split.stable, canary.stable_service, rollout.status.stable_rs),
    }
    raw_canary = rollout.raw_status.get("canary")
    current = raw_canary.get("weights") if isinstance(raw_canary, dict) else None
    current = current if isinstance(current, dict) else {}
    if "verified" in current:
        # New weights are unverified until the verifier says otherwise; unchanged ones keep their answer.
        wanted["verified"] = current["verified"]
    change = ingress_patch.diff(current, wanted)
    if not change:
        return None
    if "verified" in current:
        change["verified"] = None
    return {"status": {"canary": {"weights": change}}}


def preview(
    rollout_obj: Any,
    ingresses: Mapping[str, Any],
    services: Mapping[str, Any] | None,
    *,
    weight: int | None = None,
    classes: Sequence[str] = ingress_patch.DEFAULT_CLASSES,
    now: datetime | None = None,
) -> Preview:
    """Plan one Rollout at `now` (None: without the planner); raises InvalidSpec, NotAlb, Refusal,
    IngressError or StickinessError."""
    rollout = models.parse_rollout(rollout_obj)
    validation.check(rollout, ingresses=ingresses, services=services)
    routing = routing_for(rollout)
    assert rollout.canary is not None and rollout.canary.alb is not None  # routing_for checked it
    decision = _decide(rollout, now)
    desired, remove_routes, status = decision.weight, decision.remove_routes, decision.status
    if weight is not None:
        desired = weight
        status = status_patch(rollout, weight)
    header = None if remove_routes else _header_route(rollout)
    patches: list[tuple[str, str, dict[str, Any] | None]] = []
    for name in rollout.canary.alb.ingress_names:
        ingress = ingresses.get(name)
        if ingress is None:
            raise models.InvalidSpec(
                f'The Rollout "{rollout.name}" is invalid: spec.strategy.canary.trafficRouting.alb.ingress: '
                f'Invalid value: "{name}": ingress.networking.k8s.io "{name}" not found'
            )
        body = ingress_patch.weight_patch(
            ingress, routing, desired_weight=desired, header_route=header,
            remove_managed_routes=remove_routes, classes=classes,
        )
        patches.append((rollout.namespace, name, body))
    return Preview(rollout.key, decision.state, actions.split_weights(desired).canary, tuple(patches), status)

