"""statemachine.canary_analysis and its place in the canary plan (reference rollout/analysis.go).

Aspects: the step run's body (name with the step index, labels, annotations, ownerReference, the template's
metrics, args resolved from the Rollout: a value, `podTemplateHashValue`, a `metadata` fieldRef); a second
run for the same step after an abort is named `.1`; a run of ours that status does not name yet is taken,
not created again; a run from the previous step is terminated; Successful completes the step, Failed and
Error abort with the reference's message, Inconclusive pauses (and not twice); nothing is created while
paused; background runs wait for `startingStep` and are not made on a first deploy; everything is
terminated once fully promoted or on `promoteFull`; the `AnalysisRun<Phase>` events and when they are told;
`spec_error` for a missing template, a bad condition, an unsupported provider and a bad arg.
"""

from __future__ import annotations

from typing import Any

import pytest

from statemachine import canary_analysis, parsing, planning
from statemachine.snapshot import AnalysisRunView, Snapshot
from tests.statemachine.conftest import NOW, progressing_status, rollout_dict, rs

METRIC = {"name": "ok", "successCondition": "result[0] >= {{args.floor}}", "provider": {
    "prometheus": {"address": "http://prom:9090", "query": "up{hash='{{args.hash}}'}"}}}
TEMPLATES = {"health": {"spec": {"args": [{"name": "floor"}, {"name": "hash"}], "metrics": [METRIC]}}}
ARGS = [{"name": "floor", "value": "0.9"}, {"name": "hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]
STEP = {"analysis": {"templates": [{"templateName": "health"}], "args": ARGS}}
STEPS: list[dict[str, Any]] = [{"setWeight": 20}, STEP, {"setWeight": 50}]
CLUSTER = {"new_rs": rs("new", 2, revision=2), "stable_rs": rs("old", 10)}


def snapshot(source: dict[str, Any], **kwargs: Any) -> Snapshot:
    """The observed world, with the raw Rollout the args read."""
    return Snapshot(rollout=parsing.parse_rollout(source), raw=source, analysis_observed=True, **kwargs)


def _raw(index: int = 1, steps: list[dict[str, Any]] | None = None, **status: Any) -> dict[str, Any]:
    status_now = progressing_status(index, canary_weight=20, **status)
    raw = rollout_dict(STEPS if steps is None else steps, status_now)
    raw["metadata"]["uid"] = "ro-uid"
    return raw


def _decide(raw: dict[str, Any], *runs: AnalysisRunView, **kwargs: Any) -> canary_analysis.AnalysisDecision:
    return canary_analysis.decide(snapshot(raw, analysis_runs=runs, analysis_templates=TEMPLATES,
                                           **CLUSTER, **kwargs))


def _run(name: str, phase: str = "", *, index: str | None = "1", kind: str = "Step", message: str = "",
         terminate: bool = False) -> AnalysisRunView:
    labels = {"rollouts-pod-template-hash": "new", "rollout-type": kind}
    if index is not None:
        labels["step-index"] = index
    return AnalysisRunView(name, phase, message, labels, terminate)


def _current(name: str, phase: str = "") -> dict[str, Any]:
    return {"canary": {"currentStepAnalysisRunStatus": {"name": name, "status": phase}}}


def test_the_step_run_is_built_as_the_reference_builds_it() -> None:
    decision = _decide(_raw())
    [run] = decision.create
    assert (run.kind, run.name) == ("Step", "demo-new-2-1")
    metadata = run.body["metadata"]
    assert metadata["labels"] == {"rollouts-pod-template-hash": "new", "rollout-type": "Step",
                                  "step-index": "1", "app": "demo"}
    assert metadata["annotations"] == {"rollout.argoproj.io/revision": "2"}
    assert metadata["ownerReferences"][0]["uid"] == "ro-uid"
    assert run.body["spec"]["args"] == [{"name": "floor", "value": "0.9"}, {"name": "hash", "value": "new"}]
    assert run.body["spec"]["metrics"] == [METRIC]
    assert decision.step is not None and decision.step.name == "demo-new-2-1"
    assert not decision.step_successful and not decision.abort_message


def test_after_an_abort_the_step_gets_a_new_run_with_a_collision_suffix() -> None:
    raw = _raw(abortedAt="2026-11-26T11:00:00Z", **_current("demo-new-2-1", "Failed"))
    decision = _decide(raw, _run("demo-new-2-1", "Failed"))
    assert [run.name for run in decision.create] == ["demo-new-2-1.1"]


def test_a_run_status_does_not_name_yet_is_taken_not_created_again() -> None:
    decision = _decide(_raw(), _run("demo-new-2-1", "Running"))
    assert not decision.create and decision.step is not None and decision.step.name == "demo-new-2-1"


@pytest.mark.parametrize(("phase", "successful", "inconclusive", "abort"), [
    pytest.param("Running", False, False, "", id="running"),
    pytest.param("Successful", True, False, "", id="successful"),
    pytest.param("Inconclusive", False, True, "", id="inconclusive"),
    pytest.param("Failed", False, False, "Step-based analysis phase error/failed: why", id="failed"),
    pytest.param("Error", False, False, "Step-based analysis phase error/failed: why", id="error"),
])
def test_the_step_runs_phase(phase: str, successful: bool, inconclusive: bool, abort: str) -> None:
    decision = _decide(_raw(**_current("demo-new-2-1", "")), _run("demo-new-2-1", phase, message="why"))
    assert (decision.step_successful, decision.inconclusive, decision.abort_message) == (
        successful, inconclusive, abort)
    assert [e.reason for e in decision.events] == [f"AnalysisRun{phase}"]
    assert decision.events[0].message == (
        f"Step Analysis Run 'demo-new-2-1' Status New: '{phase}' Previous: ''")
    assert decision.events[0].type == ("Warning" if phase in ("Failed", "Error") else "Normal")


def test_an_unchanged_phase_is_not_told_again() -> None:
    decision = _decide(_raw(**_current("demo-new-2-1", "Running")), _run("demo-new-2-1", "Running"))
    assert decision.events == ()


def test_the_previous_steps_run_is_terminated_and_status_cleared() -> None:
    raw = _raw(2, **_current("demo-new-2-1", "Successful"))
    decision = _decide(raw, _run("demo-new-2-1", "Running"))
    assert decision.terminate == ("demo-new-2-1",) and decision.step is None


def test_nothing_is_created_while_paused() -> None:
    raw = _raw(pauseConditions=[{"reason": "CanaryPauseStep", "startTime": "2026-11-26T11:00:00Z"}])
    assert _decide(raw).create == ()


@pytest.mark.parametrize("status", [
    pytest.param({"promoteFull": True}, id="promote-full"),
    pytest.param({"abort": True, "abortedAt": "2026-11-26T11:00:00Z"}, id="aborted"),
])
def test_everything_is_terminated(status: dict[str, Any]) -> None:
    decision = _decide(_raw(**status), _run("demo-new-2-1", "Running"), _run("x", "Successful"),
                       _run("y", "Running", terminate=True))
    assert decision.terminate == ("demo-new-2-1",) and not decision.create


def test_background_waits_for_its_starting_step() -> None:
    background = {"templates": [{"templateName": "health"}], "args": ARGS, "startingStep": 2}
    steps = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}]
    raw = _raw(1, steps=steps)
    raw["spec"]["strategy"]["canary"]["analysis"] = background
    assert _decide(raw).create == ()
    raw = _raw(2, steps=steps)
    raw["spec"]["strategy"]["canary"]["analysis"] = background
    [run] = _decide(raw).create
    assert (run.kind, run.name, run.body["metadata"]["labels"]["rollout-type"]) == (
        "Background", "demo-new-2", "Background")


