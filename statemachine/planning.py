"""The planner: from one `Snapshot` and `now`, what the world should look like next, and the trigger to it.

Room: plan (pure, synchronous). It follows the reference's canary reconcile (traffic, scaling, pause, step
advance, promotion, pause status, conditions, phase) on immutable data and returns a frozen `Plan`. It never
reads a clock, never logs (it returns reasons) and never performs a write.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from statemachine import (
    bluegreen_planning,
    canary_analysis,
    canary_progress,
    events,
    machine,
    models,
    phases,
    services,
    states,
    status,
    steps,
    traffic_safety,
    weights,
)
from statemachine.canary_progress import earliest as _earliest
from statemachine.guards import Move
from statemachine.plans import Counts, Plan, Traffic
from statemachine.snapshot import Snapshot
from statemachine.states import States

# Plan and Traffic live in plans; callers know them as `planning.Plan`
__all__ = ["DEFAULT_VERIFY_RETRY_INTERVAL", "FIRST_VERIFY_DELAY", "Plan", "Traffic", "plan"]

DEFAULT_VERIFY_RETRY_INTERVAL = 10.0
FIRST_VERIFY_DELAY = 1.0
"""Seconds between writing new weights and first asking AWS about them (the LBC needs a moment)."""
ANALYSIS_SPEC_RETRY = 30.0
"""Seconds between two looks at a Rollout whose analysis cannot be built (a template may be created)."""
TARGET_WAIT_RETRY = 1.0
"""Seconds between two looks at EndpointSlices that traffic waits for (or a Service switch waits on); once
they have switched, ELBv2 is asked once per verify retry interval."""


@dataclass(frozen=True, slots=True)
class _Decided:
    """What a planning path hands to `_finish`: the new status and the facts that pick the move."""

    status: models.RolloutStatus
    events: tuple[events.Event, ...]
    reason: str
    traffic: Traffic = dataclasses.field(default_factory=Traffic)
    replicas: Counts = (None, None)
    selectors: tuple[tuple[str, str], ...] = ()
    step_advanced: bool = False
    new_revision: bool = False
    verify_due: bool = False
    requeue: float | None = None
    decision: weights.WeightDecision | None = None
    wait: traffic_safety.Wait | None = None
    others: tuple[tuple[str, int], ...] = ()
    analysis: canary_analysis.AnalysisDecision | None = None


def plan(snapshot: Snapshot, *, now: datetime, source: States | None = None,
         verify_retry_interval: float = DEFAULT_VERIFY_RETRY_INTERVAL) -> Plan:
    """Decide the next desired world for one Rollout.

    `source` is the state the Rollout's machine model is in (the target of its last plan); without it the
    state is derived from the observed status, which already includes a user's abort, promote or pause.
    """
    rollout = snapshot.rollout
    if rollout.blue_green is not None:
        return _plan_blue_green(snapshot, now=now, source=source, verify_retry_interval=verify_retry_interval)
    source = source or states.state_from_status(rollout)
    problem = snapshot.invalid_spec or canary_analysis.spec_error(snapshot)
    if problem is not None:
        return _plan_invalid(snapshot, source, problem, now=now,
                             requeue=None if snapshot.invalid_spec else ANALYSIS_SPEC_RETRY)
    if snapshot.pod_hash != rollout.status.current_pod_hash:
        return _plan_new_revision(snapshot, source, now=now)
    return _plan_progress(snapshot, source, now=now, verify_retry_interval=verify_retry_interval)


def _plan_blue_green(snapshot: Snapshot, *, now: datetime, source: States | None,
                     verify_retry_interval: float) -> Plan:
    """A blue-green cycle (statemachine.bluegreen_planning) as the one Plan the machine and effects take."""
    if snapshot.invalid_spec is None and (problem := canary_analysis.spec_error(snapshot)) is not None:
        snapshot = dataclasses.replace(snapshot, invalid_spec=problem)  # an analysis that cannot be built
    sets = (snapshot.new_rs, snapshot.stable_rs, *snapshot.others)
    deadlines = {rs.name: rs.scale_down_deadline for rs in sets if rs is not None and rs.scale_down_deadline}
    decided = bluegreen_planning.plan_blue_green(snapshot, now=now, source=source, deadlines=deadlines,
                                                 verify_retry_interval=verify_retry_interval)
    strategy = snapshot.rollout.blue_green
    wait = None
    if decided.verify_active and strategy is not None and decided.verify_hash:
        wait = traffic_safety.Wait(strategy.active_service, decided.verify_hash)
    runs = decided.analysis
    analysis = (canary_analysis.AnalysisDecision(create=runs.create, terminate=runs.terminate)
                if runs is not None else None)
    return Plan(move=decided.move, trigger=decided.trigger, reason=decided.reason, traffic=Traffic(),
                replicas=decided.replicas, selectors=decided.selectors, status_patch=decided.status_patch,
                events=decided.events, requeue_after=decided.requeue_after, after=decided.after, wait=wait,
                others=decided.others, deadlines=decided.deadlines, analysis=analysis)


def _plan_invalid(snapshot: Snapshot, source: States, message: str, *, now: datetime,
                  requeue: float | None = None) -> Plan:
    rollout = snapshot.rollout
    old = rollout.status
    facts = phases.ConditionFacts(message, snapshot.revision, "", 0)
    new = dataclasses.replace(old, observed_generation=str(rollout.generation),
                              conditions=phases.next_conditions(rollout, old, facts, now=now))
    phase, text = phases.calculate_phase(rollout, new, now=now)
    new = dataclasses.replace(new, phase=phase, message=text)
    previous = old.condition(phases.INVALID_SPEC)
    fresh = previous is None or previous.status != "True" or previous.message != message
    found = (events.Event(events.WARNING, events.INVALID_SPEC, message),) if fresh else ()
    return _finish(snapshot, source, _Decided(new, found, f"InvalidSpec: {message}", requeue=requeue))


def _plan_new_revision(snapshot: Snapshot, source: States, *, now: datetime) -> Plan:
    """A new pod template: reset the step index, pauses, abort and promoteFull (resetRolloutStatus)."""
    rollout, new_rs = snapshot.rollout, snapshot.new_rs
    old = rollout.status
    count = len(rollout.steps)
    index: int | None = 0 if count else None
    found: tuple[events.Event, ...] = ()
    reason = f"new pod template {snapshot.pod_hash}"
    if new_rs is not None and old.stable_rs == new_rs.hash and count:
        index = count
        found = (events.Event(events.NORMAL, events.SKIP_STEPS, "Rollback to stable"),)
        reason = "Rollback to stable"
    elif new_rs is not None and count and new_rs.spec_replicas > 0 and steps.rollback_within_window(snapshot):
        index = count
        reason = "Rollback to active ReplicaSets within RollbackWindow"
        found = (events.Event(events.NORMAL, events.SKIP_STEPS, reason),)
    new = dataclasses.replace(old, current_pod_hash=snapshot.pod_hash, current_step_index=index,
                              abort=False, aborted_at=None, pause_conditions=(), controller_pause=False,
                              promote_full=False, canary=dataclasses.replace(
                                  old.canary, step_analysis=None, background_analysis=None))
    after = dataclasses.replace(rollout, status=new)
    counts: Counts = weights.traffic_routed_counts(after, old.canary.weights)
    others: tuple[tuple[str, int], ...] = ()
    if _basic(rollout):
        counts, others = _basic_scale(snapshot, after)
    elif snapshot.stable_rs is None:
        counts = (rollout.replicas, None)
    new = canary_progress.with_conditions(snapshot, new, now=now)
    return _finish(snapshot, source, _Decided(new, found, reason, traffic=Traffic(weights=old.canary.weights),
                                              replicas=counts, new_revision=True, others=others))


def _basic(rollout: models.Rollout) -> bool:
    return rollout.canary is not None and rollout.canary.basic


def _basic_scale(snapshot: Snapshot, rollout: models.Rollout) -> tuple[Counts, tuple[tuple[str, int], ...]]:
    """A basic canary's sizes this cycle: (new, stable) and the older ReplicaSets, one role at a time."""
    sizes = weights.basic_next_scale(snapshot, rollout)
    new, stable = snapshot.new_rs, snapshot.stable_rs
    canary_size = sizes.pop(new.name) if new is not None and new.name in sizes else None
    stable_size = sizes.pop(stable.name) if stable is not None and stable.name in sizes else None
    return (canary_size, stable_size), tuple(sorted(sizes.items()))


