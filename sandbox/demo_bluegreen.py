"""`make demo SCENARIO=bluegreen` (`python -m sandbox.demo --scenario bluegreen`): one blue-green update on
the sandbox, told as a timeline.

The same flow as the canary demo (sandbox.demo): it applies a demo namespace (Services `web-active` and
`web-preview`, an `alb` Ingress whose backend is `web-active` by port number, a Rollout with
`blueGreen: {activeService, previewService, autoPromotionEnabled: true}`), starts `alb-rollouts run
--aws-verify-target-group` as a separate process, waits for the first deploy, makes the LBC simulator
register and drain targets as a real ALB does (1 s to register, 2 s of initial health checks, 2 s of
draining), changes the image and prints at each change: the phase, status.blueGreen's active/preview
selectors, the two Services' selectors, the targets of the active Service's target group in ELBv2 (by
version and health) and what a traffic probe through the ALB saw. The first ReplicaSet is "blue", the new
one "green"; a Service selecting both (the widened cutover) shows "blue+green". It exits 0 once the Rollout
is Healthy on the new image, the ALB targets only green and no request failed, 1 otherwise, saying why. Like
all of `sandbox/`, it never imports the product.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from sandbox import aws, demo, running
from sandbox.demo_manifests import (
    ACTIVE,
    DEMO_NAMESPACE,
    IMAGES,
    INGRESS,
    INGRESSES_PATH,
    PODS_PATH,
    PREVIEW,
    ROLLOUT,
    ROLLOUTS_PATH,
    SERVICES_PATH,
    bluegreen_objects,
    template,
)

__all__ = ["LBC_TIMINGS", "BlueGreenObservation", "BlueGreenResult", "run_bluegreen"]

HASH = "rollouts-pod-template-hash"
LBC_TIMINGS = {"targetRegistrationSeconds": 1.0, "targetInitialSeconds": 2.0,
               "deregistrationDelaySeconds": 2.0}
"""The LBC simulator's knobs for the update: a new target is registered 1 s after its change reaches AWS and
is `initial` 2 s more, so the cutover has a window in which the new pods are not yet serving; a deregistered
one is `draining` 2 s (a real ALB's default is 300 s)."""
WIDE = "*"
"""A Service selector without the hash key: it selects the pods of every version."""


@dataclass(frozen=True, slots=True)
class BlueGreenObservation:
    """What the demo saw at one moment; hashes are the ReplicaSets' pod-template hashes ('' when unset)."""

    phase: str
    message: str
    pod_hash: str
    stable_hash: str
    active_selector: str
    preview_selector: str
    active_service: str
    preview_service: str
    targets: tuple[tuple[str, str, int], ...]
    """(hash, ELBv2 state, count) of the targets of the target groups the ALB forwards to, sorted."""

    def story(self) -> tuple[Any, ...]:
        """What makes a new timeline line (the probe's counts change with every probe, so not those)."""
        return (self.phase, self.message, self.active_selector, self.preview_selector, self.active_service,
                self.preview_service, self.targets)

    def healthy_targets(self) -> set[str]:
        return {version for version, state, _ in self.targets if state == "healthy"}


@dataclass(slots=True)
class BlueGreenResult:
    """How the update went: the lines printed, the traffic totals and the time it took."""

    seconds: float = 0.0
    requests: int = 0
    failed: int = 0
    blue: str = ""
    green: str = ""
    timeline: list[str] = field(default_factory=list)
    observations: list[BlueGreenObservation] = field(default_factory=list)
    final: BlueGreenObservation | None = None


async def _forwarded_groups(elbv2: Any, hostname: str) -> list[str]:
    """ARNs of the target groups the first forwarding rule of the ALB (by its DNS name) sends requests to."""
    if not hostname:
        return []
    balancers = await elbv2.describe_load_balancers()
    arns = [lb["LoadBalancerArn"] for lb in balancers["LoadBalancers"] if lb["DNSName"].lower() == hostname]
    if not arns:
        return []
    listeners = await elbv2.describe_listeners(LoadBalancerArn=arns[0])
    for listener in listeners["Listeners"]:
        rules = await elbv2.describe_rules(ListenerArn=listener["ListenerArn"])
        for rule in sorted(rules["Rules"], key=lambda r: (r.get("IsDefault", False), str(r.get("Priority")))):
            for action in rule.get("Actions") or []:
                if action.get("Type") != "forward":
                    continue
                groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
                found = [str(g["TargetGroupArn"]) for g in groups] or (
                    [str(action["TargetGroupArn"])] if action.get("TargetGroupArn") else [])
                if found:
                    return found
    return []


@dataclass(slots=True)
class _BlueGreenDemo:
    kube: demo.Kube
    elbv2: Any
    session: aiohttp.ClientSession
    control: str
    out: TextIO
    requests: int
    interval: float
    within: float
    controller: Any = None
    names: dict[str, str] = field(default_factory=dict)
    """pod-template hash -> "blue" / "green" once known."""

    def say(self, line: str = "") -> None:
        print(line, file=self.out, flush=True)

    def check_controller(self) -> None:
        if self.controller is not None and self.controller.returncode is not None:
            raise demo.DemoError(f"the controller exited with code {self.controller.returncode}")

    async def _selector(self, name: str) -> str:
        service = await self.kube.get(f"{SERVICES_PATH}/{name}")
        selector = (service.get("spec") or {}).get("selector") or {}
        return str(selector.get(HASH) or WIDE)

    async def _targets(self, hostname: str) -> tuple[tuple[str, str, int], ...]:
        pods = (await self.kube.get(PODS_PATH)).get("items") or []
        version = {str(pod["status"]["podIP"]): str((pod["metadata"].get("labels") or {}).get(HASH))
                   for pod in pods if (pod.get("status") or {}).get("podIP")}
        counts: Counter[tuple[str, str]] = Counter()
        for arn in await _forwarded_groups(self.elbv2, hostname):
            health = await self.elbv2.describe_target_health(TargetGroupArn=arn)
            for target in health["TargetHealthDescriptions"]:
                ip = str(target["Target"]["Id"])
                counts[(version.get(ip, ip), str(target["TargetHealth"]["State"]))] += 1
        return tuple(sorted((v, state, n) for (v, state), n in counts.items()))

    async def observe(self) -> BlueGreenObservation:
        rollout = await self.kube.get(f"{ROLLOUTS_PATH}/{ROLLOUT}")
        ingress = await self.kube.get(f"{INGRESSES_PATH}/{INGRESS}")
        status = rollout.get("status") or {}
        blue_green = status.get("blueGreen") or {}
        entries = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        hostname = str(entries[0].get("hostname") or "").lower() if entries else ""
        return BlueGreenObservation(
            phase=str(status.get("phase") or "-"), message=str(status.get("message") or ""),
            pod_hash=str(status.get("currentPodHash") or ""), stable_hash=str(status.get("stableRS") or ""),
            active_selector=str(blue_green.get("activeSelector") or ""),
            preview_selector=str(blue_green.get("previewSelector") or ""),
            active_service=await self._selector(ACTIVE), preview_service=await self._selector(PREVIEW),
            targets=await self._targets(hostname))

    async def probe(self, seed: int) -> dict[str, Any]:
        url = (f"{self.control}/traffic?requests={self.requests}&ingress={DEMO_NAMESPACE}/{INGRESS}"
               f"&seed={seed}")
        async with self.session.get(url) as reply:
            answer: dict[str, Any] = await reply.json()
            if reply.status != 200:
                raise demo.DemoError(f"traffic probe: {answer.get('error', answer)}")
            return answer

    def name(self, pod_hash: str) -> str:
        if pod_hash == WIDE:
            return "+".join(sorted(self.names.values())) or "all"
        return self.names.get(pod_hash, pod_hash or "-")

    def targets_text(self, seen: BlueGreenObservation) -> str:
        return ", ".join(f"{self.name(v)} {n} {state}" for v, state, n in seen.targets) or "-"

    def last_seen(self, seen: BlueGreenObservation) -> str:
        return (f"phase {seen.phase}, active {self.name(seen.active_selector)}, Service {ACTIVE} "
                f"{self.name(seen.active_service)}, ALB targets {self.targets_text(seen)}, "
                f"message {seen.message!r}")

    async def wait_for(self, what: str, done: Callable[[BlueGreenObservation], bool], deadline: float
                       ) -> BlueGreenObservation:
        while True:
            self.check_controller()
            seen = await self.observe()
            if done(seen):
                return seen
            if time.monotonic() > deadline:
                raise demo.DemoError(f"timed out after {self.within:g}s waiting for {what}; last seen: "
                                     + self.last_seen(seen))
            await asyncio.sleep(self.interval)

    def finished(self, seen: BlueGreenObservation, blue: str) -> bool:
        green = seen.pod_hash
        return (seen.phase == "Healthy" and green not in ("", blue) and seen.stable_hash == green
                and seen.active_selector == green and seen.active_service == green
                and bool(seen.targets)
                and all(v == green and state == "healthy" for v, state, _ in seen.targets))

    async def watch(self, blue: str, deadline: float) -> BlueGreenResult:
        result = BlueGreenResult(blue=blue)
        started = time.monotonic()
        header = (f"{'time':>7}  {'phase':<12} {'status act/prev':<17} {'Services act/prev':<18} "
                  f"{'ALB targets (' + ACTIVE + ')':<34} traffic probe")
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
            if seen.pod_hash in ("", blue):
                if time.monotonic() > deadline:
                    raise demo.DemoError(f"timed out after {self.within:g}s waiting for the controller to "
                                         "see the new image; last seen: " + self.last_seen(seen))
                await asyncio.sleep(self.interval)  # the controller has not seen the new image yet
                continue
            if seen.pod_hash not in self.names:
                self.names[seen.pod_hash] = "green"
                result.green = seen.pod_hash
            finished = self.finished(seen, blue)
            if seen.story() != last or traffic["failed"] or finished:
                last = seen.story()
                status = f"{self.name(seen.active_selector)}/{self.name(seen.preview_selector)}"
                services = f"{self.name(seen.active_service)}/{self.name(seen.preview_service)}"
                line = (f"{time.monotonic() - started:>6.1f}s  {seen.phase:<12} {status:<17} {services:<18} "
                        f"{self.targets_text(seen):<34} {traffic['failed']} of {traffic['requests']} failed")
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
                raise demo.DemoError(f"timed out after {self.within:g}s waiting for the update to finish "
                                     "(Healthy on the new image, the ALB targeting only it); last seen: "
                                     + self.last_seen(seen))
            await asyncio.sleep(self.interval)


async def run_bluegreen(*, out: TextIO = sys.stdout, within: float = 120.0, requests: int = 100,
                        interval: float = 0.5, pod_ready_seconds: float = 1.0, log_dir: Path | None = None,
                        moto: aws.MotoServer | None = None) -> BlueGreenResult:
    """The whole blue-green demo within `within` seconds; raises DemoError (with the controller's log)."""
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
               log_path: Path, moto: aws.MotoServer | None, deadline: float) -> BlueGreenResult:
    print("starting the sandbox (Kubernetes API, cluster, moto ELBv2, LBC simulator) ...", file=out,
          flush=True)
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(running.Sandbox(pod_ready_seconds=pod_ready_seconds,
                                                                  moto=moto))
        state = sandbox.state
        session = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)))
        elbv2 = await stack.enter_async_context(aws.client("elbv2", state.aws_endpoint_url))
        bg = _BlueGreenDemo(kube=demo.kube_client(session, state.api_server), elbv2=elbv2, session=session,
                            control=state.control, out=out, requests=requests, interval=interval,
                            within=within)
        bg.say(f"  Kubernetes API {state.api_server}   ELBv2 (moto) {state.aws_endpoint_url}")
        for path, body in bluegreen_objects():
            await bg.kube.create(path, body)
        bg.say(f"applied namespace {DEMO_NAMESPACE}: Services {ACTIVE} and {PREVIEW}, Ingress {INGRESS} "
               f"(class alb, backend {ACTIVE}:80), Rollout {ROLLOUT} (image {IMAGES[0]}; blueGreen, "
               "autoPromotionEnabled)")
        bg.say(f"starting the controller: ROLLOUT_VERIFY_RETRY_INTERVAL={demo.VERIFY_RETRY_INTERVAL} "
               + " ".join(demo.controller_command(state)))
        bg.controller = await stack.enter_async_context(demo._controller(state, log_path))
        began = time.monotonic()
        first = await bg.wait_for(
            "the first deploy to become Healthy with the ALB targeting it",
            lambda seen: (seen.phase == "Healthy" and bool(seen.stable_hash)
                          and seen.active_service == seen.stable_hash
                          and seen.healthy_targets() == {seen.stable_hash}), deadline)
        blue = first.stable_hash
        bg.names[blue] = "blue"
        bg.say(f"first deploy Healthy after {time.monotonic() - began:.1f}s: blue = ReplicaSet "
               f"{ROLLOUT}-{blue} ({IMAGES[0]}); ALB targets {bg.targets_text(first)}")
        async with session.post(f"{state.control}/lbc", json=LBC_TIMINGS) as reply:
            if reply.status != 200:
                raise demo.DemoError(f"configuring the LBC simulator: HTTP {reply.status}")
        register, initial, drain = (LBC_TIMINGS[knob] for knob in (
            "targetRegistrationSeconds", "targetInitialSeconds", "deregistrationDelaySeconds"))
        bg.say(f"LBC simulator: from now on a new target is registered after {register:g}s and is initial "
               f"{initial:g}s more, a deregistered one draining {drain:g}s")
        bg.say(f"changing the image {IMAGES[0]} -> {IMAGES[1]}: green comes up behind {PREVIEW}")
        await bg.kube.merge_patch(f"{ROLLOUTS_PATH}/{ROLLOUT}", {"spec": {"template": template(IMAGES[1])}})
        result = await bg.watch(blue, deadline)
        bg.say(f"Healthy again on {IMAGES[1]} after {result.seconds:.1f}s: green = ReplicaSet {ROLLOUT}-"
               f"{result.green}, the ALB targets only green; the traffic probe sent {result.requests} "
               f"requests: {result.failed} failed")
        if result.failed:
            raise demo.DemoError(f"the traffic probe saw {result.failed} failed requests during the update")
        bg.say("blue's ReplicaSet is scaled down after scaleDownDelaySeconds (30s); stopping the controller "
               "and the sandbox")
        return result
