"""`python -m sandbox.demo` (`make demo`): one canary from start to finish on the sandbox, told as a timeline.

It starts a sandbox, applies a demo namespace (two Services, an `alb` Ingress, a Rollout whose canary goes
20% → pause 5s → 50% → pause 5s → 100%), starts `alb-rollouts run` as a separate process against it (with
--aws-verify-target-group), waits for the first deploy, changes the image and prints what a user would watch:
the step, the phase, the weights in the Ingress annotation, the weights the ALB carries in (moto's) ELBv2, and
what a traffic probe through the ALB saw. It exits 0 once the Rollout is Healthy on the new image with no
failed request, 1 otherwise (timeout, a failed request, the controller dying), saying why. `--scenario
bluegreen` runs sandbox/demo_bluegreen.py's blue-green update instead, in the same way, and `--scenario
analysis` sandbox/demo_analysis.py's bad canary aborted by ALB-native analysis.
Like all of `sandbox/`, it talks to the product only over the wire and never imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from sandbox import aws, running
from sandbox.demo_manifests import (
    ACTION_KEY,
    CANARY,
    DEMO_NAMESPACE,
    IMAGES,
    INGRESS,
    INGRESSES_PATH,
    ROLLOUT,
    ROLLOUTS_PATH,
    STABLE,
    STEPS,
    objects,
    template,
)
from sandbox.kube_http import Kube

__all__ = [
    "DEMO_NAMESPACE",
    "SCENARIOS",
    "DemoError",
    "DemoResult",
    "Kube",
    "Observation",
    "controller_command",
    "kube_client",
    "main",
    "objects",
    "run_demo",
]

_AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true"}
SCENARIOS = ("canary", "bluegreen", "analysis")
VERIFY_RETRY_INTERVAL = "2s"
"""ROLLOUT_VERIFY_RETRY_INTERVAL for the demo's controller: an unverified step is looked at again after 2 s
(default 10 s), so the timeline is not mostly waiting for a retry."""


class DemoError(Exception):
    """The demo could not finish; the message says what it was waiting for and what it last saw."""


# ---- reading the world over the wire ----


def kube_client(session: aiohttp.ClientSession, server: str) -> Kube:
    """The demos' Kubernetes client: an HTTP error is a DemoError."""
    return Kube(session, server, agent="alb-rollouts-demo", error=DemoError)


def _weights_of_action(text: str | None) -> dict[str, int]:
    if not text:
        return {}
    try:
        groups = json.loads(text)["ForwardConfig"]["TargetGroups"]
        return {str(g["ServiceName"]): int(g["Weight"]) for g in groups}
    except (ValueError, KeyError, TypeError):
        return {"unreadable": -1}


async def _alb_weights(elbv2: Any, hostname: str, tg_names: dict[str, str]) -> dict[str, int]:
    """Service → weight of the forward action the ALB's "/" rule carries in ELBv2 (moto)."""
    if not hostname:
        return {}
    balancers = await elbv2.describe_load_balancers()
    arns = [lb["LoadBalancerArn"] for lb in balancers["LoadBalancers"] if lb["DNSName"].lower() == hostname]
    if not arns:
        return {}
    listeners = await elbv2.describe_listeners(LoadBalancerArn=arns[0])
    for listener in listeners["Listeners"]:
        rules = await elbv2.describe_rules(ListenerArn=listener["ListenerArn"])
        for rule in sorted(rules["Rules"], key=lambda r: (r.get("IsDefault", False), str(r.get("Priority")))):
            for action in rule.get("Actions") or []:
                groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
                if action.get("Type") == "forward" and groups:
                    missing = [g["TargetGroupArn"] for g in groups if g["TargetGroupArn"] not in tg_names]
                    if missing:
                        tg_names.update(await _service_names(elbv2, missing))
                    return {tg_names.get(g["TargetGroupArn"], "?"): int(g.get("Weight", 1)) for g in groups}
    return {}


