"""Kubernetes events, with the reference's reasons and exact messages, as data for `service/` to emit.

Room: plan (pure). The planner's events ride in a `Plan`, derived from status changes, so an unchanged fact
never produces an event twice (SPEC §4.9); the Ingress patcher builds its `PatchingALBIngress` events here too
(weight, header route, managed-route removal), once per Ingress it actually changes. Nothing here talks to
the API.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "INVALID_SPEC",
    "NORMAL",
    "PATCHING_ALB_INGRESS",
    "ROLLOUT_ABORTED",
    "ROLLOUT_COMPLETED",
    "ROLLOUT_NOT_COMPLETED",
    "ROLLOUT_STEP_COMPLETED",
    "SKIP_STEPS",
    "TRAFFIC_ROUTING_ERROR",
    "TRAFFIC_WEIGHT_UPDATED",
    "WARNING",
    "WEIGHT_VERIFY_ERROR",
    "Event",
    "patching_header_route",
    "patching_ingress",
    "removing_managed_routes",
    "rollout_aborted",
    "rollout_completed",
    "rollout_not_completed",
    "step_completed",
    "traffic_routing_error",
    "weight_verify_error",
]

NORMAL = "Normal"
WARNING = "Warning"

TRAFFIC_WEIGHT_UPDATED = "TrafficWeightUpdated"
ROLLOUT_STEP_COMPLETED = "RolloutStepCompleted"
ROLLOUT_COMPLETED = "RolloutCompleted"
ROLLOUT_NOT_COMPLETED = "RolloutNotCompleted"
ROLLOUT_ABORTED = "RolloutAborted"
INVALID_SPEC = "InvalidSpec"
SKIP_STEPS = "SkipSteps"
WEIGHT_VERIFY_ERROR = "WeightVerifyError"
PATCHING_ALB_INGRESS = "PatchingALBIngress"
TRAFFIC_ROUTING_ERROR = "TrafficRoutingError"


@dataclass(frozen=True, slots=True)
class Event:
    """One event on the Rollout: `type` is Normal or Warning."""

    type: str
    reason: str
    message: str


def step_completed(index: int, count: int, step: str) -> Event:
    """`Rollout step <i+1>/<n> completed (<step>)`; `index` is the step that just completed (0-based)."""
    return Event(NORMAL, ROLLOUT_STEP_COMPLETED, f"Rollout step {index + 1}/{count} completed ({step})")


def rollout_completed(revision: int, pod_hash: str, reason: str) -> Event:
    message = f"Rollout completed update to revision {revision} ({pod_hash}): {reason}"
    return Event(NORMAL, ROLLOUT_COMPLETED, message)


def rollout_not_completed(revision: int, pod_hash: str) -> Event:
    """The `Completed` condition turned False: a new update started."""
    message = f"Rollout not completed, started update to revision {revision} ({pod_hash})"
    return Event(NORMAL, ROLLOUT_NOT_COMPLETED, message)


def rollout_aborted(revision: int) -> Event:
    return Event(WARNING, ROLLOUT_ABORTED, f"Rollout aborted update to revision {revision}")


def weight_verify_error(error: str) -> Event:
    return Event(WARNING, WEIGHT_VERIFY_ERROR, f"Failed to verify weight: {error}")


def patching_ingress(ingress: str, desired_weight: int) -> Event:
    """Before a weight patch (reference §1.5): `` Updating Ingress `<name>` to desiredWeight '<w>' ``."""
    message = f"Updating Ingress `{ingress}` to desiredWeight '{desired_weight}'"
    return Event(NORMAL, PATCHING_ALB_INGRESS, message)


def patching_header_route(ingress: str, route: str) -> Event:
    """Before a header-route write (reference §1.6): `` Updating Ingress `<name>` to headerRoute '<route>' ``.

    The reference formats the whole step with `%d` (a pointer address in it, reference §6.14): we name the
    route instead.
    """
    return Event(NORMAL, PATCHING_ALB_INGRESS, f"Updating Ingress `{ingress}` to headerRoute '{route}'")


def removing_managed_routes(ingress: str) -> Event:
    """Before the managed routes are removed (reference §1.6): `` Updating Ingress `<name>` removing managed
    routes ``."""
    return Event(NORMAL, PATCHING_ALB_INGRESS, f"Updating Ingress `{ingress}` removing managed routes")


def traffic_routing_error(error: str) -> Event:
    """A failed Ingress patch (reference §1.5: Warning `TrafficRoutingError` with the error text)."""
    return Event(WARNING, TRAFFIC_ROUTING_ERROR, error)
