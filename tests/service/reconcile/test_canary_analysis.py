"""Canary analysis on the sandbox, the Rollout side (issue 11): the AnalysisRuns the reconciler creates and
what their phases do to the Rollout. The runs' phases are set here as the AnalysisRun controller would set
them (its own tests run it; the e2e test runs both).

Aspects: an analysis step creates `<rollout>-<hash>-<revision>-<step>` with the reference's labels
(pod-template hash, `rollout-type: Step`, `step-index`, the selector's), revision annotation, controller
ownerReference and the template's metrics, and names it in `status.canary.currentStepAnalysisRunStatus`;
its phase changes are told as the reference's `AnalysisRun<Phase>` events; Successful completes the step
and the canary goes on to promotion, the run is kept; Failed aborts (weight back to 0, phase Degraded with
the reference's message naming the analysis, `RolloutAborted` event); Inconclusive pauses with
`InconclusiveAnalysisRun`; background analysis (`canary.analysis` with `startingStep`) starts at that step
as `rollout-type: Background`, aborts on failure and is terminated (`spec.terminate`) once promoted; a
missing template is an InvalidSpec naming it, cleared once the template exists.
"""

from __future__ import annotations

from typing import Any

from .world import HASH, NS, ROLLOUTS, World, template

RUNS = "analysisruns.argoproj.io"
TEMPLATES = "analysistemplates.argoproj.io"
METRIC = {"name": "ok", "successCondition": "result == true", "failureLimit": 0,
          "provider": {"web": {"url": "http://127.0.0.1:1/health", "jsonPath": "{$.ok}"}}}
STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"analysis": {"templates": [{"templateName": "health"}]}},
                               {"setWeight": 50}]


def _template(name: str = "health") -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": {"name": name, "namespace": NS}, "spec": {"metrics": [METRIC]}}


def _runs(w: World) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in w.storage.list(RUNS, NS)}


def _set_phase(w: World, name: str, phase: str, message: str = "") -> None:
    """What the AnalysisRun controller writes."""
    status: dict[str, Any] = {"phase": phase, **({"message": message} if message else {})}
    w.storage.merge_patch(RUNS, NS, name, {"status": status})  # the CRD has no status subresource


async def _deployed(w: World, **options: Any) -> str:
    w.apply(TEMPLATES, _template())
    w.seed(**options)
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    return str(w.status()["stableRS"])


async def _at_analysis_step(w: World) -> tuple[str, str]:
    """Update to app:2 and settle with the step's run created; (its name, the new hash)."""
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: bool(_runs(w)), what="the step's AnalysisRun", quiet=False)
    await w.settle(lambda: True, what="settled")
    new = str(w.status()["currentPodHash"])
    return f"demo-{new}-2-1", new


async def test_an_analysis_step_runs_then_the_canary_goes_on(world: Any) -> None:
    w: World = await world()
    await _deployed(w, steps=STEPS)
    name, new = await _at_analysis_step(w)
    run = _runs(w)[name]
    assert run["metadata"]["labels"] == {HASH: new, "rollout-type": "Step", "step-index": "1", "app": "demo"}
    assert run["metadata"]["annotations"] == {"rollout.argoproj.io/revision": "2"}
    owner = run["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Rollout", "demo", True)
    assert run["spec"] == {"metrics": [METRIC]}
    status = w.status()
    assert status["currentStepIndex"] == 1
    assert status["canary"]["currentStepAnalysisRunStatus"] == {"name": name, "status": ""}

    _set_phase(w, name, "Running")
    await w.settle(lambda: w.status()["canary"]["currentStepAnalysisRunStatus"]["status"] == "Running",
                   what="running")
    assert w.events("AnalysisRunRunning") == [
        f"Step Analysis Run '{name}' Status New: 'Running' Previous: ''"]
    assert w.status()["currentStepIndex"] == 1

    _set_phase(w, name, "Successful")
    await w.settle(lambda: w.status().get("currentStepIndex") == 3 and w.status().get("stableRS") == new,
                   what="promoted")
    assert w.events("AnalysisRunSuccessful") == [
        f"Step Analysis Run '{name}' Status New: 'Successful' Previous: 'Running'"]
    assert "currentStepAnalysisRunStatus" not in w.status().get("canary", {})
    assert list(_runs(w)) == [name]  # kept, as the reference keeps it (history limits prune later)


