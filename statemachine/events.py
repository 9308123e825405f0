"""Kubernetes events, with the reference's reasons and exact messages, as data for `service/` to emit.

Room: plan (pure). The planner's events ride in a `Plan`, derived from status changes, so an unchanged fact
never produces an event twice (SPEC §4.9); the Ingress patcher builds its `PatchingALBIngress` event here too,
once per Ingress it actually patches. Nothing here talks to the API.
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
    "patching_ingress",
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


def traffic_routing_error(error: str) -> Event:
    """A failed Ingress patch (reference §1.5: Warning `TrafficRoutingError` with the error text)."""
    return Event(WARNING, TRAFFIC_ROUTING_ERROR, error)
