"""The blue-green decision rules (reference doc §3): pure predicates over one cycle's observed facts.

Room: plan (pure). Each function mirrors one reference rule (named in its docstring) and reads a `Cycle`:
the snapshot, the strategy, the observed `status.blueGreen`, the active Service's hash and `now`. Where the
reference fails users (§12) and §14 says how to do better, the better variant is implemented and the
docstring says so. Nothing here reads a clock or changes anything.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from statemachine import models, steps
from statemachine.bluegreen_spec import BlueGreenStrategy
from statemachine.bluegreen_status import BLUE_GREEN_PAUSE, INCONCLUSIVE_ANALYSIS, BlueGreenStatus
from statemachine.snapshot import ReplicaSetView, Snapshot

__all__ = [
    "HALTED_ROW",
    "Cycle",
    "PauseAction",
    "PauseDecision",
    "by_hash",
    "completed_pause",
    "desired_active",
    "fast_tracked",
    "full_promote_reason",
    "halt_progress",
    "is_fast_rollback",
    "is_rollback",
    "is_saturated",
    "never_switched",
    "new_rs_replicas",
    "pause_decision",
    "ready_for_pause",
    "restored_active",
    "scale_up_checkpoint",
    "widened",
]


@dataclass(frozen=True, slots=True)
class Cycle:
    """One reconcile's facts: `bg` is `status.blueGreen` as observed; `active` the hash the active Service
    selects at the start of the cycle ("" without the key, after a drift restore, see `restored_active`);
    `new_within_delay` the new ReplicaSet had an unexpired scale-down deadline at the start."""

    snapshot: Snapshot
    strategy: BlueGreenStrategy
    bg: BlueGreenStatus
    active: str
    now: datetime
    new_within_delay: bool = False

    @property
    def rollout(self) -> models.Rollout:
        return self.snapshot.rollout

    @property
    def status(self) -> models.RolloutStatus:
        return self.snapshot.rollout.status

    @property
    def new_hash(self) -> str:
        return self.snapshot.new_rs.hash if self.snapshot.new_rs is not None else ""


def halt_progress(rollout: models.Rollout) -> str:
    """haltProgress (§3.1): why the preview switch, the active switch and the pause wait ("" none)."""
    if rollout.paused:
        return "user paused"
    if any(c.reason == INCONCLUSIVE_ANALYSIS for c in rollout.status.pause_conditions):
        return "inconclusive analysis"
    return ""


def is_saturated(rollout: models.Rollout, rs: ReplicaSetView | None, size: int | None = None) -> bool:
    """IsSaturated (§3.2) with `size` the ReplicaSet's spec.replicas after this cycle's scale.

    The desired-replicas annotation is rewritten by every scale this cycle plans, so it equals
    `spec.replicas` whenever the size does.
    """
    if rs is None:
        return False
    spec = rs.spec_replicas if size is None else size
    return spec == rollout.replicas and rs.available_replicas == rollout.replicas


def by_hash(snapshot: Snapshot, pod_hash: str) -> ReplicaSetView | None:
    if not pod_hash:
        return None
    sets = (snapshot.new_rs, snapshot.stable_rs, *snapshot.others)
    return next((rs for rs in sets if rs is not None and rs.hash == pod_hash), None)


def new_rs_replicas(cycle: Cycle) -> int:
    """NewRSNewReplicas (§3.4): `spec.replicas`, or previewReplicaCount until the preview checkpoint."""
    rollout, preview = cycle.rollout, cycle.strategy.preview_replica_count
    if preview is None:
        return rollout.replicas
    active = by_hash(cycle.snapshot, cycle.bg.active_selector)
    if active is None or active.hash == cycle.new_hash or cycle.status.promote_full:
        return rollout.replicas
    if cycle.new_hash != cycle.status.current_pod_hash:
        return preview
    not_paused = not rollout.paused and not cycle.status.pause_conditions
    if not_paused and cycle.bg.scale_up_preview_check_point:
        return rollout.replicas
    return preview


def ready_for_pause(cycle: Cycle, size: int) -> bool:
    """ReadyForPause (§3.2): the new ReplicaSet runs, available, the replicas §3.4 gives it."""
    new = cycle.snapshot.new_rs
    target = new_rs_replicas(cycle)
    return new is not None and size == target and new.available_replicas == target


def is_rollback(snapshot: Snapshot) -> bool:
    """isRollback (§3.3): back to the stable hash, or to a ReplicaSet created before the stable one."""
    new, stable = snapshot.new_rs, snapshot.stable_rs
    if new is None or stable is None:
        return False
    if snapshot.rollout.status.stable_rs == new.hash:
        return True
    born_new, born_stable = models.parse_time(new.created), models.parse_time(stable.created)
    return born_new is not None and born_stable is not None and born_new < born_stable


def is_fast_rollback(cycle: Cycle) -> bool:
    """isFastRollback (§3.3): a rollback within the window, within the scale-down delay, or to stable."""
    snapshot = cycle.snapshot
    if not is_rollback(snapshot):
        return False
    return (steps.rollback_within_window(snapshot) or cycle.new_within_delay
            or cycle.status.stable_rs == cycle.new_hash)


def never_switched(status: models.RolloutStatus, bg: BlueGreenStatus) -> bool:
    """The Rollout never pointed its active Service anywhere: no activeSelector recorded, and no stableRS
    other than the current hash (an initial deploy records its stableRS before the first switch)."""
    return not bg.active_selector and status.stable_rs in ("", status.current_pod_hash)


def restored_active(status: models.RolloutStatus, bg: BlueGreenStatus, new_hash: str, observed: str) -> str:
    """The hash to put back on an active Service that lost its hash key ("" when there is no drift).

    Better than the reference (§12.9, §14 item 0): a missing key is adoption only if the Rollout never
    switched the Service; otherwise it is drift, and the expected hash is restored: the new hash if the
    switch was already done, else `status.stableRS` (else the recorded activeSelector).
    """
    if observed or never_switched(status, bg):
        return ""
    if bg.active_selector and bg.active_selector == new_hash:
        return new_hash
    return status.stable_rs or bg.active_selector


def widened(status: models.RolloutStatus, bg: BlueGreenStatus, observed: str, wanted: str) -> bool:
    """Is the active Service widened for a cutover (ours, §14 item 5)?

    Make-before-break: for a switch from activeSelector to currentPodHash the planner first drops the hash
    key from the active Service's selector, so that the old and the new pods both serve until the new ones are
    registered and healthy; only then is the new hash set (and recorded). No field records the widening: a
    Service without the key while activeSelector still differs from currentPodHash is taken for it when the
    rules want that switch now (`wanted`, §3.7, after the pause and the analysis as always) or the update is
    aborted (the old hash is then set back without a Warning). Otherwise it is drift (§14 item 0,
    `restored_active`), also when a pause or a new template calls off a cutover while the Service is widened.
    """
    return (not observed and bool(bg.active_selector) and bg.active_selector != status.current_pod_hash
            and (wanted == status.current_pod_hash or status.abort))


def fast_tracked(cycle: Cycle) -> bool:
    """isBlueGreenFastTracked (§3.5): no pause for a fast rollback, promote --full, an adopted Service
    without hash key (only one never switched: §14 item 0), or an active Service already on the new hash."""
    if is_fast_rollback(cycle) or cycle.status.promote_full:
        return True
    if not cycle.active:
        return never_switched(cycle.status, cycle.bg)
    return cycle.active == cycle.new_hash


def completed_pause(cycle: Cycle, *, added: bool) -> bool:
    """CompletedBlueGreenPause (§3.5); `added`: a BlueGreenPause was added in this cycle.

    Better than the reference (§12.3, §14 item 7): a human `promote` (the condition cleared while
    controllerPause is set) also completes an autoPromotionSeconds countdown instead of restarting it.
    """
    status, strategy = cycle.status, cycle.strategy
    condition = steps.pause_condition(status, BLUE_GREEN_PAUSE)
    if added:
        return False
    if cycle.bg.scale_up_preview_check_point:
        return True
    human_resumed = status.controller_pause and condition is None
    if strategy.auto_promotion_enabled:
        seconds = strategy.auto_promotion_seconds
        if seconds == 0:
            return True
        if condition is not None:
            expiry = _expiry(condition, seconds)
            return expiry is not None and cycle.now > expiry
        return human_resumed
    return human_resumed


def _expiry(condition: models.PauseCondition, seconds: int) -> datetime | None:
    start = models.parse_time(condition.start_time)
    return None if start is None else start + timedelta(seconds=seconds)


HALTED_ROW = 3
"""§3.6 row 3: haltProgress (spec.paused, an inconclusive analysis); the pause is left as it is."""


class PauseAction(enum.Enum):
    NOTHING = "nothing"
    ADD = "add"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class PauseDecision:
    """What reconcileBlueGreenPause does to the BlueGreenPause condition; `row` names the §3.6 row."""

    action: PauseAction
    row: int
    requeue_after: float | None = None


def pause_decision(cycle: Cycle, *, ready: bool, pre_analysis_done: bool = True) -> PauseDecision:
    """reconcileBlueGreenPause (§3.6), first matching row; `ready` is ReadyForPause(newRS)."""
    status, bg = cycle.status, cycle.bg
    if status.abort:
        return PauseDecision(PauseAction.NOTHING, 1)
    if not ready:
        return PauseDecision(PauseAction.NOTHING, 2)
    if halt_progress(cycle.rollout):
        return PauseDecision(PauseAction.NOTHING, HALTED_ROW)
    if fast_tracked(cycle):
        return PauseDecision(PauseAction.REMOVE, 4)
    if cycle.active == cycle.new_hash:
        return PauseDecision(PauseAction.REMOVE, 5)
    if bg.scale_up_preview_check_point:
        return PauseDecision(PauseAction.REMOVE, 6)
    if not cycle.strategy.needs_controller_pause:
        return PauseDecision(PauseAction.REMOVE, 7)
    if not pre_analysis_done:
        return PauseDecision(PauseAction.NOTHING, 8)
    condition = steps.pause_condition(status, BLUE_GREEN_PAUSE)
    if condition is not None:
        if completed_pause(cycle, added=False):
            return PauseDecision(PauseAction.REMOVE, 9)
        seconds = cycle.strategy.auto_promotion_seconds
        timed = seconds > 0 and cycle.strategy.auto_promotion_enabled
        expiry = _expiry(condition, seconds) if timed else None
        if expiry is None:
            return PauseDecision(PauseAction.NOTHING, 9)
        # the pause completes strictly after its expiry: an exact hit looks again a second later
        return PauseDecision(PauseAction.NOTHING, 9, max((expiry - cycle.now).total_seconds(), 0.0) or 1.0)
    if not status.controller_pause:
        seconds = cycle.strategy.auto_promotion_seconds
        timed = seconds > 0 and cycle.strategy.auto_promotion_enabled
        return PauseDecision(PauseAction.ADD, 10, float(seconds) if timed else None)
    return PauseDecision(PauseAction.NOTHING, 11)


def desired_active(cycle: Cycle, *, ready: bool, saturated: bool, pause_done: bool,
                   pre_analysis_done: bool = True) -> str:
    """reconcileActiveService (§3.7): the hash the active Service should select after this cycle.

    Better than the reference (§12.4, §14 item 4): an abort switches back to `status.stableRS` even when the
    new ReplicaSet is unsaturated or `spec.paused` is set; with no stable ReplicaSet recorded the Service is
    left alone (the reference would write an empty hash, selecting nothing).
    """
    status = cycle.status
    if status.abort:
        return status.stable_rs or cycle.active
    if halt_progress(cycle.rollout) or not ready or not saturated:
        return cycle.active
    if fast_tracked(cycle) or (pause_done and pre_analysis_done):
        return cycle.new_hash
    return cycle.active


def full_promote_reason(cycle: Cycle, *, active_after: str, current_pod_hash: str, targets_ok: bool,
                        aborted: bool, post_analysis_done: bool = True) -> str:
    """shouldFullPromote (§3.9, blue-green branch, order matters): the reason to make the new hash stable.

    Better than the reference (§12.9, §14 item 0): `Initial deploy` for a missing stable ReplicaSet or an
    empty activeSelector only when the Rollout never switched its active Service; a `status.stableRS` whose
    ReplicaSet is gone promotes only once the new ReplicaSet's pods are all available.
    """
    snapshot, status = cycle.snapshot, cycle.status
    if snapshot.stable_rs is None:
        if not status.stable_rs:
            return "Initial deploy"
        new = snapshot.new_rs
        available = new is not None and new.available_replicas >= cycle.rollout.replicas
        if available and active_after == current_pod_hash and targets_ok:
            return "Initial deploy"
        return ""
    if not active_after:
        return "Initial deploy" if never_switched(status, cycle.bg) else ""
    if active_after != current_pod_hash or not targets_ok:
        return ""
    if status.promote_full:
        return "Full promotion requested"
    if is_fast_rollback(cycle):
        return "Rollback within window" if steps.rollback_within_window(snapshot) else "Fast rollback"
    if aborted or not post_analysis_done:
        return ""
    return "Completed blue-green update"


def scale_up_checkpoint(cycle: Cycle, *, pause_done: bool, pre_analysis_done: bool = True) -> bool:
    """calculateScaleUpPreviewCheckPoint (§3.11): the one-way trip-wire of previewReplicaCount."""
    preview = cycle.strategy.preview_replica_count
    if preview is None:
        return False
    if cycle.bg.scale_up_preview_check_point:
        return True
    if not pre_analysis_done or not pause_done:
        return False
    new = cycle.snapshot.new_rs
    return new is not None and new.available_replicas == preview
