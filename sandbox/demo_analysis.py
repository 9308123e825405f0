"""`make demo SCENARIO=analysis` (`python -m sandbox.demo --scenario analysis`): a bad canary aborted by
ALB-native analysis on the sandbox, told as a timeline with each measurement as it arrives.

The same flow as the canary demo (sandbox.demo): it applies the demo namespace (Services, an `alb` Ingress),
an AnalysisTemplate with the built-in `alb-canary-health`'s `alb` metrics and conditions but measured every
5s over the last 10s (the built-in measures every minute over 5 minutes, too slow to watch), and a Rollout
(20% → pause 60s → 50% → pause 60s) whose background analysis uses it from step 1, its args taken from
`status.alb`. It starts `alb-rollouts run --aws-verify-target-group`, waits for the first deploy, makes
every traffic probe record the ALB's CloudWatch metrics, changes the image and, once the new ReplicaSet's
pod-template hash is known, makes its pods answer 30% of their requests with 5xx. Probing all along, it
prints the step, phase, canary weight on the ALB, the AnalysisRun's phase and the probe's 5xx by Service
at each change, and each measurement (metric, phase, value) as it lands. It exits 0 once the Rollout is
aborted (Degraded, canary weight 0 on the ALB) by the failed run, 1 otherwise. It never imports the product.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from sandbox import aws, demo, running
from sandbox.demo_manifests import (
    ACTION_KEY,
    ANALYSIS_INTERVAL,
    ANALYSIS_RUNS_PATH,
    ANALYSIS_STEPS,
    ANALYSIS_TEMPLATE,
    ANALYSIS_WINDOW,
    CANARY,
    DEMO_NAMESPACE,
    IMAGES,
    INGRESS,
    INGRESSES_PATH,
    ROLLOUT,
    ROLLOUTS_PATH,
    STABLE,
    analysis_objects,
    template,
)

__all__ = ["FAILING_SHARE", "AnalysisObservation", "AnalysisResult", "Measurement", "run_analysis",
           "value_text"]

FAILING_SHARE = 0.3
"""The share of the bad canary's requests its pods answer with 5xx."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """One finished measurement of an AnalysisRun's metric."""

    run: str
    metric: str
    phase: str
    value: str
    message: str
    started_at: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.run, self.metric, self.started_at)


@dataclass(frozen=True, slots=True)
class AnalysisObservation:
    """What the demo saw at one moment; `run` is the Rollout's background AnalysisRun ('' before one)."""

    step: int | None
    phase: str
    message: str
    abort: bool
    pod_hash: str
    stable_hash: str
    annotation: dict[str, int]
    alb: dict[str, int]
    run: str
    run_phase: str
    run_message: str
    measurements: tuple[Measurement, ...]

    def story(self) -> tuple[Any, ...]:
        """What makes a new timeline line (not the probe's counts, which change with every probe)."""
        return (self.step, self.phase, self.message, self.abort, tuple(sorted(self.alb.items())),
                self.run, self.run_phase)

    def aborted(self) -> bool:
        return self.abort and self.phase == "Degraded" and self.alb.get(CANARY) == 0


@dataclass(slots=True)
class AnalysisResult:
    """How it went: the lines printed, what the probe saw, the measurements, the time to the abort."""

    seconds: float = 0.0
    bad_hash: str = ""
    requests: int = 0
    failed: int = 0
    target_5xx: dict[str, int] = field(default_factory=dict)
    by_service: dict[str, int] = field(default_factory=dict)
    timeline: list[str] = field(default_factory=list)
    observations: list[AnalysisObservation] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    final: AnalysisObservation | None = None


def value_text(value: str) -> str:
    """An `alb` measurement's value as a reader wants it; any other value as it is."""
    try:
        result = json.loads(value)  # Python's json reads the NaN Go's float format writes
        sides = [(side, result[side]) for side in ("canary", "stable")]
        texts = [f"{side} {int(got['errors'])}/{int(got['requests'])} 5xx ({float(got['errorRate']):.1%})"
                 for side, got in sides]
        p99s = [float(got["p99"]) for _, got in sides]
    except (ValueError, KeyError, TypeError):
        return value
    latency = ("no data" if any(math.isnan(p99) for p99 in p99s)
               else f"canary {p99s[0] * 1000:.0f} ms, stable {p99s[1] * 1000:.0f} ms")
    return f"{', '.join(texts)}, p99 {latency}"