def _plan_progress(snapshot: Snapshot, source: States, *, now: datetime,
                   verify_retry_interval: float) -> Plan:
    rollout = snapshot.rollout
    old = rollout.status
    basic = _basic(rollout)
    decision = (weights.WeightDecision(weights.basic_weight(rollout), "basic-canary", snapshot.pod_hash)
                if basic else weights.desired_weight(snapshot))
    previous = old.canary.weights
    stable_hash = snapshot.stable_rs.hash if snapshot.stable_rs else ""
    found: list[events.Event] = []
    modified = False
    new_weights = previous
    wait = None
    if not decision.hold and not basic:
        candidate = weights.weight_status(rollout, decision.weight, decision.canary_hash, stable_hash)
        modified = weights.weights_differ(previous, candidate)
        wait = traffic_safety.wait_for_targets(snapshot, candidate) if modified else None
        modified = modified and wait is None  # traffic follows targets: the weights wait, unwritten
        if modified:
            new_weights = candidate
            found.append(events.Event(events.NORMAL, events.TRAFFIC_WEIGHT_UPDATED,
                                      weights.traffic_weight_message(previous, candidate)))
    verify = (snapshot.verify_weights and not decision.hold and not basic
              and steps.should_verify_weight(rollout, decision.weight))
    answer = False if snapshot.verify_error is not None else snapshot.verified
    if verify and not modified and new_weights is not None and answer is not None:
        # AWS answered for the weights in status (kept by service/ since the last reconcile)
        if answer is False and new_weights.verified is not False and snapshot.verify_error:
            found.append(events.weight_verify_error(snapshot.verify_error))  # once, as verified turns False
        new_weights = dataclasses.replace(new_weights, verified=answer)
    confirmed = not modified and snapshot.weights_known and new_weights is not None and new_weights.verified
    weight_ok = wait is None and (not verify or confirmed is True)
    verify_due = verify and wait is None and not modified and not weight_ok
    requeue = None
    if verify and not weight_ok:
        requeue = min(FIRST_VERIFY_DELAY, verify_retry_interval) if modified else verify_retry_interval
    wanted = services.service_selectors(snapshot, decision.weight)
    selectors = traffic_safety.allowed_selectors(snapshot, wanted)
    if wait is not None and snapshot.endpoints.get(wait.service) == frozenset({wait.pod_hash}):
        requeue = _earliest(requeue, verify_retry_interval)  # ELBv2 is asked: once per retry interval
    elif wait is not None or selectors != wanted:
        requeue = _earliest(requeue, TARGET_WAIT_RETRY)  # Kubernetes only: look again soon
    others: tuple[tuple[str, int], ...] = ()
    if basic:  # no abort delay either: without routing the canary's pods serve until they are gone
        (counts, others), scale_requeue = _basic_scale(snapshot, rollout), None
    else:
        counts, scale_requeue = canary_progress.replica_counts(snapshot, now=now)
    requeue = _earliest(requeue, scale_requeue)
    analysis = canary_analysis.decide(snapshot)
    if analysis.error is not None:
        return _plan_invalid(snapshot, source, analysis.error, now=now, requeue=ANALYSIS_SPEC_RETRY)
    progress = canary_progress.advance(snapshot, now=now, weight_ok=weight_ok, analysis=analysis)
    found.extend(progress.events)
    paused = dataclasses.replace(old, current_step_index=progress.index,
                                 pause_conditions=progress.pause_conditions)
    expiry = steps.pause_expiry(dataclasses.replace(rollout, status=paused))
    if expiry is not None and expiry >= now:
        # the step completes strictly after its expiry, so an exact hit is retried a second later
        requeue = _earliest(requeue, (expiry - now).total_seconds() or 1.0)
    new = dataclasses.replace(
        old, current_step_index=progress.index, stable_rs=progress.stable_rs, abort=progress.abort,
        aborted_at=progress.aborted_at, pause_conditions=progress.pause_conditions,
        controller_pause=progress.controller_pause,
        promote_full=old.promote_full and snapshot.pod_hash != progress.stable_rs,
        canary=models.CanaryStatus(weights=new_weights, stable_ping_pong=progress.ping_pong,
                                   step_analysis=analysis.step, background_analysis=analysis.background),
    )
    found.extend(analysis.events)
    new = canary_progress.with_conditions(snapshot, new, now=now, abort_message=analysis.abort_message)
    step, _ = weights.current_step(rollout)
    timed_out = phases.deadline_abort_message(
        rollout, new, snapshot.new_rs.name if snapshot.new_rs else "", now=now,
        indefinite_step=isinstance(step, models.Pause) and step.duration_seconds is None)
    if timed_out is not None:  # spec.progressDeadlineAbort: the update is aborted as if a user asked
        new = canary_progress.with_conditions(snapshot, dataclasses.replace(
            new, abort=True, aborted_at=models.format_time(now), pause_conditions=(), controller_pause=False),
            now=now)
        found.append(events.Event(events.WARNING, events.ROLLOUT_ABORTED, timed_out))
        progress = dataclasses.replace(progress, reason=timed_out)
    deadline = phases.progress_deadline(rollout, new)
    if deadline is not None and deadline > now:  # look again when the progress deadline would pass
        requeue = _earliest(requeue, (deadline - now).total_seconds())
    condition = new.condition(phases.PROGRESSING)
    old_condition = old.condition(phases.PROGRESSING)
    if (condition is not None and condition.reason == phases.ROLLOUT_ABORTED
            and (old_condition is None or old_condition.reason != phases.ROLLOUT_ABORTED)):
        found.append(events.Event(events.WARNING, phases.ROLLOUT_ABORTED, condition.message))
    reason = progress.reason or (wait.describe() if wait is not None
                                 else _weight_reason(decision, modified, verify, weight_ok))
    if verify and not weight_ok and snapshot.verify_error is not None:
        reason = f"{reason}: {snapshot.verify_error}"
    if basic and not progress.reason:
        reason = f"canary at {decision.weight}% of the replicas (basic canary: no traffic routing)"
    traffic = Traffic(weights=new_weights, write=not decision.hold and wait is None and not basic,
                      verify=verify, remove_routes=decision.remove_routes and not basic, row=decision.row)
    return _finish(snapshot, source, _Decided(
        new, tuple(found), reason, traffic=traffic, replicas=counts, selectors=selectors,
        step_advanced=progress.step_advanced, verify_due=verify_due, requeue=requeue, decision=decision,
        wait=wait, others=others, analysis=analysis))


