"""The canary cycle's bookkeeping: step advance, promotion, pauses and abort (`advance`), the ReplicaSet sizes
(`replica_counts`) and the planned status's counts, conditions and phase (`with_conditions`).

Room: plan (pure). Split out of `statemachine.planning`, which calls these once per canary cycle; they mirror
the reference's syncRolloutStatusCanary and CalculatePauseStatus on immutable data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from statemachine import (
    canary_analysis,
    events,
    models,
    phases,
    states,
    status,
    steps,
    weights,
    workload_refs,
)
from statemachine.snapshot import Snapshot

__all__ = ["Progress", "advance", "earliest", "replica_counts", "with_conditions"]

Counts = tuple[int | None, int | None]


@dataclass(frozen=True, slots=True)
class Progress:
    """The step/pause/abort outcome of one cycle before it is turned into a status."""

    index: int | None
    stable_rs: str
    ping_pong: str
    abort: bool
    aborted_at: str | None
    pause_conditions: tuple[models.PauseCondition, ...]
    controller_pause: bool
    step_advanced: bool
    reason: str
    events: tuple[events.Event, ...]


def earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def replica_counts(snapshot: Snapshot, *, now: datetime) -> tuple[Counts, float | None]:
    """Desired (canary, stable) sizes; an aborted canary keeps its size for abortScaleDownDelaySeconds."""
    rollout = snapshot.rollout
    old = rollout.status
    replicas = rollout.replicas
    if states.is_promoted(rollout):
        return (replicas, replicas), None
    if snapshot.stable_rs is None:
        return (replicas, None), None  # nothing to shift from: the first ReplicaSet takes every replica
    dynamic = rollout.canary is not None and rollout.canary.dynamic_stable_scale
    if old.abort and not dynamic:
        keep = snapshot.new_rs.spec_replicas if snapshot.new_rs else 0
        delay = weights.abort_scale_down_delay(rollout)
        if delay == 0:
            return (keep, replicas), None
        deadline = (models.parse_time(old.aborted_at) or now) + timedelta(seconds=delay)
        if now < deadline:
            return (keep, replicas), (deadline - now).total_seconds()
        return (0, replicas), None
    return weights.traffic_routed_counts(rollout, old.canary.weights), None


def advance(snapshot: Snapshot, *, now: datetime, weight_ok: bool,
             analysis: canary_analysis.AnalysisDecision | None = None) -> Progress:
    """Step advance, promotion, abort index and pauses (syncRolloutStatusCanary, CalculatePauseStatus);
    `analysis` may complete an analysis step, pause (inconclusive) or abort (failed)."""
    analysis = analysis or canary_analysis.AnalysisDecision()
    rollout = snapshot.rollout
    old = rollout.status
    count = len(rollout.steps)
    index = weights.step_index(rollout)
    stable_rs, ping_pong = old.stable_rs, old.canary.stable_ping_pong
    clear_pauses = remove_abort = remove_step_pause = advanced = False
    reason = ""
    found: list[events.Event] = []
    if old.promote_full:
        clear_pauses = remove_abort = True
        index = count if count else index
    if old.abort and states.is_promoted(rollout):
        remove_abort = True
    aborted = (old.abort and not remove_abort) or bool(analysis.abort_message)
    promotion = "" if aborted else steps.should_full_promote(snapshot, weight_ok=weight_ok)
    if promotion:
        clear_pauses = remove_abort = True
        index = count if count else None
        reason = promotion
        if old.stable_rs != snapshot.pod_hash:
            if rollout.canary is not None and rollout.canary.ping_pong is not None:
                ping_pong = "pong" if ping_pong == "ping" else "ping"
            stable_rs = snapshot.pod_hash
            found.append(events.rollout_completed(snapshot.revision, snapshot.pod_hash, promotion))
    elif aborted:
        if count:
            index = count if old.stable_rs == snapshot.pod_hash else 0
        reason = phases.aborted_message(snapshot.revision)
        if analysis.abort_message:
            reason = f"{reason}: {analysis.abort_message}"
    elif steps.step_completed(snapshot, now=now, weight_ok=weight_ok, analysis_ok=analysis.step_successful):
        step, current = weights.current_step(rollout)
        assert step is not None and current is not None  # step_completed is False without a current step
        found.append(events.step_completed(current, count, steps.step_string(step)))
        index = current + 1
        remove_step_pause = advanced = True
        reason = found[-1].message
    if aborted:
        aborted_at = old.aborted_at or models.format_time(now)
        return Progress(index, stable_rs, ping_pong, True, aborted_at, (), False, advanced, reason,
                         tuple(found))
    conditions = old.pause_conditions
    controller_pause = old.controller_pause
    if remove_step_pause:
        conditions = tuple(c for c in conditions if c.reason != steps.CANARY_PAUSE_STEP)
    elif not promotion and steps.wants_pause_condition(rollout):
        conditions = (*conditions, models.PauseCondition(steps.CANARY_PAUSE_STEP, models.format_time(now)))
        controller_pause = True
        reason = reason or f"paused: {steps.CANARY_PAUSE_STEP}"
    if (analysis.inconclusive and not promotion
            and all(c.reason != canary_analysis.INCONCLUSIVE_PAUSE for c in conditions)):
        conditions = (*conditions, models.PauseCondition(canary_analysis.INCONCLUSIVE_PAUSE,
                                                         models.format_time(now)))
        controller_pause = True
        reason = f"paused: {canary_analysis.INCONCLUSIVE_PAUSE}"
    if clear_pauses:
        conditions = ()
    controller_pause = controller_pause and bool(conditions)
    return Progress(index, stable_rs, ping_pong, False, None, conditions, controller_pause, advanced, reason,
                     tuple(found))


def with_conditions(snapshot: Snapshot, new: models.RolloutStatus, *, now: datetime,
                     abort_message: str = "") -> models.RolloutStatus:
    """Fill replica counts, observedGeneration, conditions, phase and message of a planned status."""
    rollout = snapshot.rollout
    sets = {rs.name: rs for rs in (snapshot.new_rs, snapshot.stable_rs, *snapshot.others) if rs is not None}
    new_rs = snapshot.new_rs
    new = dataclasses.replace(
        new, observed_generation=str(rollout.generation),
        replicas=sum(rs.current_replicas for rs in sets.values()),
        updated_replicas=new_rs.current_replicas if new_rs else 0,
        ready_replicas=sum(rs.ready_replicas for rs in sets.values()),
        available_replicas=sum(rs.available_replicas for rs in sets.values()),
        hpa_replicas=sum(rs.current_replicas for rs in sets.values()),
        selector=status.label_selector(rollout.selector),
        workload_observed_generation=workload_refs.observed_generation(rollout),
    )
    name = new_rs.name if new_rs else ""
    facts = phases.ConditionFacts(None, snapshot.revision, name, new.available_replicas, abort_message)
    new = dataclasses.replace(new, conditions=phases.next_conditions(rollout, new, facts, now=now))
    phase, message = phases.calculate_phase(rollout, new, now=now)
    return dataclasses.replace(new, phase=phase, message=message)
