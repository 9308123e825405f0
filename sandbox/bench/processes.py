"""The benchmark's two other processes: the sandbox and the controller, each with its own CPU and memory.

Room: the benchmark. Starts `alb-rollouts sandbox` and `alb-rollouts run` as children of this process (the
same interpreter), waits until each is ready, and reads a process's CPU time and memory from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from sandbox.running import CONTROLLER_ENV

__all__ = ["Controller", "ProcessStats", "start_controller", "start_sandbox", "stop", "tree_cpu_seconds"]

_CLI = (sys.executable, "-m", "service.cli")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class ProcessStats:
    """One reading of /proc/<pid>: resident memory now and at its peak (KiB), CPU seconds (user + system)."""

    rss_kb: int
    peak_rss_kb: int
    cpu_seconds: float

    @classmethod
    def read(cls, pid: int) -> ProcessStats:
        fields = {}
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        cpu = (int(stat[11]) + int(stat[12])) / _TICK  # utime, stime (fields 14 and 15 of proc(5))
        return cls(rss_kb=int(fields["VmRSS"].split()[0]), peak_rss_kb=int(fields["VmHWM"].split()[0]),
                   cpu_seconds=cpu)


async def _poll(what: str, deadline: float, check: Any) -> Any:
    """Poll `check()` (async, returns a value or None) every 0.1 s until it answers or the deadline passes."""
    while time.monotonic() < deadline:
        found = await check()
        if found is not None:
            return found
        await asyncio.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


async def start_sandbox(workdir: Path, *, pod_ready_seconds: float, lbc_lag_seconds: float
                        ) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    """`alb-rollouts sandbox` in its own process; returns it and its state file's JSON once ready."""
    state_file = workdir / "sandbox.json"
    log = (workdir / "sandbox.log").open("ab")
    process = await asyncio.create_subprocess_exec(
        *_CLI, "sandbox", "--state-file", str(state_file), "--pod-ready-seconds", str(pod_ready_seconds),
        "--lbc-lag-seconds", str(lbc_lag_seconds), stdout=log, stderr=log, start_new_session=True)
    log.close()

    async def ready() -> dict[str, Any] | None:
        if process.returncode is not None:
            raise RuntimeError(f"the sandbox exited with {process.returncode}; see {workdir / 'sandbox.log'}")
        if not state_file.exists():
            return None
        state: dict[str, Any] = json.loads(state_file.read_text())
        return state

    return process, await _poll("the sandbox to start", time.monotonic() + 120, ready)


@dataclass(slots=True)
class Controller:
    """One `alb-rollouts run` process and where its /readyz answers."""

    process: asyncio.subprocess.Process
    healthz: str
    metrics: str
    debug: str
    """The controller's debug API (`/rollouts/<ns>/<name>`: what it thinks of a rollout)."""

    @property
    def pid(self) -> int:
        return self.process.pid

    def stats(self) -> ProcessStats:
        return ProcessStats.read(self.pid)

    async def queue(self, session: aiohttp.ClientSession) -> dict[str, float]:
        """The Rollouts queue's totals from /metrics: items added, retries, seconds queued and working."""
        async with session.get(self.metrics) as reply:
            text = await reply.text()
        wanted = {'workqueue_adds_total{name="Rollouts"}': "adds",
                  'workqueue_retries_total{name="Rollouts"}': "retries",
                  'workqueue_queue_duration_seconds_sum{name="Rollouts"}': "queued_seconds",
                  'workqueue_queue_duration_seconds_count{name="Rollouts"}': "taken",
                  'workqueue_work_duration_seconds_sum{name="Rollouts"}': "working_seconds"}
        found = {}
        for line in text.splitlines():
            key, _, value = line.rpartition(" ")
            if key in wanted:
                found[wanted[key]] = float(value)
        return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its children (the sandbox and its moto), from /proc."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rpartition(")")[2].split()
            if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
                total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


async def start_controller(workdir: Path, state: dict[str, Any], *, retry_interval: str, max_rps: float,
                           extra: tuple[str, ...] = (),
                           healthz_port: int, metrics_port: int, debug_port: int,
                           session: aiohttp.ClientSession) -> Controller:
    """`alb-rollouts run` against the sandbox (verifying against its ELBv2), ready once /readyz says 200."""
    env = {**os.environ, **CONTROLLER_ENV, "ROLLOUT_VERIFY_RETRY_INTERVAL": retry_interval,
           "AWS_EC2_METADATA_DISABLED": "true"}
    log = (workdir / "controller.log").open("ab")
    process = await asyncio.create_subprocess_exec(
        *_CLI, "run", "--kubeconfig", state["kubeconfig"], "--aws-verify-target-group",
        "--aws-endpoint-url", state["awsEndpointUrl"], "--aws-region", state["awsRegion"],
        "--aws-max-rps", str(max_rps), "--leader-elect=false", "--healthzPort", str(healthz_port),
        "--metricsPort", str(metrics_port), "--debug-address", f"127.0.0.1:{debug_port}",
        "--loglevel", "warn", "--logformat", "json", *extra,
        env=env, stdout=log, stderr=log, start_new_session=True)
    log.close()
    url = f"http://127.0.0.1:{healthz_port}/readyz"

    async def ready() -> bool | None:
        if process.returncode is not None:
            raise RuntimeError(f"the controller exited with {process.returncode}; "
                               f"see {workdir / 'controller.log'}")
        try:
            async with session.get(url) as reply:
                return True if reply.status == 200 else None
        except aiohttp.ClientError:
            return None

    await _poll("the controller to be ready", time.monotonic() + 120, ready)
    return Controller(process, url, f"http://127.0.0.1:{metrics_port}/metrics", f"http://127.0.0.1:{debug_port}")


async def stop(process: asyncio.subprocess.Process, *, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; then whatever it left in its process group (its moto)."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            process.kill()
            await process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # started with start_new_session: the group is its own
