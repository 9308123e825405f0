"""`alb-rollouts bench`: a smoke run (10 rollouts: the report is written with every field and the probe saw no
failed request), the reference's call formula, percentiles, and the LBC simulator's weight log."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from sandbox.bench import report
from sandbox.lbc import models, weight_log

FIELDS = {"rollouts", "albs", "aws_calls_per_verified_step", "aws_calls_by_operation",
          "reference_calls_per_verified_step", "update_to_patch_ms", "verify_lag_ms", "total_seconds",
          "floor_seconds", "peak_rss_mb", "rss_per_rollout_kb", "cpu_seconds", "k8s_requests_per_step",
          "probe_failures", "serving_to_patch_ms", "idle_rss_mb", "warm_rss_mb"}


async def test_smoke_run_of_ten_rollouts_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service.cli", "bench", "--rollouts", "10", "--albs", "2", "--out", str(out),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    printed, _ = await asyncio.wait_for(process.communicate(), 300)
    text = printed.decode()
    assert process.returncode == 0, text
    result = json.loads(out.read_text())
    assert FIELDS <= set(result), FIELDS - set(result)
    assert result["rollouts"] == 10 and result["albs"] == 2
    assert result["probe_failures"] == 0 and result["probe_requests"] > 0
    for figure in ("update_to_patch_ms", "verify_lag_ms", "serving_to_patch_ms"):
        assert set(result[figure]) == {"p50", "p99", "max"}
    assert result["serving_to_patch_ms"]["p50"] is not None  # the LBC logged each canary's registration
    assert result["serving_to_patch_ms"]["max"] <= result["update_to_patch_ms"]["max"]
    assert "alb-rollouts bench: 10 rollouts on 2 ALBs" in text and f"report written to {out}" in text
    assert result["idle_rss_mb"] > 0 and 0 < result["warm_rss_mb"] <= result["peak_rss_mb"]


def test_reference_formula_counts_every_rollouts_own_reads() -> None:
    # 200 rollouts on 10 ALBs: 20 per ALB, 40 target groups per ALB; per rollout 1 DescribeLoadBalancers
    # + 1 DescribeTargetGroups + 2 DescribeTags + 1 DescribeListeners + 1 DescribeRules = 6.
    assert report.reference_calls_per_step(200, 10) == 120.0
    # 1000 on 40: 25 per ALB, 50 TGs: 1 + 1 + 3 + 1 + 1 = 7 each.
    assert report.reference_calls_per_step(1000, 40) == 175.0
    assert report.reference_calls_per_step(10, 2, listeners=2) == 5 * (1 + 1 + 1 + 1 + 2)


def test_percentiles_are_nearest_rank_in_milliseconds() -> None:
    assert report.percentiles([]) == {"p50": None, "p99": None, "max": None}
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert report.percentiles(values) == {"p50": 50.0, "p99": 99.0, "max": 100.0}


@pytest.mark.parametrize("weights", [(20, 80), (0, 100)])
def test_weight_log_records_changes_only(weights: tuple[int, int]) -> None:
    now = [100.0]
    log = weight_log.WeightLog(clock=lambda: now[0])

    def stack(canary: int, stable: int) -> models.StackModel:
        forward = models.ForwardModel(((models.TargetRef(resource_id="ns/web-canary:80"), canary),
                                       (models.TargetRef(resource_id="ns/web-stable:80"), stable)))
        rule = models.RuleModel(priority=1, conditions=(), action=forward)
        return models.StackModel(stack_id="g", explicit_group=True, lb_name="lb", members=(),
                                 default_action=forward, rules=(rule,), target_groups=())

    log.record(stack(*weights))
    now[0] = 101.0
    log.record(stack(*weights))  # unchanged: nothing new
    now[0] = 102.0
    log.record(stack(50, 50))
    assert log.changes("ns/web-canary") == {"ns/web-canary:80": [[100.0, weights[0]], [102.0, 50]]}
    assert set(log.changes()) == {"ns/web-canary:80", "ns/web-stable:80"}


def test_serving_log_keeps_the_last_times_per_service_and_filters_by_prefix() -> None:
    now = [10.0]
    log = weight_log.ServingLog(clock=lambda: now[0], limit=2)
    log.record("ns/web-canary")
    now[0] = 11.0
    log.record("ns/web-canary", 0.5)  # healthy half a second after registering
    log.record("other/api-canary")
    assert log.times("ns/") == {"ns/web-canary": [10.0, 11.5]}
    log.record("ns/third")  # over the limit: the oldest key goes
    assert set(log.times()) == {"other/api-canary", "ns/third"}
