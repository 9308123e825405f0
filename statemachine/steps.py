"""Canary steps: their display strings, when the current one is complete, pauses, and when to promote.

Room: plan (pure). Predicates over a `Snapshot` and an explicit `now`; they mirror the reference's
completedCurrentCanaryStep, CompletedCanaryPauseStep, shouldFullPromote and ShouldVerifyWeight. Never reads a
clock and never changes anything.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from statemachine import models, weights
from statemachine.snapshot import Snapshot

__all__ = [
    "CANARY_PAUSE_STEP",
    "pause_condition",
    "pause_expiry",
    "pause_step_completed",
    "rollback_within_window",
    "should_full_promote",
    "should_verify_weight",
    "step_completed",
    "step_string",
    "wants_pause_condition",
]

CANARY_PAUSE_STEP = "CanaryPauseStep"


def step_string(step: models.Step) -> str:
    """The step as the reference prints it in `RolloutStepCompleted` events (CanaryStepString)."""
    match step:
        case models.SetWeight(weight=weight):
            return f"setWeight: {weight}"
        case models.Pause(duration_seconds=None):
            return "pause"
        case models.Pause(raw=raw, duration_seconds=seconds):
            return f"pause: {raw if raw is not None else seconds}"
        case models.Experiment():
            return "experiment"
        case models.Analysis():
            return "analysis"
        case models.SetCanaryScale(weight=int() as weight):
            return f"setCanaryScale{{weight: {weight}}}"
        case models.SetCanaryScale(match_traffic_weight=True):
            return "setCanaryScale{matchTrafficWeight: true}"
        case models.SetCanaryScale(replicas=int() as replicas):
            return f"setCanaryScale{{replicas: {replicas}}}"
        case models.SetHeaderRoute(name=name):
            return f"setHeaderRoute: {name}"
        case models.SetMirrorRoute(name=name):
            return f"setMirrorRoute: {name}"
        case models.Plugin(name=name):
            return f"plugin: {name}"
    return "invalid"


def pause_condition(status: models.RolloutStatus,
                    reason: str = CANARY_PAUSE_STEP) -> models.PauseCondition | None:
    return next((c for c in status.pause_conditions if c.reason == reason), None)


def pause_expiry(rollout: models.Rollout) -> datetime | None:
    """When the current timed pause step ends (its pause condition's startTime + duration), else None."""
    step, _ = weights.current_step(rollout)
    if not isinstance(step, models.Pause) or step.duration_seconds is None:
        return None
    condition = pause_condition(rollout.status)
    start = models.parse_time(condition.start_time) if condition else None
    return None if start is None else start + timedelta(seconds=step.duration_seconds)


def pause_step_completed(rollout: models.Rollout, *, now: datetime) -> bool:
    """A pause step ends when a user cleared its condition while controllerPause is set, or it timed out."""
    condition = pause_condition(rollout.status)
    if rollout.status.controller_pause and condition is None:
        return True
    expiry = pause_expiry(rollout)
    return expiry is not None and now > expiry


def wants_pause_condition(rollout: models.Rollout) -> bool:
    """Whether the controller must add the CanaryPauseStep condition now (reconcileCanaryPause)."""
    if rollout.paused or rollout.status.promote_full:
        return False
    step, _ = weights.current_step(rollout)
    if not isinstance(step, models.Pause):
        return False
    return pause_condition(rollout.status) is None and not rollout.status.controller_pause


def step_completed(snapshot: Snapshot, *, now: datetime, weight_ok: bool, analysis_ok: bool = False) -> bool:
    """Whether the current step is done; `weight_ok` is False while the weight is unverified, `analysis_ok`
    True once the step's AnalysisRun is Successful."""
    rollout = snapshot.rollout
    if rollout.paused:
        return False
    step, _ = weights.current_step(rollout)
    match step:
        case models.Pause():
            return pause_step_completed(rollout, now=now)
        case models.SetCanaryScale():
            return weights.at_desired_replica_counts(snapshot)
        case models.SetWeight():
            return weights.at_desired_replica_counts(snapshot) and weight_ok
        case models.SetHeaderRoute() | models.SetMirrorRoute():
            return True
        case models.Analysis():
            return analysis_ok
    return False


def rollback_within_window(snapshot: Snapshot) -> bool:
    """isRollbackWithinWindow: the new ReplicaSet is older than the stable one, and fewer than
    `rollbackWindow.revisions` ReplicaSets were created between them."""
    revisions = snapshot.rollout.rollback_window_revisions
    new, stable = snapshot.new_rs, snapshot.stable_rs
    if new is None or stable is None or not revisions or revisions <= 0:
        return False
    born_new, born_stable = models.parse_time(new.created), models.parse_time(stable.created)
    if born_new is None or born_stable is None or not born_new < born_stable:
        return False
    between = 0
    for rs in (new, stable, *snapshot.others):
        born = models.parse_time(rs.created)
        if born is not None and born_new < born < born_stable:
            between += 1
    return between < revisions


def should_full_promote(snapshot: Snapshot, *, weight_ok: bool = True) -> str:
    """The promotion reason (shouldFullPromote), or "" when the new ReplicaSet must not become stable yet.

    Unlike the reference, which errors out of the reconcile, an unverified final weight just blocks promotion.
    """
    rollout = snapshot.rollout
    if snapshot.stable_rs is None:
        return "Initial deploy"
    if rollout.status.abort:
        return ""
    new = snapshot.new_rs
    if new is None or new.available_replicas != rollout.replicas:
        return ""
    if rollout.status.promote_full:
        return "Full promotion requested"
    if rollback_within_window(snapshot):
        return "Rollback within window"
    count = len(rollout.steps)
    index = weights.step_index(rollout)
    if (index is None or index >= count) and weight_ok:  # past the end counts as the end
        return f"Completed all {count} canary steps"
    return ""


def should_verify_weight(rollout: models.Rollout, desired: int) -> bool:
    """ShouldVerifyWeight: a stable exists, not fully promoted, and a setWeight step or the final 100."""
    if not rollout.status.stable_rs or weights.is_fully_promoted(rollout):
        return False
    step, _ = weights.current_step(rollout)
    if step is not None:
        return isinstance(step, models.SetWeight)
    return desired == 100