async def test_a_failed_step_analysis_aborts(world: Any) -> None:
    w: World = await world()
    await _deployed(w, steps=STEPS)
    name, _ = await _at_analysis_step(w)
    failure = 'Metric "ok" assessed Failed due to failed (1) > failureLimit (0)'
    _set_phase(w, name, "Failed", failure)
    await w.settle(lambda: w.status().get("phase") == "Degraded", what="aborted")
    message = f"Rollout aborted update to revision 2: Step-based analysis phase error/failed: {failure}"
    status = w.status()
    assert status["abort"] is True and status["message"] == f"RolloutAborted: {message}"
    assert w.events("RolloutAborted") == [message]
    assert w.events("AnalysisRunFailed") == [
        f"Step Analysis Run '{name}' Status New: 'Failed' Previous: ''"]
    await w.settle(lambda: w.status()["canary"]["weights"]["canary"]["weight"] == 0, what="weight back")
    await w.reconcile()
    assert w.status()["message"] == f"RolloutAborted: {message}"  # the cause stays named while aborted


async def test_an_inconclusive_step_analysis_pauses(world: Any) -> None:
    w: World = await world()
    await _deployed(w, steps=STEPS)
    name, _ = await _at_analysis_step(w)
    _set_phase(w, name, "Inconclusive", "inconclusive (1) > inconclusiveLimit (0)")
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused")
    status = w.status()
    assert [c["reason"] for c in status["pauseConditions"]] == ["InconclusiveAnalysisRun"]
    assert status["controllerPause"] is True and status["currentStepIndex"] == 1


async def test_background_analysis_from_its_starting_step(world: Any) -> None:
    w: World = await world()
    background = {"templates": [{"templateName": "health"}], "startingStep": 1}
    steps = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]
    await _deployed(w, steps=steps, analysis=background)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused at step 1")
    new = str(w.status()["currentPodHash"])
    name = f"demo-{new}-2"
    run = _runs(w)[name]
    assert run["metadata"]["labels"] == {HASH: new, "rollout-type": "Background", "app": "demo"}
    assert w.status()["canary"]["currentBackgroundAnalysisRunStatus"] == {"name": name, "status": ""}
    _set_phase(w, name, "Running")
    # the plugin's promote: the background run goes on through the next steps
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"pauseConditions": None}}, subresource="status")
    await w.settle(lambda: w.status().get("currentStepIndex") == 3, what="at the second pause")
    assert list(_runs(w)) == [name]
    _set_phase(w, name, "Error", 'Metric "ok" assessed Error due to consecutiveErrors (5) > '
                                 "consecutiveErrorLimit (4)")
    await w.settle(lambda: w.status().get("phase") == "Degraded", what="aborted")
    assert w.status()["message"].startswith(
        "RolloutAborted: Rollout aborted update to revision 2: Background analysis phase error/failed: ")


async def test_background_analysis_is_terminated_once_promoted(world: Any) -> None:
    w: World = await world()
    background = {"templates": [{"templateName": "health"}]}
    await _deployed(w, steps=[{"setWeight": 20}, {"pause": {}}], analysis=background)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused")
    name = f"demo-{w.status()['currentPodHash']}-2"
    _set_phase(w, name, "Running")
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"promoteFull": True}}, subresource="status")
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="promoted")
    assert _runs(w)[name]["spec"].get("terminate") is True
    assert "currentBackgroundAnalysisRunStatus" not in w.status().get("canary", {})


async def test_a_missing_template_is_an_invalid_spec_until_it_exists(world: Any) -> None:
    w: World = await world()
    w.seed(steps=[{"setWeight": 20}, {"analysis": {"templates": [{"templateName": "absent"}]}}])
    await w.settle(lambda: w.status().get("phase") == "Degraded", what="invalid")
    assert w.status()["message"] == (
        "InvalidSpec: spec.strategy.canary.steps[1].analysis: AnalysisTemplate 'absent' not found")
    assert not _runs(w)
    w.apply(TEMPLATES, _template("absent"))
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy once the template exists")