def _weight_reason(decision: weights.WeightDecision, modified: bool, verify: bool, weight_ok: bool) -> str:
    if decision.hold:
        return f"holding traffic: stable ReplicaSet cannot take {100 - decision.weight}% yet"
    if verify and not weight_ok:
        return f"waiting for AWS to confirm canary weight {decision.weight}"
    verb = "setting" if modified else "keeping"
    return f"{verb} canary weight {decision.weight} ({decision.row})"


# a wait shows as its own state only where traffic is moving; paused or aborted Rollouts just hold it
_MAY_WAIT = (States.Progressing, States.WeightSet, States.Verifying, States.Promoted)


def _finish(snapshot: Snapshot, source: States, decided: _Decided) -> Plan:
    rollout = snapshot.rollout
    after = dataclasses.replace(rollout, status=decided.status)
    traffic = decided.traffic
    if decided.decision is not None and not traffic.remove_routes and rollout.revision > 1:
        step, _ = weights.current_step(rollout)
        if isinstance(step, models.SetHeaderRoute):
            traffic = dataclasses.replace(traffic, header_route=step)
    previous = rollout.status.canary.weights
    target = states.state_from_status(after)
    if decided.wait is not None and target in _MAY_WAIT:
        target = States.WaitingForTargets
    move = Move(source=source, target=target, new_revision=decided.new_revision,
                step_advanced=decided.step_advanced,
                weights_changed=traffic.write and traffic.weights is not None
                and weights.weights_differ(previous, traffic.weights),
                verify_due=decided.verify_due)
    found = decided.events
    was, became = rollout.status.condition(phases.COMPLETED), decided.status.condition(phases.COMPLETED)
    if was is not None and was.status == "True" and became is not None and became.status == "False":
        found = (*found, events.rollout_not_completed(snapshot.revision, decided.status.current_pod_hash))
    return Plan(
        move=move, trigger=machine.choose(move), reason=decided.reason, traffic=traffic,
        replicas=decided.replicas, selectors=decided.selectors,
        status_patch=status.status_patch(rollout.raw_status, decided.status), events=found,
        requeue_after=decided.requeue, after=after, wait=decided.wait, others=decided.others,
        analysis=decided.analysis,
    )
