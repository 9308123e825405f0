"""The machine's states and how a Rollout's status maps onto exactly one of them.

Room: plan (pure). The state is never remembered anywhere but in the Rollout status: `state_from_status`
derives it, so a restarted controller rebuilds every machine from the API alone. The predicates here are the
transition guards' vocabulary; they never read a clock.
"""

from __future__ import annotations

from enum import Enum

from statemachine import models, phases, weights

__all__ = [
    "States",
    "is_aborted",
    "is_invalid",
    "is_paused",
    "is_promoted",
    "is_unverified",
    "is_weight_set",
    "state_from_status",
]


class States(Enum):
    """Where a Rollout stands; the names are stable and safe to serialise."""

    Progressing = "Progressing"
    WeightSet = "WeightSet"
    Verifying = "Verifying"
    Paused = "Paused"
    Promoted = "Promoted"
    Aborted = "Aborted"
    Degraded = "Degraded"
    WaitingForTargets = "WaitingForTargets"
    """Traffic waits until a target group serves the pods it should (never derived from status alone: the
    planner enters it from what it observed, and a restart re-enters it the same way)."""


def is_invalid(rollout: models.Rollout) -> bool:
    condition = rollout.status.condition(phases.INVALID_SPEC)
    return condition is not None and condition.status == "True"


def is_aborted(rollout: models.Rollout) -> bool:
    return rollout.status.abort


def is_promoted(rollout: models.Rollout) -> bool:
    """The current pod template is the stable one (and there is one)."""
    return bool(rollout.status.stable_rs) and weights.is_fully_promoted(rollout)


def is_paused(rollout: models.Rollout) -> bool:
    """Paused by the user (spec.paused) or by a pause step (a pause condition)."""
    return rollout.paused or bool(rollout.status.pause_conditions)


def _weights_for_current(rollout: models.Rollout) -> models.TrafficWeights | None:
    current = rollout.status.canary.weights
    if current is None or current.canary.pod_template_hash != rollout.status.current_pod_hash:
        return None
    return current


def is_unverified(rollout: models.Rollout) -> bool:
    """The weights of the current template were written and AWS has not confirmed them yet."""
    current = _weights_for_current(rollout)
    return current is not None and current.verified is False


def is_weight_set(rollout: models.Rollout) -> bool:
    """The weights of the current template are those of the current step."""
    current = _weights_for_current(rollout)
    return current is not None and current.canary.weight == weights.current_set_weight(rollout)


def state_from_status(rollout: models.Rollout) -> States:
    """The one state a Rollout's status puts it in; the first match wins."""
    if is_invalid(rollout):
        return States.Degraded
    if is_aborted(rollout):
        return States.Aborted
    if is_promoted(rollout):
        return States.Promoted
    if is_paused(rollout):
        return States.Paused
    if is_unverified(rollout):
        return States.Verifying
    if is_weight_set(rollout):
        return States.WeightSet
    return States.Progressing
