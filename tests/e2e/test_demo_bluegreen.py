"""`make demo SCENARIO=bluegreen` end to end: `python -m sandbox.demo --scenario bluegreen`'s update, with
`alb-rollouts run --aws-verify-target-group` as a real subprocess and the LBC simulator registering and
draining targets with a delay.

Covers: the first deploy becomes Healthy with the ALB targeting only its pods; after an image change the
active Service is widened to both versions (status.blueGreen's activeSelector still blue, the preview Service
on green) while green's targets are still `initial`, is only narrowed to green once green's targets are
healthy, and the demo ends Healthy on green with the ALB targeting only green and no failed probe request;
the printed timeline names blue, green and the widened selector. `--scenario` picks the scenario: unset is
the canary, `bluegreen` this one, anything else exits 2; a failed blue-green demo exits 1.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import aws, demo, demo_bluegreen, demo_manifests


@pytest.mark.usefixtures("quiet_sandbox", "aws_endpoint")
async def test_demo_bluegreen_completes_with_no_failed_request(tmp_path: Path,
                                                               moto_server: aws.MotoServer) -> None:
    out = io.StringIO()
    result = await demo_bluegreen.run_bluegreen(out=out, within=60.0, log_dir=tmp_path, requests=50,
                                                moto=moto_server)
    printed = out.getvalue()
    assert result.failed == 0, printed
    assert result.requests > 0
    blue, green = result.blue, result.green
    assert blue and green and blue != green
    final = result.final
    assert final is not None
    assert (final.phase, final.pod_hash, final.stable_hash) == ("Healthy", green, green)
    assert (final.active_selector, final.preview_selector) == (green, green)
    assert (final.active_service, final.preview_service) == (green, green)
    assert final.targets == ((green, "healthy", 3),)
    widened = [seen for seen in result.observations if seen.active_service == demo_bluegreen.WIDE]
    assert widened, printed
    assert all(seen.active_selector == blue and seen.preview_service == green for seen in widened), printed
    initial = [version for seen in widened for version, state, _ in seen.targets if state == "initial"]
    assert green in initial, printed
    for seen in result.observations:
        if seen.active_service == green:  # narrowed only once green serves
            assert green in seen.healthy_targets(), printed
    assert "first deploy Healthy after" in printed
    assert f"Healthy again on {demo_manifests.IMAGES[1]} after" in printed
    assert "blue+green/green" in printed and "initial" in printed
    assert f"{result.failed} failed" in printed


def test_an_unknown_scenario_exits_2() -> None:
    done = subprocess.run([sys.executable, "-m", "sandbox.demo", "--scenario", "rainbow"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "argument --scenario: invalid choice: 'rainbow'" in done.stderr


@pytest.mark.parametrize(("argv", "ran"), [([], "canary"), (["--scenario", "canary"], "canary"),
                                           (["--scenario", "bluegreen"], "bluegreen")])
def test_the_scenario_flag_picks_the_demo(monkeypatch: pytest.MonkeyPatch, argv: list[str], ran: str) -> None:
    calls: list[tuple[str, float]] = []

    async def canary(**kwargs: float) -> None:
        calls.append(("canary", kwargs["within"]))

    async def bluegreen(**kwargs: float) -> None:
        calls.append(("bluegreen", kwargs["within"]))

    monkeypatch.setattr(demo, "run_demo", canary)
    monkeypatch.setattr(demo_bluegreen, "run_bluegreen", bluegreen)
    assert demo.main([*argv, "--timeout", "7"]) == 0
    assert calls == [(ran, 7.0)]


def test_a_failed_bluegreen_demo_exits_1(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    async def failing(**kwargs: float) -> None:
        raise demo.DemoError("timed out after 1s waiting for the update to finish")

    monkeypatch.setattr(demo_bluegreen, "run_bluegreen", failing)
    assert demo.main(["--scenario", "bluegreen"]) == 1
    assert capsys.readouterr().err == "demo failed: timed out after 1s waiting for the update to finish\n"