def test_a_failed_background_run_aborts_the_plan() -> None:
    raw = _raw(0, steps=[{"setWeight": 20}, {"pause": {}}])
    raw["spec"]["strategy"]["canary"]["analysis"] = {"templates": [{"templateName": "health"}], "args": ARGS}
    raw["status"]["canary"]["currentBackgroundAnalysisRunStatus"] = {"name": "demo-new-2",
                                                                      "status": "Running"}
    run = _run("demo-new-2", "Failed", index=None, kind="Background", message="m")
    plan = planning.plan(snapshot(raw, analysis_runs=(run,), analysis_templates=TEMPLATES, **CLUSTER),
                         now=NOW)
    assert plan.after.status.abort is True
    progressing = plan.after.status.condition("Progressing")
    assert progressing is not None and progressing.message == (
        "Rollout aborted update to revision 2: Background analysis phase error/failed: m")
    assert ("Warning", "RolloutAborted", progressing.message) in [(e.type, e.reason, e.message)
                                                                   for e in plan.events]


def test_a_successful_step_run_advances_the_plan_and_an_inconclusive_one_pauses_it() -> None:
    raw = _raw(**_current("demo-new-2-1", "Running"))
    done = planning.plan(snapshot(raw, analysis_runs=(_run("demo-new-2-1", "Successful"),),
                                  analysis_templates=TEMPLATES, **CLUSTER), now=NOW)
    assert done.after.status.current_step_index == 2
    held = planning.plan(snapshot(raw, analysis_runs=(_run("demo-new-2-1", "Inconclusive"),),
                                  analysis_templates=TEMPLATES, **CLUSTER), now=NOW)
    assert [c.reason for c in held.after.status.pause_conditions] == ["InconclusiveAnalysisRun"]
    assert held.after.status.controller_pause and held.after.status.current_step_index == 1


