"""`status.blueGreen`, and the conditions, phase and message of a blue-green Rollout (reference doc §4).

Room: plan (pure). `BlueGreenStatus` is parsed from the raw status and serialised back (Go `omitempty`);
`next_conditions` is calculateRolloutConditions for blue-green, `paused_conditions` is checkPausedConditions,
`calculate_phase` is CalculateRolloutPhase's blue-green rows. Time comes in as `now`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from statemachine import merge_patch, models, phases

__all__ = [
    "BLUE_GREEN_PAUSE",
    "INCONCLUSIVE_ANALYSIS",
    "BlueGreenStatus",
    "ConditionFacts",
    "blue_green_fields",
    "blue_green_patch",
    "calculate_phase",
    "healthy",
    "next_conditions",
    "parse_status",
    "paused_conditions",
]

BLUE_GREEN_PAUSE = "BlueGreenPause"
INCONCLUSIVE_ANALYSIS = "InconclusiveAnalysisRun"
_ANALYSIS_DONE = ("Successful", "Failed", "Error", "Inconclusive")


@dataclass(frozen=True, slots=True)
class BlueGreenStatus:
    """`status.blueGreen`; the analysis run statuses stay raw (`{name, status, message?}`)."""

    active_selector: str = ""
    preview_selector: str = ""
    scale_up_preview_check_point: bool = False
    pre_promotion_analysis_run_status: Mapping[str, Any] | None = field(default=None, compare=False)
    post_promotion_analysis_run_status: Mapping[str, Any] | None = field(default=None, compare=False)


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _opt_map(obj: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else None


def parse_status(raw_status: Mapping[str, Any]) -> BlueGreenStatus:
    """`status.blueGreen` of a raw status; anything malformed reads as unset."""
    raw = raw_status.get("blueGreen")
    bg: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    return BlueGreenStatus(
        active_selector=_str(bg, "activeSelector"),
        preview_selector=_str(bg, "previewSelector"),
        scale_up_preview_check_point=bg.get("scaleUpPreviewCheckPoint") is True,
        pre_promotion_analysis_run_status=_opt_map(bg, "prePromotionAnalysisRunStatus"),
        post_promotion_analysis_run_status=_opt_map(bg, "postPromotionAnalysisRunStatus"),
    )


def blue_green_fields(status: BlueGreenStatus) -> dict[str, Any]:
    """`status.blueGreen` as the API stores it (every field omitempty)."""
    out: dict[str, Any] = {}
    if status.pre_promotion_analysis_run_status is not None:
        out["prePromotionAnalysisRunStatus"] = dict(status.pre_promotion_analysis_run_status)
    if status.post_promotion_analysis_run_status is not None:
        out["postPromotionAnalysisRunStatus"] = dict(status.post_promotion_analysis_run_status)
    if status.preview_selector:
        out["previewSelector"] = status.preview_selector
    if status.active_selector:
        out["activeSelector"] = status.active_selector
    if status.scale_up_preview_check_point:
        out["scaleUpPreviewCheckPoint"] = True
    return out


def blue_green_patch(raw_status: Mapping[str, Any], status: BlueGreenStatus) -> dict[str, Any] | None:
    """The merge patch of `status.blueGreen` (its value under "blueGreen"), None when unchanged."""
    raw = raw_status.get("blueGreen")
    current = {k: v for k, v in (raw.items() if isinstance(raw, Mapping) else ())
               if v not in (None, "", False)}
    patch = merge_patch.diff(current, blue_green_fields(status))
    return patch or None


# --- conditions --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConditionFacts:
    """What the cycle decided that the conditions depend on."""

    revision: int
    new_rs_name: str
    active_saturated: bool
    """The ReplicaSet the new activeSelector names exists and IsSaturated (the `Available` rule)."""
    abort_message: str = ""
    waiting_for_scale_down: bool = False
    """Some other ReplicaSet carries a scale-down deadline (no progress deadline then)."""


def _condition(status: models.RolloutStatus, type_: str) -> models.Condition | None:
    return status.condition(type_)


def paused_conditions(rollout: models.Rollout, *, now: datetime) -> tuple[models.Condition, ...] | None:
    """checkPausedConditions on the observed status: the conditions to write in a reconcile of their own, or
    None when nothing changes (or the generation is not observed yet)."""
    old = rollout.status
    if old.observed_generation != str(rollout.generation):
        return None
    progress = _condition(old, phases.PROGRESSING)
    progress_paused = progress is not None and progress.reason == phases.ROLLOUT_PAUSED
    paused = bool(old.pause_conditions) or rollout.paused
    abort_exists = progress is not None and progress.reason == phases.ROLLOUT_ABORTED
    completed = bool(old.stable_rs) and old.stable_rs == old.current_pod_hash
    conditions = old.conditions
    if paused != progress_paused and not abort_exists and not completed:
        reason, message = ((phases.ROLLOUT_PAUSED, phases.ROLLOUT_PAUSED_MESSAGE) if paused
                           else (phases.ROLLOUT_RESUMED, phases.ROLLOUT_RESUMED_MESSAGE))
        conditions = phases.set_condition(conditions, phases.PROGRESSING, "Unknown", reason, message, now=now)
    if not old.abort and abort_exists:
        conditions = phases.set_condition(conditions, phases.PROGRESSING, "Unknown", phases.ROLLOUT_RETRY,
                                          phases.ROLLOUT_RETRY_MESSAGE, now=now)
    pause = _condition(old, phases.PAUSED)
    if paused != (pause is not None and pause.status == "True") and not abort_exists:
        conditions = phases.set_condition(conditions, phases.PAUSED, "True" if paused else "False",
                                          phases.ROLLOUT_PAUSED, phases.ROLLOUT_PAUSED_MESSAGE, now=now)
    return None if conditions == old.conditions else conditions


def healthy(rollout: models.Rollout, preview_service: str, new: models.RolloutStatus,
            bg: BlueGreenStatus) -> bool:
    """RolloutHealthy for blue-green: all replicas updated and available (the active ReplicaSet's), the
    generation observed, and the active (and preview, if any) selector on the current hash."""
    replicas = rollout.replicas
    selectors = bg.active_selector == new.current_pod_hash and (
        not preview_service or bg.preview_selector == new.current_pod_hash)
    return (new.updated_replicas == replicas and new.available_replicas == replicas
            and rollout.status.observed_generation == str(rollout.generation) and selectors)


def _progressed(rollout: models.Rollout, old_bg: BlueGreenStatus, new: models.RolloutStatus,
                bg: BlueGreenStatus) -> bool:
    """RolloutProgressing for blue-green: pods moved, or the active or preview selector changed."""
    old = rollout.status
    return (new.updated_replicas != old.updated_replicas
            or new.replicas - new.updated_replicas < old.replicas - old.updated_replicas
            or new.ready_replicas > old.ready_replicas or new.available_replicas > old.available_replicas
            or old_bg.active_selector != bg.active_selector or old_bg.preview_selector != bg.preview_selector)


def next_conditions(rollout: models.Rollout, preview_service: str, old_bg: BlueGreenStatus,
                    new: models.RolloutStatus, bg: BlueGreenStatus, facts: ConditionFacts, *,
                    now: datetime) -> tuple[models.Condition, ...]:
    """calculateRolloutConditions (blue-green), in its order, so the list order matches the reference's."""
    conditions = tuple(c for c in rollout.status.conditions if c.type != phases.INVALID_SPEC)
    paused = bool(new.pause_conditions) or rollout.paused
    is_healthy = healthy(rollout, preview_service, new, bg)
    became_unhealthy = False
    if not paused and is_healthy:
        conditions = phases.set_condition(conditions, phases.HEALTHY, "True", phases.ROLLOUT_HEALTHY,
                                          phases.ROLLOUT_HEALTHY_MESSAGE, now=now)
    elif any(c.type == phases.HEALTHY for c in conditions):
        before = conditions
        conditions = phases.set_condition(conditions, phases.HEALTHY, "False", phases.ROLLOUT_HEALTHY,
                                          phases.ROLLOUT_NOT_HEALTHY_MESSAGE, now=now)
        became_unhealthy = conditions != before
    if new.abort:
        message = phases.aborted_message(facts.revision)
        progress = next((c for c in conditions if c.type == phases.PROGRESSING), None)
        if facts.abort_message:
            message = f"{message}: {facts.abort_message}"
        elif (progress is not None and progress.reason == phases.ROLLOUT_ABORTED
              and progress.message.startswith(f"{message}: ")):
            message = progress.message  # the analysis that aborted it stays named while aborted
        conditions = phases.set_condition(conditions, phases.PROGRESSING, "False", phases.ROLLOUT_ABORTED,
                                          message, now=now)
    else:
        conditions = _progress(rollout, old_bg, new, bg, facts, conditions, is_healthy=is_healthy,
                               became_unhealthy=became_unhealthy, now=now)
    if facts.active_saturated:
        conditions = phases.set_condition(conditions, phases.AVAILABLE, "True", phases.AVAILABLE_REASON,
                                          phases.AVAILABLE_MESSAGE, now=now)
    else:
        conditions = phases.set_condition(conditions, phases.AVAILABLE, "False", phases.AVAILABLE_REASON,
                                          phases.NOT_AVAILABLE_MESSAGE, now=now)
    completed = bool(new.stable_rs) and new.stable_rs == new.current_pod_hash
    conditions = phases.set_condition(conditions, phases.COMPLETED, "True" if completed else "False",
                                      phases.ROLLOUT_COMPLETED, phases.ROLLOUT_COMPLETED, now=now)
    return conditions


def _progress(rollout: models.Rollout, old_bg: BlueGreenStatus, new: models.RolloutStatus,
              bg: BlueGreenStatus, facts: ConditionFacts, conditions: tuple[models.Condition, ...], *,
              is_healthy: bool, became_unhealthy: bool, now: datetime) -> tuple[models.Condition, ...]:
    """The Progressing condition of a Rollout not aborted (the reference's switch, first case wins)."""
    name = facts.new_rs_name
    if is_healthy:
        return phases.set_condition(conditions, phases.PROGRESSING, "True", phases.NEW_RS_AVAILABLE,
                                    f'ReplicaSet "{name}" has successfully progressed.', now=now)
    if _progressed(rollout, old_bg, new, bg) or became_unhealthy:
        if new.stable_rs == new.current_pod_hash and became_unhealthy:
            reason, message = "ReplicaSetNotAvailable", phases.NOT_AVAILABLE_MESSAGE
        else:
            reason = phases.RS_UPDATED
            subject = f'ReplicaSet "{name}"' if name else f'Rollout "{rollout.name}"'
            message = f"{subject} is progressing."
        return phases.set_condition(conditions, phases.PROGRESSING, "True", reason, message, now=now,
                                    refresh=True)
    pause = rollout.status.condition(phases.PAUSED)
    indefinite = pause is not None and pause.status == "True"
    deadline = phases.progress_deadline(rollout, rollout.status)
    progress = rollout.status.condition(phases.PROGRESSING)
    timed_out = (progress is not None and progress.reason == phases.PROGRESS_DEADLINE_EXCEEDED) or (
        deadline is not None and now > deadline)
    if not indefinite and not facts.waiting_for_scale_down and timed_out:
        return phases.set_condition(conditions, phases.PROGRESSING, "False",
                                    phases.PROGRESS_DEADLINE_EXCEEDED,
                                    f'ReplicaSet "{name}" has timed out progressing.', now=now)
    return conditions


# --- phase -------------------------------------------------------------------------------------------


def calculate_phase(rollout: models.Rollout, status: models.RolloutStatus, bg: BlueGreenStatus, *,
                    post_promotion_analysis: bool = False) -> tuple[str, str]:
    """(phase, message), first match wins (CalculateRolloutPhase, reference doc §4.3)."""
    shared = phases.common_phase(rollout, status)
    if shared is not None:
        return shared
    current = status.current_pod_hash
    if not bg.active_selector or bg.active_selector != current:
        return "Progressing", "active service cutover pending"
    if not status.stable_rs or status.stable_rs != current:
        run = bg.post_promotion_analysis_run_status
        if post_promotion_analysis and (run is None or run.get("status") not in _ANALYSIS_DONE):
            return "Progressing", "waiting for analysis to complete"
        return "Progressing", "waiting for post-promotion verification to complete"
    return "Healthy", ""
