"""The planner end to end on snapshots, with the time passed in and status patches applied between cycles.

Aspects: a whole canary walk-through (every trigger, event string and phase on the way), abort (abortedAt set
once, index rule, canary kept for abortScaleDownDelaySeconds), retry, promote (pause conditions cleared under
controllerPause), promote --full, spec.paused and unpause, a new template mid-rollout, rollback to stable,
InvalidSpec, ping-pong flips, verification gating/requeue and the persisted `verified` flip, events never
repeated for an unchanged fact, minimal status patches, the initial deploy, and the property that planning
never raises on any Rollout that parses.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from statemachine import models, planning
from statemachine.snapshot import ReplicaSetView
from statemachine.states import States
from tests.statemachine.conftest import NOW, applied, rs, settle, snapshot
from tests.statemachine.conftest import progressing_status as ps
from tests.statemachine.conftest import rollout_dict as ro

STABLE = {"currentPodHash": "aaa", "stableRS": "aaa", "currentStepIndex": 4, "observedGeneration": "2",
          "canary": {"weights": {
              "canary": {"weight": 0, "serviceName": "canary", "podTemplateHash": "aaa"},
              "stable": {"weight": 100, "serviceName": "stable", "podTemplateHash": "aaa"}}}}
Seen = list[tuple[str, str, str | None, tuple[str, ...], str]]


def _walk(raw: dict[str, Any], *, rounds: int = 30) -> Seen:
    """Drive a rollout from `aaa` to `bbb` with a cluster that scales instantly and AWS that verifies at once;
    the user promotes whenever a pause condition waits, and time jumps to each requeue other than the verify
    retry."""
    new, stable = rs("bbb", 0, 0, revision=3), rs("aaa", 10, revision=2)
    now, verified, state, switched = NOW, None, States.Promoted, False
    seen: Seen = []
    for _ in range(rounds):
        plan = planning.plan(snapshot(raw, new=new, stable=stable, template_hash="bbb", verified=verified,
                                      verify_weights=True), now=now, source=state)
        state = plan.target
        seen.append((plan.source.name, plan.target.name, plan.trigger, tuple(e.message for e in plan.events),
                     plan.status.message))
        raw = applied(raw, plan.status_patch)
        if plan.canary_replicas is not None:
            new = rs("bbb", plan.canary_replicas, revision=3)
        verified = True if plan.traffic.verify else None
        if plan.status_patch is None and plan.requeue_after is None:
            if raw["status"].get("pauseConditions"):
                raw = applied(raw, {"status": {"pauseConditions": None}})
            elif switched:
                break
            elif raw["status"]["stableRS"] == "bbb":
                stable, switched = new, True  # the stable Service now selects the promoted ReplicaSet
        if plan.requeue_after and plan.requeue_after != planning.DEFAULT_VERIFY_RETRY_INTERVAL:
            now += timedelta(seconds=plan.requeue_after)
    return seen


def test_canary_walk_through() -> None:
    seen = _walk(ro(status=STABLE, revision="3"))
    assert seen == [
        ("Promoted", "Progressing", "update", (), "more replicas need to be updated"),
        ("Progressing", "WeightSet", "set_weight", ("Traffic weight updated from 0 to 10",),
         "more replicas need to be updated"),
        ("WeightSet", "WeightSet", "complete_step", ("Rollout step 1/4 completed (setWeight: 10)",),
         "more replicas need to be updated"),
        ("WeightSet", "Paused", "pause", (), "CanaryPauseStep"),
        ("Paused", "Paused", "sync", (), "CanaryPauseStep"),
        ("Paused", "Progressing", "resume", ("Rollout step 2/4 completed (pause)",),
         "more replicas need to be updated"),
        ("Progressing", "Progressing", "sync", (), "more replicas need to be updated"),
        ("Progressing", "WeightSet", "set_weight", ("Traffic weight updated from 10 to 50",),
         "more replicas need to be updated"),
        ("WeightSet", "WeightSet", "complete_step", ("Rollout step 3/4 completed (setWeight: 50)",),
         "more replicas need to be updated"),
        ("WeightSet", "Paused", "pause", (), "CanaryPauseStep"),
        ("Paused", "Paused", "sync", (), "CanaryPauseStep"),
        ("Paused", "Progressing", "resume", ("Rollout step 4/4 completed (pause: 1h)",),
         "more replicas need to be updated"),
        ("Progressing", "Progressing", "sync", (), "more replicas need to be updated"),
        ("Progressing", "WeightSet", "set_weight", ("Traffic weight updated from 50 to 100",),
         "waiting for all steps to complete"),
        ("WeightSet", "Promoted", "promote",
         ("Rollout completed update to revision 3 (bbb): Completed all 4 canary steps",), ""),
        ("Promoted", "Promoted", "sync", ("Traffic weight updated from 100 to 0",), ""),
        ("Promoted", "Promoted", "sync", (), ""),
        ("Promoted", "Promoted", "sync", ("Traffic weight updated ",), ""),
        ("Promoted", "Promoted", "sync", (), ""),
    ]


def test_initial_deploy() -> None:
    raw = ro(status={})
    first = planning.plan(snapshot(raw, new=rs("aaa", 0, 0), template_hash="aaa"), now=NOW)
    assert (first.trigger, first.step_index, first.canary_replicas) == ("update", 0, 10)
    raw = applied(raw, first.status_patch)
    second = planning.plan(snapshot(raw, new=rs("aaa", 10)), now=NOW)
    assert (second.target, second.trigger, second.reason) == (States.Promoted, "promote", "Initial deploy")
    assert [e.message for e in second.events] == [
        "Traffic weight updated to 0", "Rollout completed update to revision 2 (aaa): Initial deploy"]
    assert second.status.stable_rs == "aaa" and second.step_index == 4


def _mid(**extra: Any) -> dict[str, Any]:
    return ro(status=ps(2, canary_weight=50, **extra), revision="3")


MID = {"new": rs("new", 5, revision=3), "stable": rs("old", 10)}


def test_abort_then_retry() -> None:
    raw = _mid(abort=True)
    plan = planning.plan(snapshot(raw, **MID), now=NOW)
    assert (plan.source, plan.target, plan.trigger) == (States.Aborted, States.Aborted, "sync")
    assert (plan.canary_weight, plan.stable_weight, plan.traffic.remove_routes) == (0, 100, True)
    assert (plan.canary_replicas, plan.stable_replicas, plan.requeue_after) == (5, 10, 30.0)
    assert plan.step_index == 0
    assert plan.status.aborted_at == "2026-11-26T12:00:00Z"
    assert (plan.status.phase, plan.status.message) == (
        "Degraded", "RolloutAborted: Rollout aborted update to revision 3")
    assert [(e.type, e.reason, e.message) for e in plan.events] == [
        ("Normal", "TrafficWeightUpdated", "Traffic weight updated from 50 to 0"),
        ("Warning", "RolloutAborted", "Rollout aborted update to revision 3")]
    raw = applied(raw, plan.status_patch)
    later = planning.plan(snapshot(raw, **MID), now=NOW + timedelta(seconds=31))
    assert later.events == () and later.status.aborted_at == "2026-11-26T12:00:00Z"
    assert later.canary_replicas == 0
    assert later.status_patch is None
    raw = applied(raw, {"status": {"abort": False}})
    retry = planning.plan(snapshot(raw, **MID), now=NOW + timedelta(minutes=1))
    assert (retry.source, retry.trigger, retry.step_index) == (States.Progressing, "sync", 0)
    assert retry.status_patch is not None and retry.status_patch["status"]["abortedAt"] is None
    progress = retry.status.condition("Progressing")
    assert progress is not None
    assert (progress.status, progress.reason, progress.message) == ("Unknown", "RolloutRetry",
                                                                    "Retrying Rollout after abort")


def test_abort_from_a_step_fires_the_abort_trigger() -> None:
    settled, _ = settle(_mid(), **MID)
    assert planning.plan(snapshot(settled, **MID), now=NOW).target is States.Paused
    raw = applied(settled, {"status": {"abort": True}})
    plan = planning.plan(snapshot(raw, **MID), now=NOW, source=States.Paused)
    assert (plan.source, plan.target, plan.trigger) == (States.Paused, States.Aborted, "abort")
    assert plan.status.pause_conditions == () and not plan.status.controller_pause
    raw = applied(raw, plan.status_patch)
    retried = planning.plan(snapshot(applied(raw, {"status": {"abort": False}}), **MID), now=NOW,
                            source=States.Aborted)
    assert (retried.source, retried.target, retried.trigger) == (States.Aborted, States.Progressing, "retry")


def test_abort_with_delay_zero_keeps_the_canary() -> None:
    raw = ro(status=ps(2, canary_weight=50, abort=True), abortScaleDownDelaySeconds=0)
    plan = planning.plan(snapshot(raw, **MID), now=NOW)
    assert (plan.canary_replicas, plan.requeue_after) == (5, None)


def test_promote_full() -> None:
    pause = [{"reason": "CanaryPauseStep", "startTime": "2026-11-26T11:00:00Z"}]
    raw = ro(status=ps(1, canary_weight=10, promoteFull=True, pauseConditions=pause,
                                                 controllerPause=True), revision="3")
    scaling = planning.plan(snapshot(raw, new=rs("new", 1, revision=3), stable=rs("old", 10)), now=NOW)
    assert (scaling.traffic.row, scaling.canary_weight, scaling.canary_replicas) == ("promote-full", 10, 10)
    assert (scaling.step_index, scaling.status.pause_conditions) == (4, ())
    assert not scaling.status.controller_pause and scaling.status.promote_full
    assert (scaling.target, scaling.trigger) == (States.Progressing, "resume")
    raw = applied(raw, scaling.status_patch)
    done = planning.plan(snapshot(raw, new=rs("new", 10, revision=3), stable=rs("old", 10)), now=NOW)
    assert (done.target, done.trigger) == (States.Promoted, "promote")
    assert [e.message for e in done.events] == [
        "Rollout completed update to revision 3 (new): Full promotion requested"]
    assert done.status_patch is not None and done.status_patch["status"]["promoteFull"] is None


def test_spec_paused_and_unpause() -> None:
    raw = _mid()
    raw["spec"]["paused"] = True
    plan = planning.plan(snapshot(raw, **MID), now=NOW, source=States.WeightSet)
    assert (plan.source, plan.target, plan.trigger) == (States.WeightSet, States.Paused, "pause")
    assert (plan.step_index, plan.status.phase, plan.status.message) == (2, "Paused", "manually paused")
    paused = plan.status.condition("Paused")
    assert paused is not None and (paused.status, paused.reason, paused.message) == ("True", "RolloutPaused",
                                                                                     "Rollout is paused")
    raw = applied(raw, plan.status_patch)
    raw["spec"]["paused"] = False
    resumed = planning.plan(snapshot(raw, **MID), now=NOW, source=plan.target)
    assert (resumed.source, resumed.target, resumed.trigger) == (States.Paused, States.WeightSet, "resume")
    assert [e.message for e in resumed.events] == ["Rollout step 3/4 completed (setWeight: 50)"]
    progress = resumed.status.condition("Progressing")
    assert progress is not None and (progress.status, progress.reason, progress.message) == (
        "Unknown", "RolloutResumed", "Rollout is resumed")


def test_new_template_mid_rollout_resets() -> None:
    pause = [{"reason": "CanaryPauseStep", "startTime": "2026-11-26T11:00:00Z"}]
    raw = ro(status=ps(3, canary_weight=50, pauseConditions=pause, controllerPause=True,
                                                 promoteFull=True))
    snap = snapshot(raw, new=rs("ccc", 0, 0), stable=rs("old", 10), template_hash="ccc")
    plan = planning.plan(snap, now=NOW)
    assert (plan.source, plan.target, plan.trigger) == (States.Paused, States.Progressing, "update")
    assert plan.status_patch is not None
    status = plan.status_patch["status"]
    assert (status["currentPodHash"], status["currentStepIndex"], status["pauseConditions"],
            status["controllerPause"], status["promoteFull"]) == ("ccc", 0, None, None, None)
    assert (plan.traffic.write, plan.canary_weight) == (False, 50)


def test_rollback_to_stable_skips_steps() -> None:
    raw = ro(status=ps(2, canary_weight=50))
    plan = planning.plan(snapshot(raw, new=rs("old", 10), stable=rs("old", 10), template_hash="old"), now=NOW)
    assert [(e.reason, e.message) for e in plan.events] == [("SkipSteps", "Rollback to stable")]
    assert (plan.step_index, plan.target, plan.trigger) == (4, States.Promoted, "update")


def test_invalid_spec_then_fixed() -> None:
    raw = _mid()
    message = 'The Rollout "demo" is invalid: spec.strategy.canary.steps[0]: unsupported step type experiment'
    plan = planning.plan(snapshot(raw, **MID, invalid_spec=message), now=NOW)
    assert (plan.target, plan.trigger, plan.traffic.write) == (States.Degraded, "invalidate", False)
    assert (plan.status.phase, plan.status.message) == ("Degraded", f"InvalidSpec: {message}")
    assert [(e.type, e.reason, e.message) for e in plan.events] == [("Warning", "InvalidSpec", message)]
    raw = applied(raw, plan.status_patch)
    again = planning.plan(snapshot(raw, **MID, invalid_spec=message), now=NOW + timedelta(seconds=5))
    assert (again.events, again.status_patch, again.trigger) == ((), None, "sync")
    fixed = planning.plan(snapshot(raw, **MID), now=NOW)
    assert (fixed.source, fixed.trigger) == (States.Degraded, "revalidate")
    assert fixed.status.condition("InvalidSpec") is None


def test_ping_pong_flips_on_promotion() -> None:
    for before, after in (("", "ping"), ("ping", "pong"), ("pong", "ping")):
        status = ps(4, canary_weight=100)
        status["canary"]["stablePingPong"] = before
        raw = ro(status=status, pingPong={"pingService": "ping", "pongService": "pong"})
        plan = planning.plan(snapshot(raw, new=rs("new", 10), stable=rs("old", 10)), now=NOW)
        assert plan.status.canary.stable_ping_pong == after


def test_verification_gates_the_step_and_requeues() -> None:
    raw = ro(status=ps(0, canary_weight=0))
    cluster: dict[str, Any] = {"new": rs("new", 1), "stable": rs("old", 10), "verify_weights": True}
    written = planning.plan(snapshot(raw, **cluster), now=NOW, verify_retry_interval=3.0)
    # new weights are asked about a moment after they are written (planning.FIRST_VERIFY_DELAY)
    assert (written.traffic.verify, written.requeue_after, written.step_index) == (True, 1.0, 0)
    raw = applied(raw, written.status_patch)
    unverified = planning.plan(snapshot(raw, **cluster, verified=False), now=NOW)
    assert (unverified.target, unverified.trigger) == (States.Verifying, "weights_unverified")
    assert unverified.requeue_after == 10.0
    assert unverified.status_patch == {"status": {"canary": {"weights": {"verified": False}}}}
    raw = applied(raw, unverified.status_patch)
    confirmed = planning.plan(snapshot(raw, **cluster, verified=True), now=NOW)
    assert (confirmed.source, confirmed.trigger) == (States.Verifying, "complete_step")
    assert confirmed.step_index == 1
    assert confirmed.status_patch is not None
    assert confirmed.status_patch["status"]["canary"] == {"weights": {"verified": True}}


def test_verification_error_waits_in_verifying_and_warns_once() -> None:
    raw = ro(status=ps(0, canary_weight=10))
    error = "AccessDenied: not authorized to perform: elasticloadbalancing:DescribeRules"
    cluster: dict[str, Any] = {"new": rs("new", 1), "stable": rs("old", 10), "verify_weights": True,
                               "verify_error": error}
    plan = planning.plan(snapshot(raw, **cluster), now=NOW, source=States.WeightSet)
    assert (plan.target, plan.trigger, plan.requeue_after) == (States.Verifying, "weights_unverified", 10.0)
    assert [(e.type, e.reason, e.message) for e in plan.events] == [
        ("Warning", "WeightVerifyError", f"Failed to verify weight: {error}")]
    assert plan.reason == f"waiting for AWS to confirm canary weight 10: {error}"
    raw = applied(raw, plan.status_patch)
    again = planning.plan(snapshot(raw, **cluster), now=NOW + timedelta(seconds=10))
    assert (again.events, again.status_patch, again.step_index) == ((), None, 0)


def test_unknown_ingress_weights_are_not_trusted() -> None:
    raw = ro(status=ps(0, canary_weight=10))
    plan = planning.plan(snapshot(raw, new=rs("new", 1), stable=rs("old", 10), verify_weights=True,
                                  verified=True, weights_known=False), now=NOW)
    assert (plan.traffic.write, plan.requeue_after) == (True, 10.0)


def test_events_are_not_repeated_and_unchanged_status_is_not_patched() -> None:
    raw = ro(status=ps(0, canary_weight=0))
    cluster: dict[str, Any] = {"new": rs("new", 1), "stable": rs("old", 10), "verify_weights": True}
    first = planning.plan(snapshot(raw, **cluster), now=NOW)
    assert [e.message for e in first.events] == ["Traffic weight updated from 0 to 10"]
    raw = applied(raw, first.status_patch)
    quiet = [planning.plan(snapshot(raw, **cluster), now=NOW + timedelta(seconds=s)) for s in (10, 20)]
    assert [(p.events, p.status_patch) for p in quiet] == [((), None), ((), None)]


def test_timed_pause_requeues_at_expiry() -> None:
    raw = ro([{"setWeight": 10}, {"pause": {"duration": "1h"}}], ps(1, canary_weight=10))
    cluster: dict[str, Any] = {"new": rs("new", 1), "stable": rs("old", 10)}
    plan = planning.plan(snapshot(raw, **cluster), now=NOW)
    assert (plan.trigger, plan.requeue_after) == ("pause", 3600.0)
    assert plan.status_patch is not None
    assert plan.status_patch["status"]["pauseConditions"] == [{"reason": "CanaryPauseStep",
                                                               "startTime": "2026-11-26T12:00:00Z"}]
    raw = applied(raw, plan.status_patch)
    half = planning.plan(snapshot(raw, **cluster), now=NOW + timedelta(minutes=30))
    assert half.requeue_after == 1800.0
    done = planning.plan(snapshot(raw, **cluster), now=NOW + timedelta(hours=1, seconds=1))
    assert [e.message for e in done.events] == ["Rollout step 2/2 completed (pause: 1h)"]


def test_replica_view_defaults() -> None:
    view = ReplicaSetView(name="demo-x", hash="x", spec_replicas=3)
    assert (view.current_replicas, view.available_replicas) == (3, 0)
    snap = snapshot(ro(), new=ReplicaSetView("demo-x", "x", 3, revision=7))
    assert (snap.pod_hash, snap.revision) == ("x", 7)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 200) | st.text(max_size=8)
    | st.sampled_from(["2026-11-26T11:00:00Z", "new", "old", "CanaryPauseStep", "1h"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
PATHS = [
    ("status", "currentStepIndex"), ("status", "abortedAt"), ("status", "pauseConditions"),
    ("status", "canary", "weights", "canary", "weight"), ("status", "canary", "weights"),
    ("status", "stableRS"),
    ("status", "conditions"), ("status", "observedGeneration"), ("spec", "replicas"), ("spec", "restartAt"),
    ("spec", "strategy", "canary", "steps"), ("spec", "strategy", "canary", "dynamicStableScale"),
    ("spec", "strategy", "canary", "abortScaleDownDelaySeconds"), ("status", "currentPodHash"),
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PATHS), json_values, st.booleans(), st.booleans())
def test_planning_never_raises_on_a_parsable_rollout(path: tuple[str, ...], value: Any, abort: bool,
                                                     promote_full: bool) -> None:
    raw = ro(status=ps(2, canary_weight=50, abort=abort, promoteFull=promote_full,
                       pauseConditions=[{"reason": "CanaryPauseStep", "startTime": "2026-11-26T11:00:00Z"}]))
    target: Any = raw
    for key in path[:-1]:
        target = target.setdefault(key, {}) if isinstance(target, dict) else {}
    if isinstance(target, dict):
        target[path[-1]] = value
    try:
        snap = snapshot(raw, **MID, verify_weights=True)
    except models.InvalidSpec:
        return
    plan = planning.plan(snap, now=NOW)
    assert plan.target in States


def test_header_route_step_is_applied_from_revision_2_and_completes_at_once() -> None:
    step = {"setHeaderRoute": {"name": "hr", "match": [{"headerName": "x", "headerValue": {"exact": "y"}}]}}
    cluster: dict[str, Any] = {"new": rs("new", 1), "stable": rs("old", 10)}
    raw = ro([{"setWeight": 10}, step, {"pause": {}}], ps(1, canary_weight=10), revision="2")
    plan = planning.plan(snapshot(raw, **cluster), now=NOW)
    assert plan.traffic.header_route is not None and plan.traffic.header_route.name == "hr"
    assert [e.message for e in plan.events] == ["Rollout step 2/3 completed (setHeaderRoute: hr)"]
    first = planning.plan(snapshot(ro([step], ps(0), revision="1"), **cluster), now=NOW)
    assert first.traffic.header_route is None
    aborted = planning.plan(snapshot(ro([step], ps(0, abort=True), revision="2"), **cluster), now=NOW)
    assert (aborted.traffic.header_route, aborted.traffic.remove_routes) == (None, True)


def test_completed_and_healthy_conditions_as_the_reference_writes_them() -> None:
    """Issue 9: Completed (reason and message RolloutCompleted) and Healthy (RolloutHealthy)."""
    cluster = {"new": rs("aaa", 10, revision=2), "stable": rs("aaa", 10, revision=2)}
    raw, _ = settle(ro(status=STABLE, revision="2"), **cluster)
    done = planning.plan(snapshot(raw, **cluster), now=NOW).status
    completed, healthy = done.condition("Completed"), done.condition("Healthy")
    assert completed is not None and (completed.status, completed.reason, completed.message) == (
        "True", "RolloutCompleted", "RolloutCompleted")
    assert healthy is not None and (healthy.status, healthy.reason, healthy.message) == (
        "True", "RolloutHealthy", "Rollout is healthy")
    update = {"new": rs("bbb", 0, 0, revision=3), "stable": rs("aaa", 10, revision=2)}
    started = planning.plan(snapshot(raw, **update, template_hash="bbb"), now=NOW)
    completed, healthy = started.status.condition("Completed"), started.status.condition("Healthy")
    assert completed is not None and completed.status == "False"
    assert healthy is not None and (healthy.status, healthy.message) == ("False", "Rollout is not healthy")
    assert ("Normal", "RolloutNotCompleted", "Rollout not completed, started update to revision 3 (bbb)") in [
        (e.type, e.reason, e.message) for e in started.events]


def test_no_progress_for_progress_deadline_seconds_is_degraded() -> None:
    """Issue 9: progressDeadlineSeconds (default 600) turns Progressing into ProgressDeadlineExceeded."""
    cluster = {"new": rs("new", 1, 0, revision=3), "stable": rs("old", 10)}
    raw = ro(status=ps(0, canary_weight=0), revision="3")
    raw, first = settle(raw, **cluster)
    progress = first.status.condition("Progressing")
    assert progress is not None and progress.reason == "ReplicaSetUpdated"
    assert first.requeue_after is not None and first.requeue_after <= 600.0  # looked at again by the deadline
    late = planning.plan(snapshot(raw, **cluster), now=NOW + timedelta(seconds=601))
    timed_out = late.status.condition("Progressing")
    assert timed_out is not None and (timed_out.status, timed_out.reason, timed_out.message) == (
        "False", "ProgressDeadlineExceeded", 'ReplicaSet "demo-new" has timed out progressing.')
    assert (late.status.phase, late.status.message) == (
        "Degraded", 'ProgressDeadlineExceeded: ReplicaSet "demo-new" has timed out progressing.')
    custom = ro(status=ps(0, canary_weight=0), revision="3")
    custom["spec"]["progressDeadlineSeconds"] = 30
    custom, _ = settle(custom, **cluster)
    soon = planning.plan(snapshot(custom, **cluster), now=NOW + timedelta(seconds=31))
    assert soon.status.phase == "Degraded"


def test_progress_deadline_abort_aborts_an_update_that_stopped_progressing() -> None:
    """Issue 9: progressDeadlineAbort aborts an update past its deadline (evaluateProgressDeadlineAbort)."""
    cluster = {"new": rs("new", 1, 0, revision=3), "stable": rs("old", 10)}
    raw = ro(status=ps(0, canary_weight=20), revision="3")
    raw["spec"]["progressDeadlineAbort"] = True
    raw, _ = settle(raw, **cluster)
    assert not planning.plan(snapshot(raw, **cluster), now=NOW + timedelta(seconds=599)).status.abort
    late = planning.plan(snapshot(raw, **cluster), now=NOW + timedelta(seconds=601))
    assert late.status.abort and late.status.aborted_at
    assert late.target is States.Aborted and late.trigger == "abort"
    assert (late.status.phase, late.status.message) == (
        "Degraded", "RolloutAborted: Rollout aborted update to revision 3")
    assert [(e.type, e.reason, e.message) for e in late.events][:1] == [
        ("Warning", "RolloutAborted", 'ReplicaSet "demo-new" has timed out progressing.')]
    assert late.reason == 'ReplicaSet "demo-new" has timed out progressing.'
    # an indefinite pause step waits on purpose: no abort, whatever the time
    paused = ro([{"pause": {}}, {"setWeight": 50}], ps(0, canary_weight=0), revision="3")
    paused["spec"]["progressDeadlineAbort"] = True
    paused, _ = settle(paused, **cluster)
    assert not planning.plan(snapshot(paused, **cluster), now=NOW + timedelta(hours=2)).status.abort
    # without the flag the same Rollout only times out
    raw["spec"]["progressDeadlineAbort"] = False
    assert not planning.plan(snapshot(raw, **cluster), now=NOW + timedelta(seconds=601)).status.abort


def test_rollback_within_the_window_skips_the_steps() -> None:
    """Issue 9: spec.rollbackWindow.revisions — back to a recent ReplicaSet: no steps, promoted at once."""
    v1 = dataclasses.replace(rs("v1", 10), created="2026-01-01T00:00:00Z")
    v2 = dataclasses.replace(rs("v2", 0), created="2026-01-01T00:01:00Z")
    v3 = dataclasses.replace(rs("v3", 10), created="2026-01-01T00:02:00Z")
    status = {"currentPodHash": "v3", "stableRS": "v3", "currentStepIndex": 2, "observedGeneration": "2"}
    raw = ro([{"setWeight": 20}, {"pause": {}}], status, revision="4")
    raw["spec"]["rollbackWindow"] = {"revisions": 2}
    back = planning.plan(snapshot(raw, new=v1, stable=v3, others=(v2,)), now=NOW)
    assert back.step_index == 2
    assert [(e.reason, e.message) for e in back.events] == [
        ("SkipSteps", "Rollback to active ReplicaSets within RollbackWindow")]
    raw, _ = settle(raw, new=v1, stable=v3, others=(v2,))
    promoted = planning.plan(snapshot(raw, new=v1, stable=v3, others=(v2,)), now=NOW)
    assert promoted.status.stable_rs == "v1" and promoted.reason == "Rollback within window"
    # outside the window (one ReplicaSet between, window of 1): the steps run as for any update
    raw["spec"]["rollbackWindow"] = {"revisions": 1}
    raw["status"] = status
    outside = planning.plan(snapshot(raw, new=v1, stable=v3, others=(v2,)), now=NOW)
    assert outside.step_index == 0 and not outside.events
