"""The benchmark's report: figures from the phases, the reference's call count for the same topology, the
issue's targets next to them, as JSON and as a table.

Room: the benchmark. Pure arithmetic on what the phases measured; no I/O here.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

__all__ = ["percentiles", "reference_calls_per_step", "table", "targets"]

TARGET_HEALTH = "DescribeTargetHealth"


def percentiles(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50, p99 and max in milliseconds (nearest rank); None when nothing was measured."""
    if not seconds:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(seconds)

    def rank(q: float) -> float:
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000, 1)

    return {"p50": rank(0.50), "p99": rank(0.99), "max": round(ordered[-1] * 1000, 1)}


def reference_calls_per_step(rollouts: int, albs: int, listeners: int = 1) -> float:
    """The reference's ELBv2 calls per ALB for one verified step of every rollout, at the least (one
    verification per rollout; it verifies on every reconcile): per rollout ceil(B/300) DescribeLoadBalancers
    + 1 DescribeTargetGroups + ceil(T/20) DescribeTags + 1 DescribeListeners + L DescribeRules, with B the
    ALBs scanned, T the target groups on its ALB (two per rollout), L the listeners (reference §2.2)."""
    per_alb = rollouts / albs
    groups = math.ceil(2 * per_alb)
    per_rollout = math.ceil(albs / 300) + 1 + math.ceil(groups / 20) + 1 + listeners
    return round(per_alb * per_rollout, 1)


def weight_calls(calls: Counter[str]) -> int:
    """ELBv2 calls of weight verification (every read but target health, which is per target group)."""
    return sum(n for op, n in calls.items() if op != TARGET_HEALTH)


def targets(report: dict[str, Any], retry_seconds: float) -> dict[str, dict[str, Any]]:
    """Issue 13's targets, each with the measured value and whether it is met."""
    def check(value: float | None, limit: float) -> dict[str, Any]:
        return {"value": value, "limit": limit, "met": value is not None and value <= limit}

    return {
        "update_to_patch_p99_ms": check(report["update_to_patch_ms"]["p99"], 1000.0),
        "verify_lag_p99_ms": check(report["verify_lag_ms"]["p99"], (retry_seconds + 1.0) * 1000),
        "peak_rss_mb": check(report["peak_rss_mb"], 250.0),
        "rss_per_rollout_kb": check(report["rss_per_rollout_kb"], 100.0),
        "aws_calls_per_verified_step": check(report["aws_calls_per_verified_step"], 1.0),
        "target_health_per_group_per_interval": check(
            report["promotion"]["target_health_per_group_per_interval"], 1.0),
        "probe_failures": check(report["probe_failures"], 0),
    }


def table(report: dict[str, Any]) -> str:
    """The figures a reader compares, one per line, with the target where the issue sets one."""
    def ms(figure: dict[str, Any]) -> str:
        return f"p50 {figure['p50']} / p99 {figure['p99']} / max {figure['max']} ms"

    goal = report["targets"]

    def mark(key: str) -> str:
        return f"  [target <= {goal[key]['limit']}: {'met' if goal[key]['met'] else 'MISSED'}]"

    phases, restart, queue = report["phases"], report["restart"], report["queue"]
    lines = [
        f"alb-rollouts bench: {report['rollouts']} rollouts on {report['albs']} ALBs "
        f"(verify retry {report['settings']['verify_retry_seconds']} s, --aws-max-rps "
        f"{report['settings']['aws_max_rps']}, --qps {report['settings'].get('qps')} --burst "
        f"{report['settings'].get('burst')}); load average {report['load_average']['end']} on "
        f"{report['cpus']} CPUs",
        f"  deploy {phases['deploy']['seconds']} s, step {phases['step']['seconds']} s, promotion "
        f"{phases['promotion']['seconds']} s: total {report['total_seconds']} s (floor, one rollout alone: "
        f"{report['floor_seconds']} s)",
        f"  update -> Ingress patch        {ms(report['update_to_patch_ms'])}"
        + mark("update_to_patch_p99_ms"),
        f"  targets serve -> Ingress patch {ms(report['serving_to_patch_ms'])} (the controller's share)",
        f"  ALB carries weight -> verified {ms(report['verify_lag_ms'])}" + mark("verify_lag_p99_ms"),
        f"  ELBv2 calls per ALB per step   {report['aws_calls_per_verified_step']} (reference at least "
        f"{report['reference_calls_per_verified_step']})" + mark("aws_calls_per_verified_step"),
        f"  ELBv2 calls in the step        {dict(sorted(report['aws_calls_by_operation'].items()))}",
        f"  DescribeTargetHealth per TG per retry interval (promotion) "
        f"{report['promotion']['target_health_per_group_per_interval']}"
        + mark("target_health_per_group_per_interval"),
        f"  Kubernetes requests per rollout step {report['k8s_requests_per_step']}",
        f"  controller RSS idle {report['idle_rss_mb']} MB, after one rollout {report['warm_rss_mb']} MB, "
        f"peak {report['peak_rss_mb']} MB"
        + mark("peak_rss_mb"),
        f"  RSS per additional rollout {report['rss_per_rollout_kb']} KB" + mark("rss_per_rollout_kb"),
        f"  controller CPU {report['cpu_seconds']} s; sandbox and moto {report['sandbox_cpu_seconds']} s",
        f"  reconciles {queue.get('taken', 0):.0f} ({queue.get('retries', 0):.0f} retried): average "
        f"{queue['average_queued_seconds']} s queued, {queue['average_working_seconds']} s working",
        f"  restart: ready in {restart['ready_seconds']} s; then in {restart['window_seconds']} s "
        f"{restart['writes']} writes, {restart['aws_calls']} ELBv2 calls"
        + ("" if restart.get("settle_seconds") is not None else " (restarted while it still had work)"),
        f"  traffic probe {report['probe_requests']} requests, {report['probe_failures']} failed"
        + mark("probe_failures"),
    ]
    return "\n".join(lines)
