"""The blue-green planner: one `Snapshot` and `now` in, one `BlueGreenDecision` out (reference doc §2 order).

Room: plan (pure, synchronous). Follows rolloutBlueGreen: checkPausedConditions (a cycle of its own), the
preview Service, a template change (status reset, no scaling), the ReplicaSets (§5, §6.1), the pause (§3.6),
the active Service (§3.7), target verification (§3.8), then the status (§4) and the stable promotion (§3.9).
Differences from the reference, each where §14 says so, are named in `bluegreen_rules`/`bluegreen_scaledown`;
here: the scale-down of old ReplicaSets never resizes one up, a template change always resets
scaleUpPreviewCheckPoint (the reference's recalculation reads the old status and can keep it set), and the
active Service's switch from one hash to another is made before it breaks (ours,
`bluegreen_cutover.CutOver.cut_over`, docs/bluegreen.md): widened first, its new hash set only once the new
pods serve. The cycle's end (§3.9, §4) is `bluegreen_outcome.Outcome`'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime

from statemachine import bluegreen_analysis, events, machine, models, phases, steps
from statemachine import bluegreen_rules as rules
from statemachine import bluegreen_scaledown as scaledown
from statemachine import bluegreen_status as bgstatus
from statemachine.bluegreen_cutover import TARGET_WAIT_RETRY, CutOver
from statemachine.bluegreen_decision import (
    BlueGreenDecision,
    bluegreen_state,
    full_patch,
    scaling_event,
    selector_restored,
    switch_service,
)
from statemachine.bluegreen_outcome import Outcome, with_phase
from statemachine.bluegreen_spec import BlueGreenStrategy
from statemachine.guards import Move
from statemachine.snapshot import ReplicaSetView, Snapshot
from statemachine.states import States

__all__ = ["INVALID_SPEC_REQUEUE", "TARGET_WAIT_RETRY", "VERIFY_RETRY_INTERVAL", "plan_blue_green"]

VERIFY_RETRY_INTERVAL = 10.0
"""ROLLOUT_VERIFY_RETRY_INTERVAL's default: how often unverified target groups are asked again."""
INVALID_SPEC_REQUEUE = 20.0



def plan_blue_green(snapshot: Snapshot, *, now: datetime, source: States | None = None,
                    targets_verified: bool | None = None, strategy: BlueGreenStrategy | None = None,
                    deadlines: Mapping[str, str] | None = None,
                    verify_retry_interval: float = VERIFY_RETRY_INTERVAL) -> BlueGreenDecision:
    """Decide one blue-green reconcile.

    `strategy` defaults to `snapshot.rollout.blue_green` (once models.Rollout carries it); `deadlines` maps a
    ReplicaSet name to its `scale-down-deadline` annotation; `targets_verified` is the last answer to "do the
    active Service's target groups serve the pods of `verify_hash`" (None: not asked, then the snapshot's
    EndpointSlices and targets decide, and a Service not observed there is not gated). `snapshot.selectors`
    gives the hash each Service selects now ("" without the key; a Service missing there is taken to select
    what status.blueGreen recorded).
    """
    strategy = strategy if strategy is not None else _strategy_of(snapshot.rollout)
    rollout = snapshot.rollout
    old_bg = bgstatus.parse_status(rollout.raw_status)
    source = source or bluegreen_state(rollout)
    if snapshot.invalid_spec is not None:
        return _plan_invalid(snapshot, old_bg, source, snapshot.invalid_spec, now=now)
    if snapshot.new_rs is None:
        return _decide(snapshot, source, old_bg, rollout.status, old_bg,
                       reason="waiting for the new ReplicaSet")
    conditions = bgstatus.paused_conditions(rollout, now=now)
    if conditions is not None:  # checkPausedConditions writes them in a reconcile of its own
        new = dataclasses.replace(rollout.status, conditions=conditions)
        return _decide(snapshot, source, old_bg, new, old_bg, reason="pause conditions")
    return _Cycle(snapshot, strategy, old_bg, source, now=now, targets_verified=targets_verified,
                  deadlines=deadlines or {}, retry=verify_retry_interval).run()


