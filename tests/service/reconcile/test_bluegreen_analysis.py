"""Blue-green pre- and post-promotion analysis on the sandbox (issue 10 item 1, issue 11), the Rollout side;
the runs' phases are set here as the AnalysisRun controller would set them.

Aspects: `prePromotionAnalysis` starts `<rollout>-<hash>-<revision>-pre` (`rollout-type: PrePromotion`) once
the preview is saturated, names it in `status.blueGreen.prePromotionAnalysisRunStatus`, and the active
Service is not switched until it is Successful; a Failed one aborts with the reference's message and the
active Service stays on the stable pods. `postPromotionAnalysis` starts `...-post` after the switch and the
new ReplicaSet becomes stable only once it is Successful; a Failed one aborts and the active Service goes
back to the stable pods. The run statuses stay in status once the update is done.
"""

from __future__ import annotations

from typing import Any

from .test_bluegreen import _deploy, _selects
from .test_bluegreen_flows import _update
from .world import NS, World

RUNS = "analysisruns.argoproj.io"
TEMPLATES = "analysistemplates.argoproj.io"
METRIC = {"name": "ok", "successCondition": "result == true",
          "provider": {"web": {"url": "http://127.0.0.1:1/health", "jsonPath": "{$.ok}"}}}
ANALYSIS = {"templates": [{"templateName": "health"}]}


def _runs(w: World) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in w.storage.list(RUNS, NS)}


def _set_phase(w: World, name: str, phase: str, message: str = "") -> None:
    status = {"phase": phase, **({"message": message} if message else {})}
    w.storage.merge_patch(RUNS, NS, name, {"status": status})


async def _deployed(w: World, **extra: Any) -> str:
    w.apply(TEMPLATES, {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
                        "metadata": {"name": "health", "namespace": NS}, "spec": {"metrics": [METRIC]}})
    return await _deploy(w, **extra)


async def _run_started(w: World, suffix: str) -> tuple[str, str]:
    await w.settle(lambda: any(name.endswith(suffix) for name in _runs(w)), what=f"the {suffix} run",
                   quiet=False)
    h2 = str(w.status()["currentPodHash"])
    return f"demo-{h2}-2{suffix}", h2


async def test_pre_promotion_analysis_gates_the_switch(world: Any) -> None:
    w: World = await world()
    h1 = await _deployed(w, prePromotionAnalysis=ANALYSIS)
    _update(w)
    name, h2 = await _run_started(w, "-pre")
    run = _runs(w)[name]
    assert run["metadata"]["labels"] == {"rollouts-pod-template-hash": h2, "rollout-type": "PrePromotion",
                                         "app": "demo"}
    assert w.status()["blueGreen"]["prePromotionAnalysisRunStatus"] == {"name": name, "status": ""}
    _set_phase(w, name, "Running")
    await w.settle(lambda: w.status()["blueGreen"]["prePromotionAnalysisRunStatus"]["status"] == "Running",
                   what="running")
    assert _selects(w, "active") == h1 and w.status()["stableRS"] == h1
    assert w.events("AnalysisRunRunning") == [
        f"PrePromotion Analysis Run '{name}' Status New: 'Running' Previous: ''"]
    _set_phase(w, name, "Successful")
    await w.settle(lambda: w.status().get("stableRS") == h2 and w.status().get("phase") == "Healthy",
                   what="switched and promoted")
    assert _selects(w, "active") == h2
    assert w.status()["blueGreen"]["prePromotionAnalysisRunStatus"] == {"name": name, "status": "Successful"}


async def test_a_failed_pre_promotion_analysis_aborts(world: Any) -> None:
    w: World = await world()
    h1 = await _deployed(w, prePromotionAnalysis=ANALYSIS)
    _update(w)
    name, _ = await _run_started(w, "-pre")
    _set_phase(w, name, "Failed", 'Metric "ok" assessed Failed due to failed (1) > failureLimit (0)')
    await w.settle(lambda: w.status().get("phase") == "Degraded", what="aborted")
    assert w.status()["message"] == (
        "RolloutAborted: Rollout aborted update to revision 2: Blue/green pre-promotion analysis phase "
        'error/failed: Metric "ok" assessed Failed due to failed (1) > failureLimit (0)')
    assert _selects(w, "active") == h1 and w.status()["stableRS"] == h1


async def test_post_promotion_analysis_gates_the_new_stable(world: Any) -> None:
    w: World = await world()
    h1 = await _deployed(w, postPromotionAnalysis=ANALYSIS)
    _update(w)
    name, h2 = await _run_started(w, "-post")
    assert _runs(w)[name]["metadata"]["labels"]["rollout-type"] == "PostPromotion"
    assert _selects(w, "active") == h2 and w.status()["stableRS"] == h1
    _set_phase(w, name, "Running")
    await w.settle(lambda: True, what="settled")
    assert w.status()["stableRS"] == h1
    _set_phase(w, name, "Successful")
    await w.settle(lambda: w.status().get("stableRS") == h2 and w.status().get("phase") == "Healthy",
                   what="promoted")
    assert w.status()["blueGreen"]["postPromotionAnalysisRunStatus"]["status"] == "Successful"


async def test_a_failed_post_promotion_analysis_switches_back(world: Any) -> None:
    w: World = await world()
    h1 = await _deployed(w, postPromotionAnalysis=ANALYSIS)
    _update(w)
    name, _ = await _run_started(w, "-post")
    _set_phase(w, name, "Error", "an error")
    await w.settle(lambda: w.status().get("phase") == "Degraded" and _selects(w, "active") == h1,
                   what="aborted and switched back")
    assert w.status()["message"] == ("RolloutAborted: Rollout aborted update to revision 2: Blue/green "
                                     "post-promotion analysis phase error/failed: an error")
    assert w.status()["stableRS"] == h1
