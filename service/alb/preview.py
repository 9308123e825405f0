"""What the controller would write for one Rollout, computed offline (plan room, pure; `alb-rollouts plan`).

Parses and validates the Rollout, decides the desired weight, then renders each Ingress's merge-patch body and
the `status.canary.weights` merge patch with the same functions the controller uses. Never does I/O: the
caller reads files and prints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.alb import actions, ingress_patch
from statemachine import models, planning, snapshot, status, validation, weights

__all__ = [
    "NotAlb",
    "Preview",
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


@dataclass(frozen=True, slots=True)
class _Decision:
    state: str
    weight: int
    remove_routes: bool
    header_route: models.SetHeaderRoute | None
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


def _decide(rollout: models.Rollout, now: datetime) -> _Decision:
    """State, weight, route removal, header route and weights status patch, from statemachine.planning."""
    result = planning.plan(_healthy_snapshot(rollout), now=now)
    current = rollout.status.canary.weights
    traffic = result.traffic
    desired = result.canary_weight if traffic.write else (current.canary.weight if current else 0)
    return _Decision(result.target.value, desired, traffic.remove_routes, traffic.header_route,
                     _weights_part(result.status_patch))


def status_patch(rollout: models.Rollout, desired: int) -> dict[str, Any] | None:
    """The `status.canary.weights` merge patch for a forced weight (stable clamped), None when unchanged.

    Changed weights are unverified until the verifier says otherwise, exactly as the planner writes them.
    """
    old = rollout.status
    candidate = weights.weight_status(rollout, desired, old.current_pod_hash, old.stable_rs)
    if not weights.weights_differ(old.canary.weights, candidate):
        return None
    new = dataclasses.replace(old, canary=dataclasses.replace(old.canary, weights=candidate))
    return _weights_part(status.status_patch(rollout.raw_status, new))


def preview(
    rollout_obj: Any,
    ingresses: Mapping[str, Any],
    services: Mapping[str, Any] | None,
    *,
    now: datetime,
    weight: int | None = None,
    classes: Sequence[str] = ingress_patch.DEFAULT_CLASSES,
) -> Preview:
    """Plan one Rollout at `now`; raises InvalidSpec, NotAlb, Refusal, IngressError or StickinessError."""
    rollout = models.parse_rollout(rollout_obj)
    validation.check(rollout, ingresses=ingresses, services=services)  # so every Ingress named is present
    routing = routing_for(rollout)
    assert rollout.canary is not None and rollout.canary.alb is not None  # routing_for checked it
    decision = _decide(rollout, now)
    desired, body_of_status = decision.weight, decision.status
    if weight is not None:
        desired = weight
        body_of_status = status_patch(rollout, weight)
    header = ingress_patch.header_route(decision.header_route)
    remove_routes = decision.remove_routes
    patches: list[tuple[str, str, dict[str, Any] | None]] = []
    for name in rollout.canary.alb.ingress_names:
        body = ingress_patch.weight_patch(
            ingresses[name], routing, desired_weight=desired, header_route=header,
            remove_managed_routes=remove_routes, classes=classes,
        )
        patches.append((rollout.namespace, name, body))
    canary_weight = actions.split_weights(desired).canary
    return Preview(rollout.key, decision.state, canary_weight, tuple(patches), body_of_status)

