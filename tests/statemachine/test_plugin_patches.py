"""The `kubectl argo rollouts` plugin's patches (reference §4.6) as the planner sees them.

Each body is the plugin's byte-exact string, parsed as JSON and merged (RFC 7386) into the Rollout, exactly as
the API server applies an `application/merge-patch+json` patch; then the next plan is checked.
Aspects: promote at an indefinite pause (status patch alone, with spec.paused, and the unified fallback);
promote without pause conditions bumps currentStepIndex and so skips the current step, an unverified setWeight
included, and the last step bump reaches the end of the steps; the Inconclusive-analysis promote body; promote
--full (status, with spec.paused, unified) through to "Full promotion requested"; abort; retry after abort;
pause and the promote that follows it; the deprecated skip-current-step and skip-all-steps bodies.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from statemachine import planning
from statemachine.plans import Plan
from statemachine.states import States
from tests.statemachine.conftest import NOW, applied, merge, rs, settle, snapshot
from tests.statemachine.conftest import progressing_status as ps
from tests.statemachine.conftest import rollout_dict as ro

# Reference §4.6, byte for byte (note the space after the comma in the promote bodies).
PAUSE = '{"spec":{"paused":true}}'
UNPAUSE = '{"spec":{"paused":false}}'
ABORT = '{"status":{"abort":true}}'
RETRY = '{"status":{"abort":false}}'
PROMOTE = '{"status":{"pauseConditions":null}}'
PROMOTE_UNIFIED = '{"spec":{"paused":false},"status":{"pauseConditions":null}}'
PROMOTE_FULL = '{"status":{"promoteFull":true}}'
PROMOTE_FULL_UNIFIED = '{"spec":{"paused":false},"status":{"promoteFull":true}}'


def promote_step(n: int) -> str:
    return '{"status":{"pauseConditions":null, "currentStepIndex":' + str(n) + "}}"


def promote_step_unified(n: int) -> str:
    return '{"spec":{"paused":false},"status":{"pauseConditions":null, "currentStepIndex":' + str(n) + "}}"


def promote_inconclusive(n: int) -> str:
    return '{"status":{"pauseConditions":null, "controllerPause":false, "currentStepIndex":' + str(n) + "}}"


def skip_steps(n: int) -> str:
    return '{"status":{"currentStepIndex":' + str(n) + "}}"


CLUSTER: dict[str, Any] = {"new": rs("new", 1, revision=3), "stable": rs("old", 10)}


def kubectl(raw: dict[str, Any], *bodies: str) -> dict[str, Any]:
    """The Rollout after the plugin's merge patches, applied in order."""
    for body in bodies:
        raw = merge(raw, json.loads(body))
    return raw


def at_pause(*, paused: bool = False) -> dict[str, Any]:
    """Step 2 of 4 (an indefinite pause) after setWeight 10, settled: CanaryPauseStep, controllerPause."""
    raw, plan = settle(ro(status=ps(1, canary_weight=10), revision="3", paused=paused), **CLUSTER)
    assert plan.target is States.Paused
    if not paused:
        assert raw["status"]["pauseConditions"][0]["reason"] == "CanaryPauseStep"
        assert raw["status"]["controllerPause"] is True
    return raw


def events(plan: Plan) -> list[tuple[str, str, str]]:
    return [(e.type, e.reason, e.message) for e in plan.events]


@pytest.mark.parametrize("bodies", [
    pytest.param((PROMOTE,), id="status-patch"),
    pytest.param((PROMOTE_UNIFIED,), id="unified-fallback"),
])
def test_promote_completes_the_pause_step(bodies: tuple[str, ...]) -> None:
    raw = kubectl(at_pause(), *bodies)
    assert "pauseConditions" not in raw["status"] and raw["status"]["controllerPause"] is True
    plan = planning.plan(snapshot(raw, **CLUSTER), now=NOW, source=States.Paused)
    assert (plan.source, plan.target, plan.trigger, plan.step_index) == (
        States.Paused, States.Progressing, "resume", 2)
    assert events(plan) == [("Normal", "RolloutStepCompleted", "Rollout step 2/4 completed (pause)")]
    assert (plan.status.pause_conditions, plan.status.controller_pause) == ((), False)
    progress = plan.status.condition("Progressing")
    assert progress is not None
    assert (progress.status, progress.reason, progress.message) == ("Unknown", "RolloutResumed",
                                                                    "Rollout is resumed")
    # scaling saw the old index this cycle (as the reference scales before it syncs the status); the next
    # cycle grows the canary for setWeight 50 while traffic stays at the last setWeight until it is there
    assert (plan.canary_weight, plan.canary_replicas) == (10, 1)
    following = planning.plan(snapshot(applied(raw, plan.status_patch), **CLUSTER), now=NOW)
    assert (following.canary_weight, following.traffic.row, following.canary_replicas) == (
        10, "previous-set-weight", 5)


