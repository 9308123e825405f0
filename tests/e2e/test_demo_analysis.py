"""`make demo SCENARIO=analysis` end to end: `python -m sandbox.demo --scenario analysis`'s bad canary, with
`alb-rollouts run --aws-verify-target-group` as a real subprocess measuring the sandbox's CloudWatch data.

Covers: the first deploy becomes Healthy; after the image change the new ReplicaSet's pods fail 30% of their
requests, the canary reaches 20% on the ALB and step 1, the background AnalysisRun
`<rollout>-<hash>-<revision>` measures `canary-5xx-ratio` Failed (the canary's 5xx ratio above the
stable's, which has none) twice and fails, while `canary-p99-latency` passes (no response-time data); the
Rollout is aborted with the reference's message (Degraded, abort, weight 0 in the annotation and on the
ALB) before 50%, only the canary answered 5xx and no request failed to route; the timeline prints each
measurement and the closing line. Measurement values read as text; a scripted watch ends in a DemoError
when the controller never sees the image, the bad canary is promoted, the abort is not the analysis's, or
nothing aborts in time; a demo out of time says what it waited for; `--scenario analysis` runs this demo
and a failed one exits 1.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sandbox import aws, demo, demo_analysis, demo_manifests

CANARY, STABLE, ROLLOUT = demo_manifests.CANARY, demo_manifests.STABLE, demo_manifests.ROLLOUT
ABORTED = "RolloutAborted: Rollout aborted update to revision 2: Background analysis phase error/failed: "


@pytest.mark.usefixtures("quiet_sandbox", "aws_endpoint")
async def test_demo_analysis_aborts_the_bad_canary(tmp_path: Path, moto_server: aws.MotoServer) -> None:
    out = io.StringIO()
    result = await demo_analysis.run_analysis(out=out, within=60.0, log_dir=tmp_path, requests=50,
                                              moto=moto_server)
    printed = out.getvalue()
    final = result.final
    assert final is not None and result.bad_hash, printed
    assert (final.phase, final.abort, final.pod_hash) == ("Degraded", True, result.bad_hash), printed
    assert final.stable_hash != result.bad_hash
    assert final.alb == {CANARY: 0, STABLE: 100} and final.annotation == {CANARY: 0, STABLE: 100}
    assert (final.run, final.run_phase) == (f"{ROLLOUT}-{result.bad_hash}-2", "Failed")
    assert final.message.startswith(ABORTED) and '"canary-5xx-ratio" assessed Failed' in final.message
    assert any(seen.alb.get(CANARY) == 20 and seen.step == 1 for seen in result.observations), printed
    assert all(seen.alb.get(CANARY) != 50 for seen in result.observations), printed

    ratios = [taken for taken in result.measurements if taken.metric == "canary-5xx-ratio"]
    # failureLimit 1: the second Failed ends the run (a first look at a window the canary has not served
    # in yet, on a loaded machine, would pass: nothing to judge).
    phases = [taken.phase for taken in ratios]
    assert phases.count("Failed") == 2 and phases[-1] == "Failed", printed
    for taken in ratios[-2:]:
        value = json.loads(taken.value)
        assert value["stable"]["errors"] == 0 and value["stable"]["requests"] > 0
        assert value["canary"]["errorRate"] > value["stable"]["errorRate"] + 0.01
    latency = [taken.phase for taken in result.measurements if taken.metric == "canary-p99-latency"]
    assert latency and set(latency) == {"Successful"}, printed

    assert result.failed == 0, printed
    assert set(result.target_5xx) == {CANARY} and 0 < result.target_5xx[CANARY] < result.by_service[CANARY]
    assert f"measurement canary-5xx-ratio #{len(ratios)}: Failed     canary " in printed
    assert f"bad canary aborted by analysis after {result.seconds:.1f}s" in printed
    assert "every 5s over the last 10s instead of every 1m over 5m" in printed


def test_value_text() -> None:
    value = ('{"canary":{"requests":200,"errors":60,"errorRate":0.3,"p99":NaN},'
             '"stable":{"requests":800,"errors":0,"errorRate":0,"p99":NaN}}')
    assert demo_analysis.value_text(value) == ("canary 60/200 5xx (30.0%), stable 0/800 5xx (0.0%), "
                                               "p99 no data")
    timed = value.replace("NaN", "0.052", 1).replace("NaN", "0.04")
    assert demo_analysis.value_text(timed).endswith("p99 canary 52 ms, stable 40 ms")
    assert demo_analysis.value_text("[0.97]") == "[0.97]"
    assert demo_analysis.value_text("") == ""


def _seen(**changes: Any) -> demo_analysis.AnalysisObservation:
    healthy = demo_analysis.AnalysisObservation(
        step=4, phase="Healthy", message="", abort=False, pod_hash="old", stable_hash="old",
        annotation={CANARY: 0, STABLE: 100}, alb={CANARY: 0, STABLE: 100}, run="", run_phase="-",
        run_message="", measurements=())
    return replace(healthy, **changes)


class _Scripted(demo_analysis._AnalysisDemo):
    """A watch over scripted observations (the last one repeats), with no sandbox behind it."""

    script: list[demo_analysis.AnalysisObservation]

    async def observe(self) -> demo_analysis.AnalysisObservation:
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    async def knobs(self, body: dict[str, Any]) -> dict[str, Any]:
        return body

    async def probe(self, seed: int) -> dict[str, Any]:
        return {"requests": 1, "failed": 0, "byService": {}}


_CANARY = {"pod_hash": "new", "step": 1, "phase": "Paused", "alb": {CANARY: 20, STABLE: 80}}


@pytest.mark.parametrize(("script", "error"), [
    ([{}], "timed out after 0.2s waiting for the controller to see the new image; last seen: phase Healthy"),
    ([_CANARY, {"pod_hash": "new", "stable_hash": "new"}], "the bad canary was promoted: "),
    ([_CANARY, {"pod_hash": "new", "phase": "Degraded", "abort": True, "run": "r", "run_phase": "Running"}],
     "the Rollout was aborted, but not by a failed analysis: "),
    ([_CANARY], "timed out after 0.2s waiting for the analysis to abort the canary; last seen: phase Paused"),
])
async def test_a_watch_that_does_not_see_the_analysis_abort_fails(script: list[dict[str, Any]],
                                                                  error: str) -> None:
    stuck = _Scripted(kube=None, elbv2=None, session=None,  # type: ignore[arg-type]
                      control="", out=io.StringIO(), requests=1, interval=0.01, within=0.2)
    stuck.script = [_seen(**changes) for changes in script]
    with pytest.raises(demo.DemoError) as raised:
        await stuck.watch("old", time.monotonic() + 0.2)
    assert str(raised.value).startswith(error)


@pytest.mark.usefixtures("quiet_sandbox", "aws_endpoint")
async def test_out_of_time_says_what_it_waited_for(tmp_path: Path, moto_server: aws.MotoServer) -> None:
    with pytest.raises(demo.DemoError) as raised:
        await demo_analysis.run_analysis(out=io.StringIO(), within=0.5, log_dir=tmp_path, moto=moto_server)
    assert str(raised.value).splitlines()[0].startswith(
        "timed out after 0.5s waiting for the first deploy to become Healthy; last seen: phase ")


def test_the_scenario_flag_runs_the_analysis_demo(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[float] = []

    async def analysis(**kwargs: float) -> None:
        calls.append(kwargs["within"])

    async def failing(**kwargs: float) -> None:
        raise demo.DemoError("timed out after 1s waiting for the analysis to abort the canary")

    monkeypatch.setattr(demo_analysis, "run_analysis", analysis)
    assert demo.main(["--scenario", "analysis", "--timeout", "7"]) == 0
    assert calls == [7.0]
    monkeypatch.setattr(demo_analysis, "run_analysis", failing)
    assert demo.main(["--scenario", "analysis"]) == 1
    assert capsys.readouterr().err == ("demo failed: timed out after 1s waiting for the analysis to abort "
                                       "the canary\n")