def _measurements(runs: list[dict[str, Any]]) -> tuple[Measurement, ...]:
    found = []
    for run in runs:
        name = str(run["metadata"]["name"])
        for metric in (run.get("status") or {}).get("metricResults") or []:
            for taken in metric.get("measurements") or []:
                if taken.get("finishedAt") and taken.get("phase") not in (None, "Running", "Pending"):
                    found.append(Measurement(run=name, metric=str(metric.get("name")),
                                             phase=str(taken["phase"]), value=str(taken.get("value") or ""),
                                             message=str(taken.get("message") or ""),
                                             started_at=str(taken.get("startedAt") or "")))
    return tuple(found)


@dataclass(slots=True)
class _AnalysisDemo:
    kube: demo.Kube
    elbv2: Any
    session: aiohttp.ClientSession
    control: str
    out: TextIO
    requests: int
    interval: float
    within: float
    controller: Any = None
    tg_names: dict[str, str] = field(default_factory=dict)

    def say(self, line: str = "") -> None:
        print(line, file=self.out, flush=True)

    def check_controller(self) -> None:
        if self.controller is not None and self.controller.returncode is not None:
            raise demo.DemoError(f"the controller exited with code {self.controller.returncode}")

    async def observe(self) -> AnalysisObservation:
        rollout = await self.kube.get(f"{ROLLOUTS_PATH}/{ROLLOUT}")
        ingress = await self.kube.get(f"{INGRESSES_PATH}/{INGRESS}")
        runs = sorted((await self.kube.get(ANALYSIS_RUNS_PATH)).get("items") or [],
                      key=lambda run: str(run["metadata"].get("creationTimestamp") or ""))
        status = rollout.get("status") or {}
        background = ((status.get("canary") or {}).get("currentBackgroundAnalysisRunStatus") or {})
        # The Rollout's pointer to its run, else the newest run (the pointer may lag the run's creation).
        name = str(background.get("name") or (runs[-1]["metadata"]["name"] if runs else ""))
        run: dict[str, Any] = next((r for r in runs if r["metadata"]["name"] == name), {})
        annotations = (ingress.get("metadata") or {}).get("annotations") or {}
        entries = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        hostname = str(entries[0].get("hostname") or "").lower() if entries else ""
        step = status.get("currentStepIndex")
        return AnalysisObservation(
            step=step if isinstance(step, int) else None, phase=str(status.get("phase") or "-"),
            message=str(status.get("message") or ""), abort=status.get("abort") is True,
            pod_hash=str(status.get("currentPodHash") or ""), stable_hash=str(status.get("stableRS") or ""),
            annotation=demo._weights_of_action(annotations.get(ACTION_KEY)),
            alb=await demo._alb_weights(self.elbv2, hostname, self.tg_names),
            run=name, run_phase=str((run.get("status") or {}).get("phase") or ("Pending" if run else "-")),
            run_message=str((run.get("status") or {}).get("message") or ""),
            measurements=_measurements(runs))

    async def _control(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        async with self.session.request(method, self.control + path, json=body) as reply:
            answer: dict[str, Any] = await reply.json()
            if reply.status != 200:
                raise demo.DemoError(f"{method} {path}: {answer.get('error', answer)}")
            return answer

    async def knobs(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._control("POST", "/traffic", body)

    async def probe(self, seed: int) -> dict[str, Any]:
        return await self._control(
            "GET", f"/traffic?requests={self.requests}&ingress={DEMO_NAMESPACE}/{INGRESS}&seed={seed}")

    def last_seen(self, seen: AnalysisObservation) -> str:
        return (f"phase {seen.phase}, step {seen.step}, AnalysisRun {seen.run or '-'} {seen.run_phase}, "
                f"message {seen.message!r}")

    async def wait_for(self, what: str, done: Callable[[AnalysisObservation], bool], deadline: float
                       ) -> AnalysisObservation:
        while True:
            self.check_controller()
            seen = await self.observe()
            if done(seen):
                return seen
            if time.monotonic() > deadline:
                raise demo.DemoError(f"timed out after {self.within:g}s waiting for {what}; last seen: "
                                     + self.last_seen(seen))
            await asyncio.sleep(self.interval)

    async def watch(self, stable: str, deadline: float) -> AnalysisResult:
        result = AnalysisResult()
        started = time.monotonic()
        header = (f"{'time':>7}  {'step':<5} {'phase':<12} {'ALB canary':<11} {'AnalysisRun':<13} "
                  f"traffic probe ({self.requests} requests each): 5xx/served by Service")
        self.say(header)
        result.timeline.append(header)
        last: tuple[Any, ...] | None = None
        seen_keys: set[tuple[str, str, str]] = set()
        numbers: dict[tuple[str, str], int] = {}
        seed = 0
        while True:
            self.check_controller()
            seen = await self.observe()
            if not result.bad_hash and seen.pod_hash not in ("", stable):
                result.bad_hash = seen.pod_hash
                await self.knobs({"failingHashes": {seen.pod_hash: FAILING_SHARE}})
                self.emit(result, f"{time.monotonic() - started:>6.1f}s  the new ReplicaSet {ROLLOUT}-"
                                  f"{seen.pod_hash} is a bad canary: its pods answer {FAILING_SHARE:.0%} of "
                                  "their requests with 5xx")
            traffic = await self.probe(seed)
            seed += 1
            self.count(result, traffic)
            if not result.bad_hash:
                if time.monotonic() > deadline:
                    raise demo.DemoError(f"timed out after {self.within:g}s waiting for the controller to "
                                         "see the new image; last seen: " + self.last_seen(seen))
                await asyncio.sleep(self.interval)  # the controller has not seen the new image yet
                continue
            now = f"{time.monotonic() - started:>6.1f}s"
            for taken in seen.measurements:  # before the line they may have caused
                if taken.key not in seen_keys:
                    seen_keys.add(taken.key)
                    number = numbers[taken.run, taken.metric] = numbers.get((taken.run, taken.metric), 0) + 1
                    result.measurements.append(taken)
                    self.emit(result, f"{now}    measurement {taken.metric} #{number}: {taken.phase:<11}"
                                      + (value_text(taken.value) or taken.message))
            if seen.story() != last:
                last = seen.story()
                step = "-" if seen.step is None else f"{seen.step}/{len(ANALYSIS_STEPS)}"
                weight = str(seen.alb.get(CANARY, "-"))
                errors = traffic.get("target5xxByService") or {}
                served = " ".join(f"{name.removeprefix('web-')} {errors.get(name, 0)}/{count}"
                                  for name, count in sorted(traffic["byService"].items()))
                line = f"{now}  {step:<5} {seen.phase:<12} {weight:<11} {seen.run_phase:<13} {served}"
                if seen.message:
                    line += f"  ({seen.message})"
                self.emit(result, line)
                result.observations.append(seen)
            if seen.aborted():
                if seen.run_phase not in ("Failed", "Error"):
                    raise demo.DemoError("the Rollout was aborted, but not by a failed analysis: "
                                         + self.last_seen(seen))
                result.seconds = time.monotonic() - started
                result.final = seen
                return result
            if seen.phase == "Healthy" and seen.pod_hash == seen.stable_hash == result.bad_hash != "":
                raise demo.DemoError("the bad canary was promoted: the analysis did not stop it; "
                                     + self.last_seen(seen))
            if time.monotonic() > deadline:
                raise demo.DemoError(f"timed out after {self.within:g}s waiting for the analysis to abort "
                                     "the canary; last seen: " + self.last_seen(seen))
            await asyncio.sleep(self.interval)

    def emit(self, result: AnalysisResult, line: str) -> None:
        self.say(line)
        result.timeline.append(line)

    @staticmethod
    def count(result: AnalysisResult, traffic: dict[str, Any]) -> None:
        result.requests += int(traffic["requests"])
        result.failed += int(traffic["failed"])
        for name, count in traffic["byService"].items():
            result.by_service[name] = result.by_service.get(name, 0) + int(count)
        for name, count in (traffic.get("target5xxByService") or {}).items():
            result.target_5xx[name] = result.target_5xx.get(name, 0) + int(count)


async def run_analysis(*, out: TextIO = sys.stdout, within: float = 120.0, requests: int = 100,
                       interval: float = 0.5, pod_ready_seconds: float = 1.0, log_dir: Path | None = None,
                       moto: aws.MotoServer | None = None) -> AnalysisResult:
    """The whole analysis demo within `within` seconds; raises DemoError (with the controller's log)."""
    deadline = time.monotonic() + within
    with contextlib.ExitStack() as files:
        folder = log_dir or Path(files.enter_context(tempfile.TemporaryDirectory(prefix="alb-rollouts-demo")))
        log_path = folder / "controller.log"
        try:
            return await _run(out=out, within=within, requests=requests, interval=interval,
                              pod_ready_seconds=pod_ready_seconds, log_path=log_path, moto=moto,
                              deadline=deadline)
        except demo.DemoError as exc:
            tail = log_path.read_text().splitlines()[-25:] if log_path.exists() else []
            raise demo.DemoError("\n".join([str(exc), *(["controller log (last lines):"] if tail else []),
                                            *(f"  {line}" for line in tail)])) from None


async def _run(*, out: TextIO, within: float, requests: int, interval: float, pod_ready_seconds: float,
               log_path: Path, moto: aws.MotoServer | None, deadline: float) -> AnalysisResult:
    print("starting the sandbox (Kubernetes API, cluster, moto ELBv2 and CloudWatch, LBC simulator) ...",
          file=out, flush=True)
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(running.Sandbox(pod_ready_seconds=pod_ready_seconds,
                                                                  moto=moto))
        state = sandbox.state
        session = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)))
        elbv2 = await stack.enter_async_context(aws.client("elbv2", state.aws_endpoint_url))
        ad = _AnalysisDemo(kube=demo.kube_client(session, state.api_server), elbv2=elbv2, session=session,
                           control=state.control, out=out, requests=requests, interval=interval,
                           within=within)
        ad.say(f"  Kubernetes API {state.api_server}   AWS (moto) {state.aws_endpoint_url}")
        for path, body in analysis_objects():
            await ad.kube.create(path, body)
        ad.say(f"applied namespace {DEMO_NAMESPACE}: Services {STABLE} and {CANARY}, Ingress {INGRESS} "
               f"(class alb), AnalysisTemplate {ANALYSIS_TEMPLATE}, Rollout {ROLLOUT} (image {IMAGES[0]}; "
               "setWeight 20, pause 60s, setWeight 50, pause 60s; background analysis from step 1)")
        ad.say(f"  {ANALYSIS_TEMPLATE} has the built-in alb-canary-health's alb metrics and conditions "
               f"(canary 5xx ratio <= stable's + 0.01; p99) but measures every {ANALYSIS_INTERVAL} over the "
               f"last {ANALYSIS_WINDOW} instead of every 1m over 5m, so the demo needn't wait minutes; "
               "a metric fails the run at its second failed measurement (failureLimit 1)")
        ad.say(f"starting the controller: ROLLOUT_VERIFY_RETRY_INTERVAL={demo.VERIFY_RETRY_INTERVAL} "
               + " ".join(demo.controller_command(state)))
        ad.controller = await stack.enter_async_context(demo._controller(state, log_path))
        began = time.monotonic()
        first = await ad.wait_for(
            "the first deploy to become Healthy",
            lambda seen: seen.phase == "Healthy" and bool(seen.stable_hash) and seen.alb.get(STABLE) == 100,
            deadline)
        ad.say(f"first deploy Healthy after {time.monotonic() - began:.1f}s (ReplicaSet {ROLLOUT}-"
               f"{first.stable_hash}; ALB: {demo._weights_text(first.alb)})")
        await ad.knobs({"recordMetrics": True})
        ad.say("traffic: every probe now records RequestCount and HTTPCode_Target_5XX_Count per target group "
               "into CloudWatch (moto), as the ALB publishes them")
        ad.say(f"changing the image {IMAGES[0]} -> {IMAGES[1]}: the canary starts")
        await ad.kube.merge_patch(f"{ROLLOUTS_PATH}/{ROLLOUT}", {"spec": {"template": template(IMAGES[1])}})
        result = await ad.watch(first.stable_hash, deadline)
        final = result.final
        assert final is not None  # watch returns only once it saw the abort
        failed = sum(1 for taken in result.measurements if taken.phase == "Failed")
        served = ", ".join(f"{name} {result.target_5xx.get(name, 0)} 5xx of {count}"
                           for name, count in sorted(result.by_service.items()))
        ad.say(f"bad canary aborted by analysis after {result.seconds:.1f}s: AnalysisRun {final.run} "
               f"{final.run_phase} ({final.run_message}); {len(result.measurements)} measurements, "
               f"{failed} failed; the traffic probe sent {result.requests} requests ({served})")
        ad.say("stopping the controller and the sandbox")
        return result