def _strategy_of(rollout: models.Rollout) -> BlueGreenStrategy:
    found = getattr(rollout, "blue_green", None)
    if not isinstance(found, BlueGreenStrategy):
        raise ValueError(f"{rollout.key}: no blue-green strategy (pass strategy=)")
    return found


def _decide(snapshot: Snapshot, source: States, old_bg: bgstatus.BlueGreenStatus, new: models.RolloutStatus,
            bg: bgstatus.BlueGreenStatus, *, reason: str, found: tuple[events.Event, ...] = (),
            requeue: float | None = None, **effects: object) -> BlueGreenDecision:
    """Assemble a decision without effects (unless given): a status-only cycle."""
    rollout = snapshot.rollout
    new = with_phase(rollout, dataclasses.replace(new, observed_generation=str(rollout.generation)), bg)
    after = dataclasses.replace(rollout, status=new)
    move = Move(source=source, target=bluegreen_state(after))
    return BlueGreenDecision(
        status=new, blue_green=bg, status_patch=full_patch(rollout.raw_status, new, bg),
        replicas=(None, None), selectors=(), others=(), deadlines=(), events=found, requeue_after=requeue,
        reason=reason, verify_active=False, verify_hash="", move=move, trigger=machine.choose(move),
        after=after)


def _plan_invalid(snapshot: Snapshot, old_bg: bgstatus.BlueGreenStatus, source: States, message: str, *,
                  now: datetime) -> BlueGreenDecision:
    """InvalidSpec (§0.2): the condition, phase Degraded, a Warning once per message, requeue 20 s."""
    rollout = snapshot.rollout
    old = rollout.status
    facts = phases.ConditionFacts(message, snapshot.revision, "", 0)
    new = dataclasses.replace(old, conditions=phases.next_conditions(rollout, old, facts, now=now))
    previous = old.condition(phases.INVALID_SPEC)
    fresh = previous is None or previous.status != "True" or previous.message != message
    found = (events.Event(events.WARNING, events.INVALID_SPEC, message),) if fresh else ()
    return _decide(snapshot, source, old_bg, new, old_bg, reason=f"InvalidSpec: {message}", found=found,
                   requeue=INVALID_SPEC_REQUEUE)


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


