"""The end of a blue-green cycle: the stable promotion (§3.9), the accounting, the conditions (with
spec.progressDeadlineAbort) and phase (§4), their events, and the `BlueGreenDecision`.

Room: plan (pure). A mixin of `statemachine.bluegreen_planning`'s cycle, as `bluegreen_cutover` is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime

from statemachine import bluegreen_analysis, events, machine, models, phases
from statemachine import bluegreen_rules as rules
from statemachine import bluegreen_status as bgstatus
from statemachine.bluegreen_decision import (
    BlueGreenDecision,
    accounted,
    bluegreen_state,
    full_patch,
    pause_events,
)
from statemachine.bluegreen_spec import BlueGreenStrategy
from statemachine.events import Event  # the class body's `events` is the cycle's list
from statemachine.guards import Move
from statemachine.snapshot import ReplicaSetView, Snapshot
from statemachine.states import States

__all__ = ["Outcome", "with_phase"]


def with_phase(rollout: models.Rollout, new: models.RolloutStatus, bg: bgstatus.BlueGreenStatus,
               strategy: BlueGreenStrategy | None = None) -> models.RolloutStatus:
    """`new` with the phase and message of a blue-green Rollout (§4)."""
    post = strategy.post_promotion_analysis if strategy is not None else False
    phase, message = bgstatus.calculate_phase(rollout, new, bg, post_promotion_analysis=post)
    return dataclasses.replace(new, phase=phase, message=message)


class Outcome:
    """The cycle's state these methods read and add to (set by `bluegreen_planning._Cycle`)."""

    snapshot: Snapshot
    strategy: BlueGreenStrategy
    old_bg: bgstatus.BlueGreenStatus
    source: States
    now: datetime
    deadlines: Mapping[str, str]
    new_rs: ReplicaSetView
    events: list[events.Event]
    selectors: list[tuple[str, str]]
    deadline_changes: list[tuple[str, str | None]]
    notes: list[str]
    requeue: float | None
    analysis: bluegreen_analysis.BlueGreenAnalysis | None

    @property
    def rollout(self) -> models.Rollout:
        return self.snapshot.rollout

    def finish(self, cycle: rules.Cycle, new: models.RolloutStatus, bg: bgstatus.BlueGreenStatus,
               promotion: str, *, sizes: tuple[int | None, int | None],
               others: tuple[tuple[str, int], ...] = (), verify_hash: str = "", waiting: bool = False,
               new_revision: bool = False) -> BlueGreenDecision:
        """§3.9 promoteStable, the accounting, conditions and phase, events, and the decision."""
        snapshot, rollout = self.snapshot, self.rollout
        old, revision = rollout.status, snapshot.revision
        if promotion:
            new = dataclasses.replace(new, pause_conditions=(), controller_pause=False, abort=False,
                                      aborted_at=None, promote_full=False)
            bg = dataclasses.replace(bg, scale_up_preview_check_point=False)
            if new.stable_rs != new.current_pod_hash:
                new = dataclasses.replace(new, stable_rs=new.current_pod_hash)
                self.events.append(events.rollout_completed(revision, new.current_pod_hash, promotion))
                self.notes.insert(0, f"promoted {new.current_pod_hash} to stable: {promotion}")
        active_rs = rules.by_hash(snapshot, bg.active_selector)
        new = accounted(snapshot, new, active_rs)
        size_after = {self.new_rs.name: sizes[0]}
        if snapshot.stable_rs is not None:
            size_after.setdefault(snapshot.stable_rs.name, sizes[1])
        size_after.update(dict(others))
        active_size = size_after.get(active_rs.name) if active_rs is not None else None
        facts = bgstatus.ConditionFacts(
            revision=revision, new_rs_name=self.new_rs.name,
            active_saturated=rules.is_saturated(rollout, active_rs, active_size),
            abort_message=self.analysis.abort_message if self.analysis is not None else "",
            waiting_for_scale_down=any(rs.name in self.deadlines for rs in snapshot.others))
        new = self.conditions(new, bg, facts)
        new = with_phase(rollout, new, bg, self.strategy)
        self.events.extend(pause_events(old, new))
        self.events.extend(self.condition_events(new))
        after = dataclasses.replace(rollout, status=new)
        move = Move(source=self.source, target=bluegreen_state(after, waiting_for_targets=waiting),
                    new_revision=new_revision)
        reason = "; ".join(note for note in self.notes if note) or new.message or new.phase
        return BlueGreenDecision(
            status=new, blue_green=bg, status_patch=full_patch(rollout.raw_status, new, bg), replicas=sizes,
            selectors=tuple(self.selectors), others=others, deadlines=tuple(self.deadline_changes),
            events=tuple(self.events), requeue_after=self.requeue, reason=reason,
            verify_active=bool(verify_hash), verify_hash=verify_hash, move=move, trigger=machine.choose(move),
            after=after, analysis=self.analysis)

    def conditions(self, new: models.RolloutStatus, bg: bgstatus.BlueGreenStatus,
                   facts: bgstatus.ConditionFacts) -> models.RolloutStatus:
        """The conditions, with spec.progressDeadlineAbort turning a timed-out update into an abort (§4.1)."""
        rollout = self.rollout
        preview = self.strategy.preview_service
        conditions = bgstatus.next_conditions(rollout, preview, self.old_bg, new, bg, facts, now=self.now)
        new = dataclasses.replace(new, conditions=conditions)
        paused = rollout.status.condition(phases.PAUSED)
        timed_out = None if facts.waiting_for_scale_down else phases.deadline_abort_message(
            rollout, new, facts.new_rs_name, now=self.now,
            indefinite_step=bool(new.pause_conditions) or (paused is not None and paused.status == "True"))
        if timed_out is None:
            return new
        self.events.append(events.Event(events.WARNING, events.ROLLOUT_ABORTED, timed_out))
        self.notes.insert(0, timed_out)
        new = dataclasses.replace(new, abort=True, aborted_at=models.format_time(self.now),
                                  pause_conditions=(), controller_pause=False)
        facts = dataclasses.replace(facts, abort_message=timed_out)
        conditions = bgstatus.next_conditions(rollout, preview, self.old_bg, new, bg, facts, now=self.now)
        return dataclasses.replace(new, conditions=conditions)

    def condition_events(self, new: models.RolloutStatus) -> tuple[Event, ...]:
        """`RolloutAborted` when Progressing turns RolloutAborted, `RolloutNotCompleted` when Completed turns
        False (§4.2)."""
        old = self.rollout.status
        found: list[events.Event] = []
        was, now_ = old.condition(phases.PROGRESSING), new.condition(phases.PROGRESSING)
        if (now_ is not None and now_.reason == phases.ROLLOUT_ABORTED
                and (was is None or was.reason != phases.ROLLOUT_ABORTED)):
            found.append(events.Event(events.WARNING, events.ROLLOUT_ABORTED, now_.message))
        was, now_ = old.condition(phases.COMPLETED), new.condition(phases.COMPLETED)
        if was is not None and was.status == "True" and now_ is not None and now_.status == "False":
            found.append(events.rollout_not_completed(self.snapshot.revision, new.current_pod_hash))
        return tuple(found)
