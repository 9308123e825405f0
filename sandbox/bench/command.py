"""`alb-rollouts bench --rollouts N --albs A [--out PATH]`: the controller measured on the sandbox at scale.

Starts the sandbox and the controller as two processes of their own, times one rollout alone (the floor),
then N rollouts over A ALBs through a deploy, one canary step, a promotion and a controller restart, with a
traffic probe through their ALBs from the image change to the end. Prints a table and writes the JSON report
(sandbox/bench/report.py names its fields). Exit 0 when it ran to the end, 1 when a phase did not finish.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from sandbox.bench import kube as kubing
from sandbox.bench import phases, processes, report

__all__ = ["configure", "run"]

RESTART_WINDOW_SECONDS = 5.0
"""How long the restarted controller is watched for writes and AWS calls (none expected: nothing changed)."""


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return int(text)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rollouts", type=_positive, default=200, help="how many rollouts (default 200)")
    parser.add_argument("--albs", type=_positive, default=10, help="over how many ALBs (default 10)")
    parser.add_argument("--out", type=Path, default=Path("build/bench.json"),
                        help="where to write the JSON report (default build/bench.json)")
    parser.add_argument("--verify-retry", default="1s",
                        help="the controller's ROLLOUT_VERIFY_RETRY_INTERVAL (default 1s)")
    parser.add_argument("--aws-max-rps", type=float, default=50.0,
                        help="the controller's --aws-max-rps (default 50: a step needs one "
                             "DescribeTargetHealth per canary target group)")
    parser.add_argument("--qps", type=float, default=1000.0,
                        help="the controller's --qps (default 1000: the reference's 40 allows a step of "
                             "about 15 requests per rollout to 3 rollouts a second)")
    parser.add_argument("--burst", type=_positive, default=2000,
                        help="the controller's --burst (default 2000)")
    parser.add_argument("--pod-ready-seconds", type=float, default=0.5,
                        help="how long the sandbox's pods take to become Ready (default 0.5)")
    parser.add_argument("--lbc-lag-seconds", type=float, default=0.2,
                        help="how long the sandbox's LBC takes to apply a change to AWS (default 0.2)")
    parser.add_argument("--controller-args", default="",
                        help="more arguments for `alb-rollouts run`, e.g. '--rollout-threads 30'")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs) afterwards")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _floor(kube: kubing.Kube, session: aiohttp.ClientSession, control: str) -> float:
    """The same phases for one rollout alone: the part of the total no controller can take away."""
    fleet = phases.Fleet(kube, session, control, "bench-floor", ["floor"], albs=1, within=120.0)
    await fleet.watch()
    try:
        return sum([(await fleet.deploy()).seconds, (await fleet.step()).seconds,
                    (await fleet.promote()).seconds])
    finally:
        await fleet.close()


async def _explain(session: aiohttp.ClientSession, controller: processes.Controller, fleet: phases.Fleet,
                   workdir: Path, names: list[str], file: str) -> None:
    """Write what the controller thinks of `names` (its debug API) into the work directory."""
    views = {}
    for name in names:
        async with session.get(f"{controller.debug}/rollouts/{fleet.namespace}/{name}") as reply:
            views[name] = await reply.json(content_type=None)
    (workdir / file).write_text(json.dumps(views, indent=2) + "\n")


def _said(what: str, result: phases.PhaseResult) -> phases.PhaseResult:
    print(f"{what}: {result.seconds:.1f} s", flush=True)
    return result


def _phase(result: phases.PhaseResult, rollouts: int) -> dict[str, Any]:
    return {"seconds": round(result.seconds, 2), "aws_calls": dict(result.counters.aws),
            "k8s_requests": dict(result.counters.api), "k8s_writes": result.counters.writes,
            "k8s_requests_per_rollout": round(sum(result.counters.api.values()) / rollouts, 2)}


async def _bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    load_start = os.getloadavg()
    retry = _seconds(args.verify_retry)
    sandbox, state = await processes.start_sandbox(workdir, pod_ready_seconds=args.pod_ready_seconds,
                                                   lbc_lag_seconds=args.lbc_lag_seconds)
    controllers: list[processes.Controller] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            kube = kubing.client(session, state["apiServer"])
            control = state["control"]

            async def controller() -> processes.Controller:
                started = await processes.start_controller(
                    workdir, state, retry_interval=args.verify_retry, max_rps=args.aws_max_rps,
                    extra=("--qps", str(args.qps), "--burst", str(args.burst),
                           *shlex.split(args.controller_args)),
                    healthz_port=_free_port(), metrics_port=_free_port(), debug_port=_free_port(),
                    session=session)
                controllers.append(started)
                return started

            first = await controller()
            idle = first.stats()
            floor = await _floor(kube, session, control)
            # Per rollout is counted from here: the first rollout's warm-up (lazy imports, botocore's parsers,
            # connection buffers) is paid once per process, not per rollout.
            warm = first.stats()
            print(f"floor (one rollout alone): {floor:.1f} s; now {args.rollouts} rollouts", flush=True)
            names = list(phases.names(args.rollouts))
            fleet = phases.Fleet(kube, session, control, "bench", names, albs=args.albs,
                                 within=max(300.0, args.rollouts * 0.9))
            await fleet.watch()
            probe = phases.Probe(session, control, "bench", names)
            try:
                deploy = _said("deploy (every rollout Healthy, every ALB serving)", await fleet.deploy())
                probe.start()
                step = _said("step (every rollout paused at step 1, the weight verified)", await fleet.step())
                await _explain(session, controllers[-1], fleet, workdir, fleet.slowest(20, 3), "slowest.json")
                promotion = _said("promotion (every rollout Healthy on the new image)", await fleet.promote())
            except TimeoutError as stuck:
                await _explain(session, controllers[-1], fleet, workdir, fleet.tracker.unfinished()[:5],
                               "stuck.json")
                raise stuck
            finally:
                await probe.stop()
            settle = await fleet.quiet(within=max(120.0, args.rollouts * 0.3))
            loaded = first.stats()
            queue = await first.queue(session)
            sandbox_cpu = processes.tree_cpu_seconds(sandbox.pid)
            before_restart = await fleet.counters()
            await processes.stop(first.process)
            stopped = time.time()
            second = await controller()
            ready = time.time() - stopped
            await asyncio.sleep(RESTART_WINDOW_SECONDS)  # a measured window, not a wait for a condition
            restart = (await fleet.counters()).minus(before_restart)
            last = second.stats()
            await fleet.close()
    finally:
        for started in controllers:
            await processes.stop(started.process)
        await processes.stop(sandbox)
    n, albs = args.rollouts, args.albs
    groups = 2 * n
    health_calls = promotion.counters.aws.get(report.TARGET_HEALTH, 0)
    intervals = max(1.0, promotion.seconds / retry)
    result: dict[str, Any] = {
        "rollouts": n,
        "albs": albs,
        "aws_calls_per_verified_step": round(report.weight_calls(step.counters.aws) / albs, 2),
        "aws_calls_by_operation": dict(step.counters.aws),
        "reference_calls_per_verified_step": report.reference_calls_per_step(n, albs),
        "update_to_patch_ms": report.percentiles(fleet.update_to_patch(20)),
        "verify_lag_ms": report.percentiles(fleet.verify_lag(step.counters, 20)),
        "serving_to_patch_ms": report.percentiles(fleet.serving_to_patch(step.counters, 20)),
        "total_seconds": round(deploy.seconds + step.seconds + promotion.seconds, 2),
        "floor_seconds": round(floor, 2),
        "peak_rss_mb": round(max(loaded.peak_rss_kb, last.peak_rss_kb) / 1024, 1),
        "idle_rss_mb": round(idle.rss_kb / 1024, 1),
        "warm_rss_mb": round(warm.rss_kb / 1024, 1),
        "rss_per_rollout_kb": round((loaded.rss_kb - warm.rss_kb) / n, 1),
        "cpu_seconds": round(loaded.cpu_seconds + last.cpu_seconds, 1),
        "k8s_requests_per_step": round(sum(step.counters.api.values()) / n, 2),
        "sandbox_cpu_seconds": round(sandbox_cpu, 1),
        "queue": {**queue, "average_queued_seconds": round(queue.get("queued_seconds", 0.0)
                                                            / max(1.0, queue.get("taken", 0.0)), 3),
                  "average_working_seconds": round(queue.get("working_seconds", 0.0)
                                                   / max(1.0, queue.get("taken", 0.0)), 3)},
        "probe_failures": probe.failed,
        "probe_requests": probe.requests,
        "probe_failure_samples": probe.failures,
        "promotion": {"target_health_calls": health_calls, "target_groups": groups,
                      "target_health_per_group_per_interval": round(health_calls / groups / intervals, 3)},
        "restart": {"settle_seconds": round(settle, 2) if settle is not None else None,
                    "ready_seconds": round(ready, 2),
                    "window_seconds": RESTART_WINDOW_SECONDS,
                    "writes": restart.writes, "aws_calls": sum(restart.aws.values()),
                    "k8s_requests": dict(restart.api), "aws_calls_by_operation": dict(restart.aws)},
        "phases": {"deploy": _phase(deploy, n), "step": _phase(step, n), "promotion": _phase(promotion, n)},
        "settings": {"verify_retry_seconds": retry, "aws_max_rps": args.aws_max_rps,
                     "qps": args.qps, "burst": args.burst,
                     "controller_args": args.controller_args,
                     "pod_ready_seconds": args.pod_ready_seconds, "lbc_lag_seconds": args.lbc_lag_seconds},
        "load_average": {"start": [round(x, 2) for x in load_start],
                         "end": [round(x, 2) for x in os.getloadavg()]},
        "cpus": os.cpu_count(),
    }
    result["targets"] = report.targets(result, retry)
    return result


def _seconds(text: str) -> float:
    value = text.strip()
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0}
    for suffix in ("ms", "s", "m"):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * scale[suffix]
    return float(value)


def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="alb-rollouts-bench-"))
    try:
        try:
            result = asyncio.run(_bench(args, workdir))
        except (TimeoutError, RuntimeError) as err:
            print(f"alb-rollouts bench: {err} (logs in {workdir})", file=sys.stderr)
            args.keep = True
            return 1
        print(report.table(result))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"report written to {args.out}")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