async def _service_names(elbv2: Any, arns: list[str]) -> dict[str, str]:
    described = await elbv2.describe_tags(ResourceArns=arns)
    names = {}
    for item in described["TagDescriptions"]:
        tags = {tag["Key"]: tag["Value"] for tag in item.get("Tags") or []}
        # ingress.k8s.aws/resource = <ns>/<ingress>-<service>:<port>
        resource = tags.get("ingress.k8s.aws/resource", "")
        prefix = f"{DEMO_NAMESPACE}/{INGRESS}-"
        names[item["ResourceArn"]] = resource.removeprefix(prefix).rpartition(":")[0] or item["ResourceArn"]
    return names


@dataclass(frozen=True, slots=True)
class Observation:
    """What the demo saw at one moment."""

    step: int | None
    phase: str
    message: str
    pod_hash: str
    stable_hash: str
    annotation: dict[str, int]
    alb: dict[str, int]

    def story(self) -> tuple[Any, ...]:
        """What makes a new timeline line (the traffic counts change with every probe, so not those)."""
        return (self.step, self.phase, self.message, tuple(sorted(self.annotation.items())),
                tuple(sorted(self.alb.items())))


@dataclass(slots=True)
class DemoResult:
    """How the canary went: the lines printed, the traffic totals and the time it took."""

    seconds: float = 0.0
    requests: int = 0
    failed: int = 0
    by_service: dict[str, int] = field(default_factory=dict)
    timeline: list[str] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    final: Observation | None = None


def _weights_text(weights: dict[str, int]) -> str:
    if not weights:
        return "-"
    order = sorted(weights, key=lambda name: (name != CANARY, name))
    return " ".join(f"{name.removeprefix('web-')}={weights[name]}" for name in order)


# ---- the run ----


@dataclass(slots=True)
class _Demo:
    sandbox: running.Sandbox
    kube: Kube
    elbv2: Any
    session: aiohttp.ClientSession
    out: TextIO
    requests: int
    interval: float
    within: float
    controller: asyncio.subprocess.Process | None = None
    tg_names: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def say(self, line: str = "") -> None:
        print(line, file=self.out, flush=True)

    async def observe(self) -> Observation:
        rollout = await self.kube.get(f"{ROLLOUTS_PATH}/{ROLLOUT}")
        ingress = await self.kube.get(f"{INGRESSES_PATH}/{INGRESS}")
        status = rollout.get("status") or {}
        annotations = (ingress.get("metadata") or {}).get("annotations") or {}
        entries = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        hostname = str(entries[0].get("hostname") or "").lower() if entries else ""
        step = status.get("currentStepIndex")
        return Observation(
            step=step if isinstance(step, int) else None, phase=str(status.get("phase") or "-"),
            message=str(status.get("message") or ""), pod_hash=str(status.get("currentPodHash") or ""),
            stable_hash=str(status.get("stableRS") or ""),
            annotation=_weights_of_action(annotations.get(ACTION_KEY)),
            alb=await _alb_weights(self.elbv2, hostname, self.tg_names),
        )

    async def probe(self, seed: int) -> dict[str, Any]:
        url = (f"{self.sandbox.state.control}/traffic?requests={self.requests}"
               f"&ingress={DEMO_NAMESPACE}/{INGRESS}&seed={seed}")
        async with self.session.get(url) as reply:
            answer: dict[str, Any] = await reply.json()
            if reply.status != 200:
                raise DemoError(f"traffic probe: {answer.get('error', answer)}")
            return answer

    def check_controller(self) -> None:
        if self.controller is not None and self.controller.returncode is not None:
            raise DemoError(f"the controller exited with code {self.controller.returncode}")

    async def wait_for(self, what: str, done: Callable[[Observation], bool], deadline: float) -> Observation:
        while True:
            self.check_controller()
            seen = await self.observe()
            if done(seen):
                return seen
            if time.monotonic() > deadline:
                raise DemoError(f"timed out after {self.within:g}s waiting for {what}; last seen: phase "
                                f"{seen.phase}, step {seen.step}, message {seen.message!r}")
            await asyncio.sleep(self.interval)

    async def watch_canary(self, initial_hash: str, deadline: float) -> DemoResult:
        result = DemoResult()
        started = time.monotonic()
        header = (f"{'time':>7}  {'step':<5} {'phase':<12} {'Ingress annotation':<22} {'ALB (ELBv2)':<22} "
                  f"traffic probe ({self.requests} requests each)")
        self.say(header)
        result.timeline.append(header)
        last: tuple[Any, ...] | None = None
        seed = 0
        while True:
            self.check_controller()
            seen = await self.observe()
            traffic = await self.probe(seed)
            seed += 1
            result.requests += int(traffic["requests"])
            result.failed += int(traffic["failed"])
            for name, count in traffic["byService"].items():
                result.by_service[name] = result.by_service.get(name, 0) + int(count)
            if seen.phase == "Healthy" and seen.pod_hash == initial_hash:
                if time.monotonic() > deadline:
                    raise DemoError(f"timed out after {self.within:g}s waiting for the controller to see the "
                                    f"new image; last seen: phase {seen.phase}, step {seen.step}")
                await asyncio.sleep(self.interval)  # the controller has not seen the new image yet
                continue
            finished = (seen.phase == "Healthy" and seen.pod_hash != initial_hash
                        and seen.pod_hash == seen.stable_hash and seen.step == len(STEPS)
                        and seen.alb.get(STABLE) == 100)
            if seen.story() != last or traffic["failed"] or finished:
                last = seen.story()
                served = " ".join(f"{name.removeprefix('web-')}={count}"
                                  for name, count in sorted(traffic["byService"].items()))
                step = "-" if seen.step is None else f"{seen.step}/{len(STEPS)}"
                line = (f"{time.monotonic() - started:>6.1f}s  {step:<5} {seen.phase:<12} "
                        f"{_weights_text(seen.annotation):<22} {_weights_text(seen.alb):<22} "
                        f"failed={traffic['failed']} {served}")
                if seen.message:
                    line += f"  ({seen.message})"
                self.say(line)
                result.timeline.append(line)
                result.observations.append(seen)
            if finished:
                result.seconds = time.monotonic() - started
                result.final = seen
                return result
            if time.monotonic() > deadline:
                raise DemoError(f"timed out after {self.within:g}s waiting for the canary to finish; last "
                                f"seen: phase {seen.phase}, step {seen.step}, message {seen.message!r}")
            await asyncio.sleep(self.interval)