@pytest.mark.parametrize(("templates", "expected"), [
    pytest.param({}, "spec.strategy.canary.steps[1].analysis: AnalysisTemplate 'health' not found",
                 id="missing-template"),
    pytest.param({"health": {"spec": {"args": [{"name": "floor"}, {"name": "hash"}], "metrics": [
        {**METRIC, "successCondition": "date(result) > 1"}]}}},
        'spec.strategy.canary.steps[1].analysis: metrics[0] (ok): invalid successCondition '
        '"date(result) > 1": unsupported function "date" in condition "date(result) > 1"',
        id="bad-condition"),
    pytest.param({"health": {"spec": {"metrics": [{"name": "dd", "provider": {"datadog": {"query": "q"}}}]}}},
                 'spec.strategy.canary.steps[1].analysis: metrics[0] (dd): provider "datadog" is not '
                 "supported by alb-rollouts (supported: alb, cloudWatch, prometheus, web)",
                 id="unsupported-provider"),
])
def test_spec_error(templates: dict[str, Any], expected: str) -> None:
    raw = _raw()
    error = canary_analysis.spec_error(snapshot(raw, analysis_templates=templates, **CLUSTER))
    assert error == expected


def test_no_spec_error_without_analysis_or_when_valid() -> None:
    raw = _raw()
    assert canary_analysis.spec_error(snapshot(raw, analysis_templates=TEMPLATES, **CLUSTER)) is None
    plain = _raw(steps=[{"setWeight": 20}])
    assert canary_analysis.spec_error(snapshot(plain, **CLUSTER)) is None


def test_offline_nothing_is_decided_about_runs() -> None:
    raw = _raw(**_current("demo-new-2-1", "Running"))
    offline = Snapshot(rollout=parsing.parse_rollout(raw), raw=raw, **CLUSTER)
    assert canary_analysis.spec_error(offline) is None
    decision = canary_analysis.decide(offline)
    assert (decision.create, decision.terminate, decision.error) == ((), (), None)
    assert decision.step is not None and decision.step.name == "demo-new-2-1"
    plan = planning.plan(offline, now=NOW)
    assert plan.after.status.current_step_index == 1 and plan.after.status.phase != "Degraded"
