"""`make demo` end to end: `python -m sandbox.demo`'s scenario, with `alb-rollouts run` as a real subprocess
verifying each step against moto's ELBv2 through the LBC simulator.

Covers: the first deploy becomes Healthy with all traffic on stable; after an image change the canary walks
its steps (20% and 50% both in the Ingress annotation and on the ALB, each pause entered), ends Healthy on the
new ReplicaSet with stable at 100% on the ALB, and the traffic probe never saw a failed request; the printed
timeline names every step; a demo out of time and a controller that dies both end in a DemoError saying what
it waited for (the second with the controller log's last lines), as does a controller that never notices the
new image; the command-line entry exits 2 on a bad flag.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox import aws, demo, demo_manifests

CANARY, STABLE = demo_manifests.CANARY, demo_manifests.STABLE


@pytest.mark.usefixtures("quiet_sandbox", "aws_endpoint")
async def test_demo_canary_completes_with_no_failed_request(tmp_path: Path,
                                                            moto_server: aws.MotoServer) -> None:
    out = io.StringIO()
    result = await demo.run_demo(out=out, within=100.0, log_dir=tmp_path, requests=50, moto=moto_server)
    printed = out.getvalue()
    assert result.failed == 0, printed
    assert result.requests > 0 and result.by_service[CANARY] > 0 and result.by_service[STABLE] > 0
    final = result.final
    assert final is not None
    assert (final.phase, final.step) == ("Healthy", len(demo_manifests.STEPS))
    assert final.pod_hash == final.stable_hash
    assert final.annotation == {CANARY: 0, STABLE: 100}
    assert final.alb == {CANARY: 0, STABLE: 100}
    alb_seen = [seen.alb for seen in result.observations]
    assert {CANARY: 20, STABLE: 80} in alb_seen and {CANARY: 50, STABLE: 50} in alb_seen
    annotation_seen = [seen.annotation for seen in result.observations]
    assert {CANARY: 20, STABLE: 80} in annotation_seen and {CANARY: 50, STABLE: 50} in annotation_seen
    paused_steps = {seen.step for seen in result.observations if seen.phase == "Paused"}
    assert paused_steps == {1, 3}
    assert "first deploy Healthy after" in printed
    assert f"Healthy again on {demo_manifests.IMAGES[1]} after" in printed
    assert f"{result.failed} failed" in printed


@pytest.mark.usefixtures("quiet_sandbox", "aws_endpoint")
async def test_out_of_time_says_what_it_waited_for(tmp_path: Path, moto_server: aws.MotoServer) -> None:
    with pytest.raises(demo.DemoError) as raised:
        await demo.run_demo(out=io.StringIO(), within=0.5, log_dir=tmp_path, moto=moto_server)
    first = str(raised.value).splitlines()[0]
    assert first.startswith("timed out after 0.5s waiting for the first deploy to become Healthy; "
                            "last seen: phase ")


@pytest.mark.usefixtures("quiet_sandbox", "aws_endpoint")
async def test_a_dying_controller_ends_the_demo(tmp_path: Path, moto_server: aws.MotoServer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    real = demo.controller_command
    monkeypatch.setattr(demo, "controller_command", lambda state: [*real(state), "--no-such-flag"])
    with pytest.raises(demo.DemoError) as raised:
        await demo.run_demo(out=io.StringIO(), within=60.0, log_dir=tmp_path, moto=moto_server)
    lines = str(raised.value).splitlines()
    assert lines[:2] == ["the controller exited with code 2", "controller log (last lines):"]
    assert lines[-1] == "  alb-rollouts run: error: unrecognized arguments: --no-such-flag"


def test_bad_flag_exits_2() -> None:
    done = subprocess.run([sys.executable, "-m", "sandbox.demo", "--timeout", "soon"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "argument --timeout: invalid float value: 'soon'" in done.stderr


class _NeverSeesTheImage(demo._Demo):
    """A demo whose controller never notices the image change: the Rollout stays Healthy on the old hash."""

    async def observe(self) -> demo.Observation:
        return demo.Observation(step=None, phase="Healthy", message="", pod_hash="old", stable_hash="old",
                                annotation={}, alb={})

    async def probe(self, seed: int) -> dict[str, Any]:
        return {"requests": 1, "failed": 0, "byService": {}}


async def test_a_controller_that_never_sees_the_new_image_times_out() -> None:
    stuck = _NeverSeesTheImage(sandbox=None, kube=None, elbv2=None, session=None,  # type: ignore[arg-type]
                               out=io.StringIO(), requests=1, interval=0.01, within=0.2)
    with pytest.raises(demo.DemoError) as raised:
        await stuck.watch_canary("old", time.monotonic() + 0.2)
    assert str(raised.value) == ("timed out after 0.2s waiting for the controller to see the new image; "
                                 "last seen: phase Healthy, step None")