def controller_command(state: running.SandboxState) -> list[str]:
    """`alb-rollouts run` against the sandbox, as the demo starts it (printed for the user to copy)."""
    return ["alb-rollouts", "run", "--kubeconfig", state.kubeconfig, "--aws-endpoint-url",
            state.aws_endpoint_url, "--aws-region", state.aws_region, "--aws-verify-target-group",
            "--leader-elect=false", "--metricsPort", "0", "--healthzPort", "0",
            "--debug-address", "127.0.0.1:0"]


@contextlib.asynccontextmanager
async def _controller(state: running.SandboxState,
                      log_path: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    # `python -m service.commands.run` is `alb-rollouts run`, wherever the console script is installed.
    argv = [sys.executable, "-m", "service.commands.run", *controller_command(state)[2:]]
    env = {**os.environ, **_AWS_ENV, "PYTHONUNBUFFERED": "1",
           "ROLLOUT_VERIFY_RETRY_INTERVAL": VERIFY_RETRY_INTERVAL}
    with log_path.open("w") as log:
        process = await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=asyncio.subprocess.STDOUT,
                                                       env=env, start_new_session=True)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def run_demo(*, out: TextIO = sys.stdout, within: float = 120.0, requests: int = 100,
                   interval: float = 0.5, pod_ready_seconds: float = 1.0,
                   log_dir: Path | None = None, moto: aws.MotoServer | None = None) -> DemoResult:
    """Run the whole demo within `within` seconds; raises DemoError (with the controller log's tail)."""
    deadline = time.monotonic() + within
    with contextlib.ExitStack() as files:
        folder = log_dir or Path(files.enter_context(tempfile.TemporaryDirectory(prefix="alb-rollouts-demo")))
        log_path = folder / "controller.log"
        try:
            return await _run(out=out, within=within, requests=requests, interval=interval,
                              pod_ready_seconds=pod_ready_seconds, log_path=log_path, moto=moto,
                              deadline=deadline)
        except DemoError as exc:
            tail = log_path.read_text().splitlines()[-25:] if log_path.exists() else []
            raise DemoError("\n".join([str(exc), *(["controller log (last lines):"] if tail else []),
                                       *(f"  {line}" for line in tail)])) from None