def test_promote_of_a_paused_rollout_at_a_pause_step_sends_both_patches() -> None:
    raw = at_pause()
    raw = kubectl(raw, PAUSE)
    paused = planning.plan(snapshot(raw, **CLUSTER), now=NOW, source=States.Paused)
    assert (paused.status.phase, paused.status.message) == ("Paused", "manually paused")
    raw = applied(raw, paused.status_patch)
    raw = kubectl(raw, PROMOTE, UNPAUSE)  # pauseConditions were non-empty: status patch, then spec
    plan = planning.plan(snapshot(raw, **CLUSTER), now=NOW, source=States.Paused)
    assert (plan.target, plan.trigger, plan.step_index) == (States.Progressing, "resume", 2)
    assert events(plan) == [("Normal", "RolloutStepCompleted", "Rollout step 2/4 completed (pause)")]


def test_promote_without_pause_conditions_skips_an_unverified_set_weight() -> None:
    cluster = {**CLUSTER, "verify_weights": True}
    raw = ro(status=ps(2, canary_weight=10), revision="3")
    waiting = planning.plan(snapshot(raw, **{**cluster, "new": rs("new", 5, revision=3)}), now=NOW)
    raw = applied(raw, waiting.status_patch)
    unverified = planning.plan(snapshot(raw, **{**cluster, "new": rs("new", 5, revision=3)}, verified=False),
                               now=NOW)
    assert (unverified.target, unverified.step_index) == (States.Verifying, 2)
    raw = applied(raw, unverified.status_patch)
    assert raw["status"]["canary"]["weights"]["verified"] is False
    raw = kubectl(raw, promote_step(3))  # no pause conditions: the plugin bumps the index
    plan = planning.plan(snapshot(raw, **{**cluster, "new": rs("new", 5, revision=3)}), now=NOW,
                         source=States.Verifying)
    # step 3 (setWeight 50) was skipped, never completed: no RolloutStepCompleted for it
    assert not [e for e in plan.events if e.reason == "RolloutStepCompleted"]
    assert (plan.step_index, plan.target, plan.trigger) == (3, States.Paused, "pause")
    assert plan.status.pause_conditions[0].reason == "CanaryPauseStep"


@pytest.mark.parametrize("body", [
    pytest.param(promote_step(4), id="status-patch"),
    pytest.param(promote_step_unified(4), id="unified-fallback"),
    pytest.param(skip_steps(4), id="skip-current-step"),
])
def test_promote_at_the_last_step_reaches_the_end(body: str) -> None:
    steps = [{"setWeight": 10}, {"pause": {}}, {"setWeight": 50}, {"setWeight": 80}]
    raw = ro(steps, ps(3, canary_weight=80), revision="3")
    raw = kubectl(raw, body)
    plan = planning.plan(snapshot(raw, new=rs("new", 8, revision=3), stable=rs("old", 10)), now=NOW)
    assert (plan.step_index, plan.traffic.row, plan.canary_replicas) == (4, "previous-set-weight", 10)
    done = planning.plan(snapshot(applied(raw, plan.status_patch), new=rs("new", 10, revision=3),
                                  stable=rs("old", 10)), now=NOW)
    assert (done.traffic.row, done.canary_weight, done.stable_weight) == ("end-of-steps", 100, 0)


def test_inconclusive_promote_body_moves_to_the_next_step() -> None:
    raw = kubectl(at_pause(), promote_inconclusive(2))
    assert raw["status"]["controllerPause"] is False and raw["status"]["currentStepIndex"] == 2
    plan = planning.plan(snapshot(raw, **CLUSTER), now=NOW, source=States.Paused)
    assert (plan.step_index, plan.target, plan.trigger, plan.events) == (2, States.Progressing, "resume", ())


def test_skip_all_steps_goes_to_the_end() -> None:
    raw = kubectl(at_pause(), skip_steps(4))
    plan = planning.plan(snapshot(raw, new=rs("new", 10, revision=3), stable=rs("old", 10)), now=NOW,
                         source=States.Paused)
    assert plan.step_index == 4
    assert events(plan)[-1] == ("Normal", "RolloutCompleted",
                                "Rollout completed update to revision 3 (new): Completed all 4 canary steps")
    assert plan.target is States.Promoted


