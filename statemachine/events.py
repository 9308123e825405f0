"""Kubernetes events the planner asks `service/` to emit, with the reference's reasons and exact messages.

Room: plan (pure). Events are data in a `Plan`; they are derived from status changes, so an unchanged fact
never produces an event twice (SPEC §4.9). Nothing here talks to the API.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "INVALID_SPEC",
    "NORMAL",
    "ROLLOUT_ABORTED",
    "ROLLOUT_COMPLETED",
    "ROLLOUT_STEP_COMPLETED",
    "SKIP_STEPS",
    "TRAFFIC_WEIGHT_UPDATED",
    "WARNING",
    "WEIGHT_VERIFY_ERROR",
    "Event",
    "rollout_aborted",
    "rollout_completed",
    "step_completed",
    "weight_verify_error",
]

NORMAL = "Normal"
WARNING = "Warning"

TRAFFIC_WEIGHT_UPDATED = "TrafficWeightUpdated"
ROLLOUT_STEP_COMPLETED = "RolloutStepCompleted"
ROLLOUT_COMPLETED = "RolloutCompleted"
ROLLOUT_ABORTED = "RolloutAborted"
INVALID_SPEC = "InvalidSpec"
SKIP_STEPS = "SkipSteps"
WEIGHT_VERIFY_ERROR = "WeightVerifyError"


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


def rollout_aborted(revision: int) -> Event:
    return Event(WARNING, ROLLOUT_ABORTED, f"Rollout aborted update to revision {revision}")


def weight_verify_error(error: str) -> Event:
    return Event(WARNING, WEIGHT_VERIFY_ERROR, f"Failed to verify weight: {error}")