async def _run(*, out: TextIO, within: float, requests: int, interval: float, pod_ready_seconds: float,
               log_path: Path, moto: aws.MotoServer | None, deadline: float) -> DemoResult:
    print("starting the sandbox (Kubernetes API, cluster, moto ELBv2, LBC simulator) ...", file=out,
          flush=True)
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(running.Sandbox(pod_ready_seconds=pod_ready_seconds,
                                                                  moto=moto))
        state = sandbox.state
        session = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)))
        elbv2 = await stack.enter_async_context(aws.client("elbv2", state.aws_endpoint_url))
        kube = kube_client(session, state.api_server)
        demo = _Demo(sandbox=sandbox, kube=kube, elbv2=elbv2, session=session,
                     out=out, requests=requests, interval=interval, within=within)
        demo.say(f"  Kubernetes API {state.api_server}   ELBv2 (moto) {state.aws_endpoint_url}")
        for path, body in objects():
            await demo.kube.create(path, body)
        demo.say(f"applied namespace {DEMO_NAMESPACE}: Services {STABLE} and {CANARY}, Ingress {INGRESS} "
                 f"(class alb), Rollout {ROLLOUT} (image {IMAGES[0]}; setWeight 20, pause 5s, setWeight 50, "
                 "pause 5s, then 100%)")
        demo.say(f"starting the controller: ROLLOUT_VERIFY_RETRY_INTERVAL={VERIFY_RETRY_INTERVAL} "
                 + " ".join(controller_command(state)))
        demo.controller = await stack.enter_async_context(_controller(state, log_path))
        began = time.monotonic()
        first = await demo.wait_for(
            "the first deploy to become Healthy",
            lambda seen: seen.phase == "Healthy" and bool(seen.stable_hash) and seen.alb.get(STABLE) == 100,
            deadline)
        demo.say(f"first deploy Healthy after {time.monotonic() - began:.1f}s (ReplicaSet {ROLLOUT}-"
                 f"{first.stable_hash}; ALB: {_weights_text(first.alb)})")
        demo.say(f"changing the image {IMAGES[0]} -> {IMAGES[1]}: the canary starts")
        await demo.kube.merge_patch(f"{ROLLOUTS_PATH}/{ROLLOUT}", {"spec": {"template": template(IMAGES[1])}})
        result = await demo.watch_canary(first.stable_hash, deadline)
        served = ", ".join(f"{name} {count}" for name, count in sorted(result.by_service.items()))
        demo.say(f"Healthy again on {IMAGES[1]} after {result.seconds:.1f}s; the traffic probe sent "
                 f"{result.requests} requests: {result.failed} failed ({served})")
        if result.failed:
            raise DemoError(f"the traffic probe saw {result.failed} failed requests during the canary")
        demo.say("stopping the controller and the sandbox")
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds (120)")
    parser.add_argument("--requests", type=int, default=100, help="requests per traffic probe (100)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between two looks (0.5)")
    parser.add_argument("--scenario", choices=SCENARIOS, default="canary",
                        help="canary (the default), bluegreen (sandbox/demo_bluegreen.py) or analysis "
                             "(sandbox/demo_analysis.py)")
    args = parser.parse_args(argv)
    from sandbox import demo_analysis, demo_bluegreen  # they import this module
    scenario = {"bluegreen": demo_bluegreen.run_bluegreen, "analysis": demo_analysis.run_analysis}.get(
        args.scenario, run_demo)
    try:
        asyncio.run(scenario(within=args.timeout, requests=args.requests, interval=args.interval))
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("demo interrupted", file=sys.stderr, flush=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