@pytest.mark.parametrize(("paused", "bodies"), [
    pytest.param(False, (PROMOTE_FULL,), id="status-patch"),
    pytest.param(True, (UNPAUSE, PROMOTE_FULL), id="paused-spec-then-status"),
    pytest.param(True, (PROMOTE_FULL_UNIFIED,), id="unified-fallback"),
])
def test_promote_full(paused: bool, bodies: tuple[str, ...]) -> None:
    raw = kubectl(at_pause(paused=paused), *bodies)
    assert "paused" not in raw["spec"] or raw["spec"]["paused"] is False
    plan = planning.plan(snapshot(raw, **CLUSTER), now=NOW, source=States.Paused)
    assert (plan.traffic.row, plan.canary_weight, plan.canary_replicas, plan.step_index) == (
        "promote-full", 10, 10, 4)
    assert (plan.status.pause_conditions, plan.status.controller_pause) == ((), False)
    raw = applied(raw, plan.status_patch)
    done = planning.plan(snapshot(raw, new=rs("new", 10, revision=3), stable=rs("old", 10)), now=NOW)
    assert (done.target, done.trigger) == (States.Promoted, "promote")
    assert events(done) == [("Normal", "RolloutCompleted",
                             "Rollout completed update to revision 3 (new): Full promotion requested")]
    assert done.status_patch is not None and done.status_patch["status"]["promoteFull"] is None


def test_abort_then_retry() -> None:
    raw = kubectl(at_pause(), ABORT)
    plan = planning.plan(snapshot(raw, **CLUSTER), now=NOW, source=States.Paused)
    assert (plan.source, plan.target, plan.trigger) == (States.Paused, States.Aborted, "abort")
    assert (plan.canary_weight, plan.stable_weight, plan.traffic.remove_routes) == (0, 100, True)
    assert plan.step_index == 0
    assert events(plan) == [
        ("Normal", "TrafficWeightUpdated", "Traffic weight updated from 10 to 0"),
        ("Warning", "RolloutAborted", "Rollout aborted update to revision 3"),
    ]
    assert (plan.status.phase, plan.status.message) == (
        "Degraded", "RolloutAborted: Rollout aborted update to revision 3")
    assert plan.status.aborted_at == "2026-11-26T12:00:00Z"
    assert (plan.status.pause_conditions, plan.status.controller_pause) == ((), False)
    raw = applied(raw, plan.status_patch)
    raw = kubectl(raw, RETRY)
    scaled_down = {**CLUSTER, "new": rs("new", 0, 0, revision=3)}  # after abortScaleDownDelaySeconds
    retried = planning.plan(snapshot(raw, **scaled_down), now=NOW, source=States.Aborted)
    assert (retried.source, retried.trigger, retried.step_index) == (States.Aborted, "retry", 0)
    assert (retried.canary_weight, retried.canary_replicas, retried.events) == (0, 1, ())
    assert retried.status.aborted_at is None and not retried.status.abort
    progress = retried.status.condition("Progressing")
    assert progress is not None
    assert (progress.status, progress.reason, progress.message) == ("Unknown", "RolloutRetry",
                                                                    "Retrying Rollout after abort")
    assert retried.status_patch is not None and retried.status_patch["status"]["abortedAt"] is None


def test_pause_then_promote_skips_the_current_set_weight() -> None:
    raw, _ = settle(ro(status=ps(2, canary_weight=10), revision="3"), **CLUSTER)
    raw = kubectl(raw, PAUSE)
    paused = planning.plan(snapshot(raw, **CLUSTER), now=NOW, source=States.Progressing)
    assert (paused.target, paused.trigger) == (States.Paused, "pause")
    assert (paused.status.phase, paused.status.message) == ("Paused", "manually paused")
    condition = paused.status.condition("Paused")
    assert condition is not None
    assert (condition.status, condition.reason, condition.message) == ("True", "RolloutPaused",
                                                                       "Rollout is paused")
    assert paused.status.pause_conditions == ()
    raw = applied(raw, paused.status_patch)
    # no pause conditions on a paused canary: promote bumps the index, then unpauses
    raw = kubectl(raw, promote_step(3), UNPAUSE)
    resumed = planning.plan(snapshot(raw, **CLUSTER), now=NOW, source=States.Paused)
    # setWeight 50 was skipped, not completed; its weight applies now (the latest setWeight before the pause
    # step), and the pause step pauses at once
    assert (resumed.step_index, resumed.target, resumed.trigger) == (3, States.Paused, "sync")
    assert events(resumed) == [("Normal", "TrafficWeightUpdated", "Traffic weight updated from 10 to 50")]
    assert (resumed.canary_weight, resumed.traffic.row) == (50, "previous-set-weight")
    assert (resumed.status.phase, resumed.status.message) == ("Paused", "CanaryPauseStep")
    assert [c.reason for c in resumed.status.pause_conditions] == ["CanaryPauseStep"]