class _Cycle(CutOver, Outcome):
    """One reconcile with a new ReplicaSet and no pending pause-condition write (§2 steps 1, 5 to 13)."""

    def __init__(self, snapshot: Snapshot, strategy: BlueGreenStrategy, old_bg: bgstatus.BlueGreenStatus,
                 source: States, *, now: datetime, targets_verified: bool | None,
                 deadlines: Mapping[str, str], retry: float) -> None:
        old = snapshot.rollout.status
        if old.abort and old.stable_rs == old.current_pod_hash:  # "Removing abort condition from fully
            # promoted rollout": the rules below then read an unaborted status
            rollout = dataclasses.replace(snapshot.rollout, status=dataclasses.replace(old, abort=False))
            snapshot = dataclasses.replace(snapshot, rollout=rollout)
        self.snapshot, self.strategy, self.old_bg, self.source = snapshot, strategy, old_bg, source
        self.now, self.targets_verified, self.deadlines, self.retry = now, targets_verified, deadlines, retry
        self.new_rs: ReplicaSetView = snapshot.new_rs  # type: ignore[assignment]  # checked by the caller
        self.events: list[events.Event] = []
        self.selectors: list[tuple[str, str]] = []
        self.deadline_changes: list[tuple[str, str | None]] = []
        self.notes: list[str] = []
        self.requeue: float | None = None
        self.widening = ""
        """The hash the active Service is (being) widened for this cycle: the cutover waits for its pods."""
        self.analysis: bluegreen_analysis.BlueGreenAnalysis | None = None

    def observed(self, service: str, recorded: str) -> str:
        return self.snapshot.selectors.get(service, recorded) if service else ""

    def run(self) -> BlueGreenDecision:
        snapshot, strategy, old_bg = self.snapshot, self.strategy, self.old_bg
        old, new_hash = self.rollout.status, self.new_rs.hash
        active_svc, preview_svc = strategy.active_service, strategy.preview_service
        active_observed = self.observed(active_svc, old_bg.active_selector)
        restore = rules.restored_active(old, old_bg, new_hash, active_observed)
        active_now = restore or active_observed
        preview_after = self.observed(preview_svc, old_bg.preview_selector)
        if preview_svc and not rules.halt_progress(self.rollout):  # reconcilePreviewService (§1.2)
            self.selectors.append((preview_svc, new_hash))
            if preview_after != new_hash:
                self.events.append(switch_service(preview_svc, preview_after, new_hash))
            preview_after = new_hash
        within = models.parse_time(self.deadlines.get(self.new_rs.name))
        cycle = rules.Cycle(snapshot, strategy, old_bg, active_now, self.now,
                            new_within_delay=within is not None and within > self.now)
        if old.current_pod_hash != new_hash:
            self.restored(restore)
            return self.template_changed(cycle, active_observed, active_now, preview_after)
        return self.progress(cycle, active_observed, active_now, preview_after, restore=restore)

    def restored(self, restore: str) -> None:
        """ServiceSelectorRestored first among the events, as the drift is found before anything else."""
        if restore:
            self.events.insert(0, selector_restored(self.strategy.active_service, restore))

    def template_changed(self, cycle: rules.Cycle, active_observed: str, active_now: str,
                         preview_after: str) -> BlueGreenDecision:
        """§2 step 6: a new pod template; the status is reset (§4.1) and nothing is scaled this cycle."""
        old = self.rollout.status
        self.point_active(active_observed, active_now)
        new = dataclasses.replace(old, current_pod_hash=self.new_rs.hash, pause_conditions=(),
                                  controller_pause=False, abort=False, aborted_at=None, promote_full=False)
        bg = bgstatus.BlueGreenStatus(active_selector=active_now, preview_selector=preview_after)
        reason = rules.full_promote_reason(cycle, active_after=active_now, current_pod_hash=self.new_rs.hash,
                                           targets_ok=True, aborted=False)
        self.notes.append(f"new pod template {self.new_rs.hash}")
        return self.finish(cycle, new, bg, reason, sizes=(None, None), new_revision=True)

    def progress(self, cycle: rules.Cycle, active_observed: str, active_now: str,
                 preview_after: str, *, restore: str) -> BlueGreenDecision:
        snapshot, strategy, rollout = self.snapshot, self.strategy, self.rollout
        old, new_rs, stable_rs = rollout.status, self.new_rs, snapshot.stable_rs
        aborted = old.abort
        stable_is_new = stable_rs is not None and stable_rs.name == new_rs.name
        delay_on_abort = (aborted and stable_rs is not None and not stable_is_new
                          and strategy.abort_scale_down_delay is not None)
        # 8a: removeScaleDownDeadlines (the new ReplicaSet's after the cut-over below, which may keep it)
        undate_new = new_rs.name in self.deadlines and not delay_on_abort
        if stable_rs is not None and not stable_is_new and stable_rs.name in self.deadlines:
            self.deadline_changes.append((stable_rs.name, None))
        # 10 (first for an abort: the switch-back waits for nothing, §14 item 4)
        new_size = rules.new_rs_replicas(cycle)
        active_after = rules.desired_active(cycle, ready=False, saturated=False, pause_done=False)
        stable_serving = self.targets_ok(old.stable_rs) if aborted and old.stable_rs else True
        if delay_on_abort:
            assert stable_rs is not None
            verdict = scaledown.abort_scale_down(
                new_rs, stable_rs, strategy=strategy, deadline=self.deadlines.get(new_rs.name),
                replicas=rollout.replicas, stable_serving=active_after == old.stable_rs and stable_serving,
                now=self.now)
            new_size = verdict.size if verdict.size is not None else new_size
            if verdict.deadline is not None:
                self.deadline_changes.append((new_rs.name, verdict.deadline))
            self.requeue = _earliest(self.requeue, verdict.requeue_after)
            self.notes.append(verdict.note)
        stable_size = None if stable_rs is None or stable_is_new else rollout.replicas
        # 8d: older ReplicaSets
        referenced = {old.stable_rs, old.current_pod_hash, self.old_bg.active_selector,
                      self.old_bg.preview_selector, active_now, active_after, preview_after}
        inconclusive = any(c.reason == bgstatus.INCONCLUSIVE_ANALYSIS for c in old.pause_conditions)
        olds = scaledown.old_scale_down(snapshot.others, strategy=strategy, deadlines=self.deadlines,
                                        referenced=frozenset(referenced - {""}),
                                        paused_inconclusive=inconclusive, now=self.now)
        self.deadline_changes.extend(olds.deadlines)
        self.requeue = _earliest(self.requeue, olds.requeue_after)
        self.notes.extend(olds.notes)
        # the pre/post-promotion analysis (§3.10), which gates the pause, the switch and the promotion
        analysis = self.analysis = self.analyze(cycle, new_size)
        # 9: the pause; 10: the active Service
        ready = rules.ready_for_pause(cycle, new_size)
        pause = rules.pause_decision(cycle, ready=ready, pre_analysis_done=analysis.pre_done)
        self.requeue = _earliest(self.requeue, pause.requeue_after)
        pause_done = rules.completed_pause(cycle, added=pause.action is rules.PauseAction.ADD)
        if not aborted:
            saturated = rules.is_saturated(rollout, new_rs, new_size)
            active_after = rules.desired_active(cycle, ready=ready, saturated=saturated,
                                                pause_done=pause_done, pre_analysis_done=analysis.pre_done)
        widened = rules.widened(old, self.old_bg, active_observed, active_after)
        if not widened:
            self.restored(restore)
        active_after = self.cut_over(active_observed, active_now, active_after, widened=widened,
                                     aborted=aborted)
        if undate_new and self.widening != new_rs.hash:
            # while the active Service is widened for it, the deadline is what makes the switch a fast
            # rollback (§6.3 newRSWithinDelay): removed with the narrowing, not before it
            self.deadline_changes.insert(0, (new_rs.name, None))
        # 11: target verification (while widened: of every pod the Service selects, `widened_serving`)
        verify_hash = ""
        if not snapshot.verify_weights:
            pass
        elif self.widening:
            verify_hash = self.widening
        elif not aborted and old.stable_rs != new_rs.hash and active_after == new_rs.hash:
            verify_hash = new_rs.hash
        elif aborted and old.stable_rs and active_after == old.stable_rs and new_size > 0:
            verify_hash = old.stable_rs  # §14 item 4: the switch-back is verified before the preview goes
        targets_ok = self.targets_ok(verify_hash) if verify_hash == new_rs.hash else True
        waiting = bool(self.widening) or (bool(verify_hash) and not self.targets_ok(verify_hash))
        if self.widening:
            self.requeue = _earliest(self.requeue, self.wait_interval(self.widening, widened=True))
        elif waiting:
            self.requeue = _earliest(self.requeue, self.wait_interval(verify_hash))
            self.notes.append(f"waiting for Service {strategy.active_service}'s targets to serve pods "
                              f"{verify_hash}")
        # 13: status
        new = dataclasses.replace(old, current_pod_hash=new_rs.hash,
                                  promote_full=old.promote_full and new_rs.hash != old.stable_rs)
        new = self.pause_fields(new, pause, clear=old.promote_full or steps.rollback_within_window(snapshot))
        new, abort_note = bluegreen_analysis.status_fields(new, analysis, now=self.now)
        if abort_note:
            self.notes.insert(0, abort_note)
        bg = dataclasses.replace(self.old_bg, active_selector=active_after, preview_selector=preview_after,
                                 pre_promotion_analysis_run_status=analysis.pre,
                                 post_promotion_analysis_run_status=analysis.post)
        reason = rules.full_promote_reason(cycle, active_after=active_after, current_pod_hash=new_rs.hash,
                                           targets_ok=targets_ok, aborted=new.abort,
                                           post_analysis_done=analysis.post_done)
        if not reason:
            bg = dataclasses.replace(bg, scale_up_preview_check_point=rules.scale_up_checkpoint(
                cycle, pause_done=pause_done, pre_analysis_done=analysis.pre_done))
        sizes = (new_size, stable_size)
        for rs, size in ((new_rs, new_size), (stable_rs, stable_size)):
            if rs is not None and size is not None and size != rs.spec_replicas:
                self.events.append(scaling_event(rs, size))
        by_name = {rs.name: rs for rs in snapshot.others}
        self.events.extend(scaling_event(by_name[name], size) for name, size in olds.sizes)
        return self.finish(cycle, new, bg, reason, sizes=sizes, others=olds.sizes, verify_hash=verify_hash,
                           waiting=waiting)

    def analyze(self, cycle: rules.Cycle, new_size: int) -> bluegreen_analysis.BlueGreenAnalysis:
        """bluegreen_analysis.decide with this cycle's facts; its events join the cycle's."""
        rollout, new_rs, strategy = self.rollout, self.new_rs, self.strategy
        saturated = rules.is_saturated(rollout, new_rs, new_size)
        preview = strategy.preview_replica_count
        preview_ready = saturated if preview is None else (
            new_rs.spec_replicas == preview and new_rs.available_replicas == preview)
        analysis = bluegreen_analysis.decide(
            self.snapshot, active_selector=self.old_bg.active_selector, saturated=saturated,
            preview_ready=preview_ready, targets_ok=self.targets_ok(new_rs.hash),
            fast_rollback=rules.is_fast_rollback(cycle))
        self.events.extend(analysis.events)
        return analysis

    def pause_fields(self, new: models.RolloutStatus, pause: rules.PauseDecision, *,
                     clear: bool) -> models.RolloutStatus:
        """CalculatePauseStatus (§4.1 persist step 2): abort wins, then a clear, then removals, additions.

        While the active Service is widened the switch has not happened yet, and controllerPause stays as it
        was: with no pause condition left it is what says the pause was done (a promote, an expired
        autoPromotionSeconds), so the next cycle wants the switch too instead of pausing again. So it stays
        while progress is halted (spec.paused): a promote made then is not forgotten, and the switch follows
        the unpause instead of a fresh BlueGreenPause (the reference drops controllerPause in that cycle).
        The reference drops it in the cycle that switches, and so does the cycle that sets the new hash here.
        """
        old = self.rollout.status
        if old.abort and not clear:
            aborted_at = old.aborted_at or models.format_time(self.now)
            return dataclasses.replace(new, abort=True, aborted_at=aborted_at, pause_conditions=(),
                                       controller_pause=False)
        new = dataclasses.replace(new, abort=False, aborted_at=None)
        if clear:
            return dataclasses.replace(new, pause_conditions=(), controller_pause=False)
        conditions = old.pause_conditions
        controller_pause = old.controller_pause
        if pause.action is rules.PauseAction.REMOVE:
            conditions = tuple(c for c in conditions if c.reason != bgstatus.BLUE_GREEN_PAUSE)
        elif pause.action is rules.PauseAction.ADD and not any(
                c.reason == bgstatus.BLUE_GREEN_PAUSE for c in conditions):
            conditions = (*conditions, models.PauseCondition(bgstatus.BLUE_GREEN_PAUSE,
                                                             models.format_time(self.now)))
            controller_pause = True
        kept = bool(conditions) or bool(self.widening) or pause.row == rules.HALTED_ROW
        return dataclasses.replace(new, pause_conditions=conditions,
                                   controller_pause=controller_pause and kept)

