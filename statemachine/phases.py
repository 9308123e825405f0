"""Phase, message and conditions of a Rollout status, worded exactly as the reference words them (§4.3, §4.5).

Room: plan (pure). `calculate_phase` is what the controller writes; `rollout_phase` adds the kubectl plugin's
client-side wrapper. `next_conditions` moves the Progressing/Paused/InvalidSpec/Available conditions with the
reference's reasons. Time comes in as `now`; nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from statemachine import models

__all__ = [
    "AVAILABLE",
    "AVAILABLE_MESSAGE",
    "AVAILABLE_REASON",
    "INVALID_SPEC",
    "NEW_RS_AVAILABLE",
    "NOT_AVAILABLE_MESSAGE",
    "PAUSED",
    "PROGRESSING",
    "ROLLOUT_ABORTED",
    "ROLLOUT_PAUSED",
    "ROLLOUT_PAUSED_MESSAGE",
    "ROLLOUT_RESUMED",
    "ROLLOUT_RESUMED_MESSAGE",
    "ROLLOUT_RETRY",
    "ROLLOUT_RETRY_MESSAGE",
    "RS_UPDATED",
    "ConditionFacts",
    "aborted_message",
    "calculate_phase",
    "common_phase",
    "deadline_abort_message",
    "next_conditions",
    "rollout_phase",
    "set_condition",
]

PROGRESSING = "Progressing"
PAUSED = "Paused"
INVALID_SPEC = "InvalidSpec"
AVAILABLE = "Available"

ROLLOUT_ABORTED = "RolloutAborted"
ROLLOUT_RETRY = "RolloutRetry"
ROLLOUT_RETRY_MESSAGE = "Retrying Rollout after abort"
ROLLOUT_PAUSED = "RolloutPaused"
ROLLOUT_PAUSED_MESSAGE = "Rollout is paused"
ROLLOUT_RESUMED = "RolloutResumed"
ROLLOUT_RESUMED_MESSAGE = "Rollout is resumed"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
AVAILABLE_REASON = "AvailableReason"
AVAILABLE_MESSAGE = "Rollout has minimum availability"
NOT_AVAILABLE_MESSAGE = "Rollout does not have minimum availability"
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
HEALTHY = "Healthy"
ROLLOUT_HEALTHY = "RolloutHealthy"
ROLLOUT_HEALTHY_MESSAGE = "Rollout is healthy"
ROLLOUT_NOT_HEALTHY_MESSAGE = "Rollout is not healthy"
COMPLETED = "Completed"
ROLLOUT_COMPLETED = "RolloutCompleted"


def aborted_message(revision: int) -> str:
    return f"Rollout aborted update to revision {revision}"


def common_phase(rollout: models.Rollout, status: models.RolloutStatus) -> tuple[str, str] | None:
    """The rows of CalculateRolloutPhase every strategy shares (reference §4.5, 1-6); None: no match."""
    for condition in status.conditions:
        if condition.type == INVALID_SPEC:
            return "Degraded", f"{INVALID_SPEC}: {condition.message}"
        if condition.reason in (ROLLOUT_ABORTED, PROGRESS_DEADLINE_EXCEEDED):
            return "Degraded", f"{condition.reason}: {condition.message}"
    if rollout.paused:
        return "Paused", "manually paused"
    if status.pause_conditions:
        return "Paused", status.pause_conditions[0].reason
    restart_at = models.parse_time(rollout.restart_at)
    restarted_at = models.parse_time(_raw_string(rollout, "restartedAt"))
    if restart_at is not None and restarted_at != restart_at:  # a future restartAt counts too (the reference)
        return "Progressing", "rollout is restarting"
    if status.updated_replicas < rollout.replicas:
        return "Progressing", "more replicas need to be updated"
    if status.available_replicas < status.updated_replicas:
        return "Progressing", "updated replicas are still becoming available"
    return None


def calculate_phase(rollout: models.Rollout, status: models.RolloutStatus, *,
                    now: datetime) -> tuple[str, str]:
    """(phase, message) of a status, first match wins (CalculateRolloutPhase, reference §4.5)."""
    shared = common_phase(rollout, status)
    if shared is not None:
        return shared
    basic_canary = rollout.canary is None or not rollout.canary.has_traffic_routing
    if basic_canary and status.replicas > status.updated_replicas:
        return "Progressing", "old replicas are pending termination"
    if not status.stable_rs or status.stable_rs != status.current_pod_hash:
        return "Progressing", "waiting for all steps to complete"
    return "Healthy", ""


def rollout_phase(rollout: models.Rollout, *, now: datetime) -> tuple[str, str]:
    """The phase the kubectl plugin shows (GetRolloutPhase): the client-side checks, then the stored phase."""
    status = rollout.status
    observed = status.observed_generation
    if observed.isdigit() and int(observed) != rollout.generation:
        return "Progressing", "waiting for rollout spec update to be observed"
    if status.controller_pause and not status.pause_conditions:
        return "Progressing", "waiting for rollout to unpause"
    if status.phase:
        return status.phase, status.message
    return calculate_phase(rollout, status, now=now)


def _raw_string(rollout: models.Rollout, key: str) -> str | None:
    value = rollout.raw_status.get(key)
    return value if isinstance(value, str) else None


def set_condition(conditions: tuple[models.Condition, ...], type_: str, status: str, reason: str,
                  message: str, *, now: datetime, refresh: bool = False) -> tuple[models.Condition, ...]:
    """SetRolloutCondition: unchanged when status and reason match (unless `refresh`, or a new message);
    the transition time is kept while the status stays."""
    current = next((c for c in conditions if c.type == type_), None)
    if current is not None and current.status == status and current.reason == reason:
        if not refresh and current.message == message:
            return conditions
    stamp = models.format_time(now)
    transition = current.last_transition_time if current is not None and current.status == status else stamp
    new = models.Condition(type=type_, status=status, reason=reason, message=message,
                           last_update_time=stamp, last_transition_time=transition)
    return (*(c for c in conditions if c.type != type_), new)


def _remove(conditions: tuple[models.Condition, ...], type_: str) -> tuple[models.Condition, ...]:
    return tuple(c for c in conditions if c.type != type_)


@dataclass(frozen=True, slots=True)
class ConditionFacts:
    """What the planner decided this cycle that the conditions depend on."""

    invalid_spec: str | None
    revision: int
    new_rs_name: str
    total_available: int
    abort_message: str = ""
    """Why the controller aborted this cycle (a failed analysis): appended to the aborted condition."""


def _progressed(old: models.RolloutStatus, new: models.RolloutStatus) -> bool:
    """RolloutProgressing: pods moved, a step was completed, or the stable ReplicaSet changed."""
    step_moved = (old.current_step_index is not None and new.current_step_index is not None
                  and old.current_step_index != new.current_step_index)
    return (new.updated_replicas != old.updated_replicas
            or new.replicas - new.updated_replicas < old.replicas - old.updated_replicas
            or new.ready_replicas > old.ready_replicas or new.available_replicas > old.available_replicas
            or new.stable_rs != old.stable_rs or step_moved)


def deadline_abort_message(rollout: models.Rollout, new: models.RolloutStatus, new_rs_name: str, *,
                           indefinite_step: bool, now: datetime) -> str | None:
    """evaluateProgressDeadlineAbort: why to abort an in-flight update that ran out of its progress deadline
    (spec.progressDeadlineAbort), or None. Steps that wait on purpose (an indefinite pause) never count."""
    old = rollout.status
    progress = old.condition(PROGRESSING)
    completed = new.condition(COMPLETED)
    if not rollout.progress_deadline_abort or old.abort or new.abort or progress is None or indefinite_step:
        return None
    if (completed is not None and completed.status == "True") or _progressed(old, new):
        return None
    if not _timed_out(rollout, progress, now=now):
        return None
    if new_rs_name:
        return f'ReplicaSet "{new_rs_name}" has timed out progressing.'
    return f'Rollout "{rollout.name}" has timed out progressing.'


def progress_deadline(rollout: models.Rollout, status: models.RolloutStatus) -> datetime | None:
    """When a Rollout still progressing times out (None: completed, paused, aborted or timed out already)."""
    progress = status.condition(PROGRESSING)
    if progress is None or progress.reason not in (RS_UPDATED, ROLLOUT_RESUMED, ROLLOUT_RETRY):
        return None
    updated = models.parse_time(progress.last_update_time)
    return updated + timedelta(seconds=rollout.progress_deadline_seconds) if updated is not None else None


def _timed_out(rollout: models.Rollout, progress: models.Condition, *, now: datetime) -> bool:
    """RolloutTimedOut: no progress for progressDeadlineSeconds (a timed-out Rollout stays timed out)."""
    if progress.reason == PROGRESS_DEADLINE_EXCEEDED:
        return True
    deadline = progress_deadline(rollout, rollout.status)
    return deadline is not None and now > deadline


def _healthy(rollout: models.Rollout, new: models.RolloutStatus) -> bool:
    replicas = rollout.replicas
    steps = len(rollout.steps)
    all_steps = not steps or new.current_step_index is None or new.current_step_index == steps
    promoted = bool(new.stable_rs) and new.stable_rs == new.current_pod_hash
    return (new.updated_replicas == replicas and new.available_replicas == replicas
            and new.replicas == replicas and all_steps and promoted)


def next_conditions(rollout: models.Rollout, new: models.RolloutStatus, facts: ConditionFacts, *,
                    now: datetime) -> tuple[models.Condition, ...]:
    """The conditions after this cycle (calculateRolloutConditions with checkPausedConditions folded in)."""
    old = rollout.status
    conditions = old.conditions
    if facts.invalid_spec is not None:
        return set_condition(conditions, INVALID_SPEC, "True", INVALID_SPEC, facts.invalid_spec, now=now)
    conditions = _remove(conditions, INVALID_SPEC)
    progress = next((c for c in conditions if c.type == PROGRESSING), None)
    reason = progress.reason if progress else ""
    paused = bool(new.pause_conditions) or rollout.paused
    if new.abort:
        message = aborted_message(facts.revision)
        if facts.abort_message:
            message = f"{message}: {facts.abort_message}"
        elif progress is not None and progress.reason == ROLLOUT_ABORTED and progress.message.startswith(
                f"{message}: "):
            message = progress.message  # the analysis that aborted it stays named while aborted
        conditions = set_condition(conditions, PROGRESSING, "False", ROLLOUT_ABORTED, message, now=now)
    elif paused:
        if reason != ROLLOUT_PAUSED:
            conditions = set_condition(conditions, PROGRESSING, "Unknown", ROLLOUT_PAUSED,
                                       ROLLOUT_PAUSED_MESSAGE, now=now)
    elif reason == ROLLOUT_PAUSED:
        conditions = set_condition(conditions, PROGRESSING, "Unknown", ROLLOUT_RESUMED,
                                   ROLLOUT_RESUMED_MESSAGE, now=now)
    elif reason == ROLLOUT_ABORTED:
        conditions = set_condition(conditions, PROGRESSING, "Unknown", ROLLOUT_RETRY, ROLLOUT_RETRY_MESSAGE,
                                   now=now)
    elif reason == NEW_RS_AVAILABLE and new.replicas == new.available_replicas:
        pass  # a completed rollout is not re-estimated (isCompleteRollout)
    elif _healthy(rollout, new):
        conditions = set_condition(conditions, PROGRESSING, "True", NEW_RS_AVAILABLE,
                                   f'ReplicaSet "{facts.new_rs_name}" has successfully progressed.', now=now)
    elif _progressed(old, new):
        subject = f'ReplicaSet "{facts.new_rs_name}"' if facts.new_rs_name else f'Rollout "{rollout.name}"'
        conditions = set_condition(conditions, PROGRESSING, "True", RS_UPDATED, f"{subject} is progressing.",
                                   now=now, refresh=True)
    elif not new.abort and progress is not None and _timed_out(rollout, progress, now=now):
        conditions = set_condition(conditions, PROGRESSING, "False", PROGRESS_DEADLINE_EXCEEDED,
                                   f'ReplicaSet "{facts.new_rs_name}" has timed out progressing.', now=now)
    pause = next((c for c in conditions if c.type == PAUSED), None)
    want_paused = paused and not new.abort
    if want_paused != (pause is not None and pause.status == "True"):
        conditions = set_condition(conditions, PAUSED, "True" if want_paused else "False", ROLLOUT_PAUSED,
                                   ROLLOUT_PAUSED_MESSAGE, now=now)
    if facts.total_available >= rollout.replicas:
        conditions = set_condition(conditions, AVAILABLE, "True", AVAILABLE_REASON, AVAILABLE_MESSAGE,
                                   now=now)
    else:
        conditions = set_condition(conditions, AVAILABLE, "False", AVAILABLE_REASON, NOT_AVAILABLE_MESSAGE,
                                   now=now)
    return _health_and_completion(rollout, new, conditions, paused=paused, now=now)


def _health_and_completion(rollout: models.Rollout, new: models.RolloutStatus,
                           conditions: tuple[models.Condition, ...], *, paused: bool,
                           now: datetime) -> tuple[models.Condition, ...]:
    """`Healthy` (False written only once it exists) and `Completed`, as the reference writes them."""
    if not paused and not new.abort and _healthy(rollout, new):
        conditions = set_condition(conditions, HEALTHY, "True", ROLLOUT_HEALTHY, ROLLOUT_HEALTHY_MESSAGE,
                                   now=now)
    elif any(c.type == HEALTHY for c in conditions):
        conditions = set_condition(conditions, HEALTHY, "False", ROLLOUT_HEALTHY,
                                   ROLLOUT_NOT_HEALTHY_MESSAGE, now=now)
    completed = bool(new.stable_rs) and new.stable_rs == new.current_pod_hash
    return set_condition(conditions, COMPLETED, "True" if completed else "False", ROLLOUT_COMPLETED,
                         ROLLOUT_COMPLETED, now=now)
