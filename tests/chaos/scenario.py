"""One seeded chaos scenario, start to finish, and what it saw.

`run_scenario` starts a sandbox (LBC knobs targetRegistrationSeconds R and targetInitialSeconds I), applies
`manifests.objects()` (two Rollouts on one Ingress and an invalid one next to them), starts the controller
replicas (--aws-verify-target-group --leader-elect), waits until both Rollouts are Healthy and every probe
request is served, then changes both images at once and lets the canaries run, while
- the chaos task applies the seeded fault plan (`injecting`),
- the sampler probes each Rollout's path through the ALB every 0.1 s and right after every observed change of
  a Service selector, the Ingress's annotations or a pod's presence (`sandbox.traffic.probe`, through an AWS
  proxy of its own so the chaos's throttling never hits it), and
- the checker (`invariants`) sees every stored change,
and one manual promotion is sent as `kubectl argo rollouts promote` sends it. It ends when both Rollouts are
Healthy on the new image with their old pods gone and the invalid one is Degraded with InvalidSpec, or at the
deadline; everything it started is stopped. The outcome carries the story of each failure and a JSON summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from sandbox import aws, aws_proxy
from sandbox.apiserver.faults import RequestRecord
from sandbox.running import Sandbox
from sandbox.traffic import Request, probe
from tests.chaos import injecting, manifests
from tests.chaos.controllers import Exit, Fleet, controller_pythonpath
from tests.chaos.invariants import Checker, Finding, Timeline
from tests.chaos.manifests import BAD, GOOD, IMAGES, NAMESPACE

__all__ = ["Outcome", "Scenario", "run_scenario"]

PROBE_REQUESTS = 50
PROMOTE = b'{"status":{"pauseConditions":null}}'
"""`kubectl argo rollouts promote` of a Rollout with pause conditions: this body to the status subresource."""
SAMPLE_EVERY = 0.1
_ROLLOUTS = "rollouts.argoproj.io"
_HASH = "rollouts-pod-template-hash"
_STORIES_KEPT = 20
_STORIES_SHOWN = 3


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    seed: int
    registration_seconds: float
    initial_seconds: float
    replicas: int = 1
    kinds: tuple[str, ...] = injecting.QUICK
    chaos_window: float = 12.0
    """Faults land in the first this-many seconds after the image update."""
    burst: tuple[int, int] = (2, 6)
    """How many requests an api500 / api429 fault fails (the controller's reflector backs off exponentially,
    with jitter, up to about 30 s, so a LIST failing 9 times in a row delays a new leader by minutes)."""
    throttle_seconds: tuple[float, float] = (3.0, 8.0)
    """How long a 30% ELBv2 throttling window lasts."""
    baseline_within: float = 45.0
    converge_within: float = 70.0
    """Seconds from the image update until both canaries must be done."""

    def describe(self) -> str:
        return (f"chaos scenario {self.name}: seed {self.seed}, targetRegistrationSeconds "
                f"{self.registration_seconds:g}, targetInitialSeconds {self.initial_seconds:g}, "
                f"{self.replicas} controller replica(s), controller from "
                f"{controller_pythonpath() or 'this checkout'}")


@dataclass(slots=True)
class Outcome:
    scenario: Scenario
    seconds: float = 0.0
    requests: int = 0
    failed: int = 0
    probes: int = 0
    failed_probes: int = 0
    stories: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    exits: list[Exit] = field(default_factory=list)
    conflicts: int = 0
    elbv2_calls: int = 0
    throttled: int = 0
    canary_seconds: float = 0.0
    timeline: str = ""
    logs: list[str] = field(default_factory=list)
    workdir: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed and not self.findings and not self.problems

    def summary(self) -> dict[str, Any]:
        s = self.scenario
        return {
            "scenario": s.name, "seed": s.seed,
            "knobs": {"targetRegistrationSeconds": s.registration_seconds,
                      "targetInitialSeconds": s.initial_seconds},
            "controllerReplicas": s.replicas, "controllerPythonpath": controller_pythonpath(),
            "passed": self.ok, "requests": self.requests, "failures": self.failed, "probes": self.probes,
            "failedProbes": self.failed_probes, "invariantViolations": [str(f) for f in self.findings],
            "problems": self.problems, "faultsInjected": self.faults,
            "controllerExits": [{"t": round(e.at, 2), "name": e.name, "code": e.code,
                                 "lostLease": e.lost_lease} for e in self.exits],
            "ingressConflicts409": self.conflicts, "elbv2Calls": self.elbv2_calls,
            "elbv2Throttled": self.throttled, "canarySeconds": round(self.canary_seconds, 2),
            "seconds": round(self.seconds, 2), "workdir": self.workdir,
        }

    def report(self) -> str:
        lines = [self.scenario.describe(),
                 f"{self.failed} of {self.requests} probe requests failed ({self.failed_probes} of "
                 f"{self.probes} probes); {len(self.findings)} invariant violation(s); {len(self.problems)} "
                 f"other problem(s); {self.seconds:.1f}s; logs and timeline in {self.workdir}"]
        lines += [f"PROBLEM: {problem}" for problem in self.problems]
        lines += [f"INVARIANT: {finding}" for finding in self.findings]
        if self.stories:
            shown = min(len(self.stories), _STORIES_SHOWN)
            lines.append(f"failed probes (the first {shown}; up to {_STORIES_KEPT} in failures.txt):")
            lines += self.stories[:_STORIES_SHOWN]
        if not self.ok:
            lines += ["faults injected:", *(f"  {json.dumps(fault)}" for fault in self.faults)]
            lines += self.logs
        return "\n".join(lines)


# ---- the ALB, described for a story --------------------------------------------------------------------


async def _describe_route(elbv2: Any, hostname: str, path: str) -> list[str]:
    """The rule that serves `path`, its weights per Service and each target group's targets' health."""
    balancers = await elbv2.describe_load_balancers()
    arns = [lb["LoadBalancerArn"] for lb in balancers["LoadBalancers"] if lb["DNSName"].lower() == hostname]
    if not arns:
        return [f"no load balancer named {hostname!r}"]
    listeners = await elbv2.describe_listeners(LoadBalancerArn=arns[0])
    rules = (await elbv2.describe_rules(ListenerArn=listeners["Listeners"][0]["ListenerArn"]))["Rules"]
    for rule in sorted(rules, key=lambda r: (r.get("IsDefault", False), str(r.get("Priority")))):
        patterns = [value for c in rule.get("Conditions") or [] if c.get("Field") == "path-pattern"
                    for value in (c.get("PathPatternConfig") or {}).get("Values") or c.get("Values") or []]
        if not rule.get("IsDefault") and not any(fnmatch.fnmatchcase(path, p) for p in patterns):
            continue
        groups = [group for action in rule.get("Actions") or []
                  for group in (action.get("ForwardConfig") or {}).get("TargetGroups") or []]
        if not groups:
            return [f"rule {rule.get('Priority')} ({patterns}) has no forward: {rule.get('Actions')}"]
        tags = await elbv2.describe_tags(ResourceArns=[g["TargetGroupArn"] for g in groups])
        names = {}
        for item in tags["TagDescriptions"]:
            # ingress.k8s.aws/resource = <namespace>/<ingress>-<service>:<port>
            tagged = {t["Key"]: t["Value"] for t in item.get("Tags") or []}
            resource = tagged.get("ingress.k8s.aws/resource", "")
            names[item["ResourceArn"]] = resource.removeprefix(f"{NAMESPACE}/{manifests.INGRESS}-")
        lines = [f"ALB rule {rule.get('Priority')} {patterns}: "
                 + ", ".join(f"{names.get(g['TargetGroupArn'], '?')}={g.get('Weight')}" for g in groups)]
        for group in groups:
            health = await elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
            targets = ", ".join(_target(d) for d in health["TargetHealthDescriptions"]) or "no targets"
            lines.append(f"  target group {names.get(group['TargetGroupArn'], '?')}: {targets}")
        return lines
    return [f"no rule matches {path}"]


def _target(description: dict[str, Any]) -> str:
    health = description["TargetHealth"]
    reason = f" ({health['Reason']})" if health.get("Reason") else ""
    return f"{description['Target']['Id']} {health['State']}{reason}"


def _pod(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return f"{pod['metadata']['name']} {status.get('podIP')} {'ready' if ready else 'not ready'}"


# ---- the run -------------------------------------------------------------------------------------------


class _Run:
    def __init__(self, scenario: Scenario, sandbox: Sandbox, elbv2: Any, fleet: Fleet, timeline: Timeline,
                 checker: Checker, outcome: Outcome) -> None:
        self.scenario = scenario
        self.sandbox = sandbox
        self.storage = sandbox.storage
        self.elbv2 = elbv2
        self.fleet = fleet
        self.timeline = timeline
        self.checker = checker
        self.outcome = outcome
        self.initial: dict[str, str] = {}  # rollout -> the first revision's pod hash
        self._last_record: RequestRecord | None = None

    # ---- looking -----------------------------------------------------------------------------------------
    def hostname(self) -> str:
        ingress = self.storage.get("ingresses.networking.k8s.io", NAMESPACE, manifests.INGRESS) or {}
        entries = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        return str(entries[0].get("hostname") or "").lower() if entries else ""

    async def probe_path(self, spec: manifests.RolloutSpec, seed: int) -> Any:
        return await probe(self.storage, self.elbv2, NAMESPACE, manifests.INGRESS, requests=PROBE_REQUESTS,
                           seed=seed, request=Request(host=self.hostname(), path=spec.path))

    def count_conflicts(self) -> None:
        log = self.sandbox.api.faults.request_log
        fresh = 0
        for record in reversed(log):
            if record is self._last_record:
                break
            if record.status == 409 and record.resource == "ingresses.networking.k8s.io":
                fresh += 1
        if log:
            self._last_record = log[-1]
        self.outcome.conflicts += fresh

    def replicaset_of(self, spec: manifests.RolloutSpec, image: str) -> dict[str, Any] | None:
        for rs in self.storage.list("replicasets.apps", NAMESPACE):
            template = rs["spec"]["template"]
            labels = (template.get("metadata") or {}).get("labels") or {}
            containers = template["spec"]["containers"]
            if labels.get("app") == spec.name and containers[0].get("image") == image:
                return rs
        return None

    def status_of(self, name: str) -> dict[str, Any]:
        found = self.storage.get(_ROLLOUTS, NAMESPACE, name) or {}
        status = found.get("status")
        return status if isinstance(status, dict) else {}

    def healthy_on(self, spec: manifests.RolloutSpec, image: str) -> str | None:
        """None when the Rollout is Healthy on `image` with its steps done, weight back on stable and every
        other ReplicaSet at 0 with no pods; else what is missing."""
        rs = self.replicaset_of(spec, image)
        if rs is None:
            return f"no ReplicaSet for {image}"
        pod_hash = rs["metadata"]["labels"].get(_HASH, "")
        status = self.status_of(spec.name)
        got = (status.get("phase"), status.get("currentPodHash"), status.get("stableRS"),
               status.get("currentStepIndex"))
        if got != ("Healthy", pod_hash, pod_hash, len(spec.steps)):
            return f"status (phase, currentPodHash, stableRS, currentStepIndex) is {got}"
        if self.checker.rollouts[spec.name].weight != 0:
            return f"canary weight {self.checker.rollouts[spec.name].weight} in the annotation"
        for other in self.storage.list("replicasets.apps", NAMESPACE, label_selector=f"app={spec.name}"):
            if other["metadata"]["name"] != rs["metadata"]["name"] and other["spec"].get("replicas"):
                return f"old ReplicaSet {other['metadata']['name']} at {other['spec'].get('replicas')}"
        pods = self.storage.list("pods", NAMESPACE, label_selector=f"app={spec.name}")
        old = [p["metadata"]["name"] for p in pods if p["metadata"]["labels"].get(_HASH) != pod_hash]
        return f"old pods {old} still exist" if old else None

    def bad_is_degraded(self) -> str | None:
        status = self.status_of(BAD.name)
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        invalid = conditions.get("InvalidSpec") or {}
        message = str(status.get("message") or "")
        if (status.get("phase") == "Degraded" and invalid.get("reason") == "InvalidSpec"
                and message.startswith("InvalidSpec: ") and "experiment" in message):
            return None
        return f"phase {status.get('phase')!r}, message {message!r}, InvalidSpec condition {invalid}"

    def state_of_all(self, image: str) -> str | None:
        for spec in GOOD:
            missing = self.healthy_on(spec, image)
            if missing is not None:
                return f"rollout {spec.name}: {missing}"
        bad = self.bad_is_degraded()
        return None if bad is None else f"rollout {BAD.name}: {bad}"

    async def wait_until(self, check: Callable[[], Any], within: float) -> bool:
        """Poll `check` (sync or async, truthy when done) with a deadline; False when it ran out."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            done = check()
            if asyncio.iscoroutine(done):
                done = await done
            if done:
                return True
            await asyncio.sleep(0.1)
        return False

    # ---- the phases --------------------------------------------------------------------------------------
    async def baseline(self) -> bool:
        """Both Rollouts Healthy on the first image, weight on stable, and a probe of each path all served."""
        seed = self.scenario.seed * 1000

        async def served() -> bool:
            if self.state_of_all(IMAGES[0]) is not None or not self.hostname():
                return False
            results = [await self.probe_path(spec, seed) for spec in GOOD]
            return all(result.failed == 0 for result in results)

        if await self.wait_until(served, self.scenario.baseline_within):
            for spec in GOOD:
                self.initial[spec.name] = str(self.status_of(spec.name).get("currentPodHash"))
            self.timeline.say(f"baseline: both Rollouts Healthy on {IMAGES[0]}, every probe request served")
            return True
        self.outcome.problems.append(
            f"the first deploy did not settle within {self.scenario.baseline_within:g}s: "
            f"{self.state_of_all(IMAGES[0]) or 'a probe request failed'}")
        return False

    async def sample(self, stop: asyncio.Event, seed: int) -> None:
        """Probe every path every SAMPLE_EVERY seconds and right after each observed change, until `stop`."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            self.checker.changed.clear()
            for spec in GOOD:
                result = await self.probe_path(spec, seed + self.outcome.probes)
                self.outcome.probes += 1
                self.outcome.requests += result.requests
                if result.failed:
                    self.outcome.failed += result.failed
                    self.outcome.failed_probes += 1
                    await self.tell_failure(spec, result)
            self.count_conflicts()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, started + SAMPLE_EVERY - loop.time())):
                    await self.checker.changed.wait()

    async def tell_failure(self, spec: manifests.RolloutSpec, result: Any) -> None:
        now = self.timeline.now()
        served = ", ".join(f"{name}={count}" for name, count in sorted(result.by_service.items())) or "none"
        self.timeline.say(f"PROBE {spec.path}: {result.failed}/{result.requests} failed (served {served})")
        if len(self.outcome.stories) >= _STORIES_KEPT:
            return
        state = self.checker.rollouts[spec.name]
        status = state.status
        lines = [f"--- seed {self.scenario.seed}, t={now:.2f}s ({self.scenario.name}, R="
                 f"{self.scenario.registration_seconds:g} I={self.scenario.initial_seconds:g}): probe of "
                 f"{spec.path} saw {result.failed} of {result.requests} requests fail (served: {served})",
                 f"rollout {spec.name}: revision {state.pod_hash} step {state.index}/{len(spec.steps)} phase "
                 f"{status.get('phase')} stableRS {state.stable_hash} message {status.get('message')!r}",
                 f"annotation {spec.action_key}: canary weight {state.weight}",
                 f"Services: {spec.stable} {self.checker.selectors.get(spec.stable)}, "
                 f"{spec.canary} {self.checker.selectors.get(spec.canary)}"]
        try:
            lines += await _describe_route(self.elbv2, self.hostname(), spec.path)
        except Exception as exc:  # the story must not hide the failure it tells
            lines.append(f"(ALB not described: {exc!r})")
        pods = self.storage.list("pods", NAMESPACE, label_selector=f"app={spec.name}")
        lines.append("pods: " + ", ".join(_pod(pod) for pod in pods))
        lines.append("timeline before it:")
        lines += [f"  {line}" for line in self.timeline.tail(now)]
        self.outcome.stories.append("\n".join(lines))

    async def promote(self, rng: random.Random) -> None:
        """`kubectl argo rollouts promote` of the Rollout paused on its `pause: {}` step, once, in the new
        revision: the plugin's exact status patch, retried as a user would when the API server fails it."""
        spec = next(s for s in GOOD if s.manual_pause is not None)
        state = self.checker.rollouts[spec.name]

        def paused() -> bool:
            return (state.pod_hash not in ("", self.initial[spec.name]) and state.index == spec.manual_pause
                    and bool(state.status.get("pauseConditions")))

        while not paused():  # noqa: ASYNC110 (the checker's state, fed by a storage subscription)
            await asyncio.sleep(0.05)
        await asyncio.sleep(rng.uniform(0.2, 1.5))  # the user's reaction time: the scenario's timing
        url = (f"{self.sandbox.state.api_server}/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/rollouts/"
               f"{spec.name}/status")
        headers = {"Authorization": "Bearer sandbox", "Content-Type": "application/merge-patch+json"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            while True:
                async with http.patch(url, data=PROMOTE, headers=headers) as reply:
                    await reply.read()
                    if reply.status < 300:
                        self.timeline.say(f"USER kubectl argo rollouts promote {spec.name}: HTTP "
                                          f"{reply.status}")
                        return
                    retry = float(reply.headers.get("Retry-After", "0.5"))
                    self.timeline.say(f"USER promote {spec.name}: HTTP {reply.status}, again in {retry:g}s")
                await asyncio.sleep(retry)

    def update_images(self) -> None:
        for spec in GOOD:
            self.storage.merge_patch(_ROLLOUTS, NAMESPACE, spec.name,
                                     {"spec": {"template": manifests.template(spec.name, IMAGES[1])}})
        self.timeline.say(f"USER image {IMAGES[0]} -> {IMAGES[1]} for {', '.join(s.name for s in GOOD)}")


async def _consume(subscription: Any, checker: Checker) -> None:
    async for event in subscription:
        checker.handle(event)


async def run_scenario(scenario: Scenario, moto: aws.MotoServer, workdir: Path) -> Outcome:
    """Run one scenario (see the module docstring); never raises for what the controller does."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    timeline = Timeline(lambda: loop.time() - began)
    checker = Checker(timeline)
    outcome = Outcome(scenario, workdir=str(workdir))
    rng = random.Random(scenario.seed)
    faults = injecting.plan_faults(rng, scenario.kinds, window=scenario.chaos_window,
                                   registration_seconds=scenario.registration_seconds, burst=scenario.burst,
                                   throttle_seconds=scenario.throttle_seconds)
    timeline.say(scenario.describe())
    tasks: list[asyncio.Task[Any]] = []
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(Sandbox(moto=moto, pod_ready_seconds=0.5))
        assert sandbox.lbc is not None
        sandbox.lbc.configure({"targetRegistrationSeconds": scenario.registration_seconds,
                               "targetInitialSeconds": scenario.initial_seconds})
        subscription = sandbox.storage.subscribe()
        stack.callback(subscription.close)
        # The observer's own view of AWS: the truth about target health, never throttled by the chaos.
        observer = await stack.enter_async_context(
            aws_proxy.AwsProxy(moto.endpoint_url, health=sandbox.lbc.target_health))
        elbv2 = await stack.enter_async_context(aws.client("elbv2", observer.url))
        fleet = Fleet(sandbox.state, scenario.replicas, workdir, now=timeline.now, say=timeline.say)
        run = _Run(scenario, sandbox, elbv2, fleet, timeline, checker, outcome)
        injector = injecting.Injector(sandbox, fleet, timeline, random.Random(scenario.seed + 1),
                                      registration_seconds=scenario.registration_seconds,
                                      initial_seconds=scenario.initial_seconds)
        stack.callback(injector.detach)

        async def cancel_tasks() -> None:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        stack.push_async_callback(fleet.stop)
        stack.push_async_callback(cancel_tasks)
        tasks.append(asyncio.create_task(_consume(subscription, checker), name="chaos-checker"))
        for resource, body in manifests.objects():
            sandbox.storage.create(resource, body)
        await fleet.start()
        try:
            if await run.baseline():
                await _canary(run, injector, faults, rng, tasks)
        finally:
            outcome.exits = list(fleet.exits)
            outcome.logs = fleet.logs_tail(15)
            outcome.faults = injector.injected
            outcome.elbv2_calls, outcome.throttled = injector.elbv2_calls, injector.throttled
    outcome.findings = list(checker.findings)
    for gone in outcome.exits:
        if not gone.lost_lease:
            outcome.problems.append(f"{gone.name} exited by itself at t={gone.at:.2f}s with code "
                                    f"{gone.code}: {gone.last_line[:400]}")
    outcome.seconds = loop.time() - began
    outcome.timeline = timeline.dump()
    (workdir / "timeline.txt").write_text(outcome.timeline + "\n")
    (workdir / "failures.txt").write_text("\n".join(outcome.stories) + "\n")
    _write_report(outcome)
    return outcome


async def _canary(run: _Run, injector: injecting.Injector, faults: list[injecting.Fault],
                  rng: random.Random, tasks: list[asyncio.Task[Any]]) -> None:
    scenario, outcome, loop = run.scenario, run.outcome, asyncio.get_running_loop()
    stop = asyncio.Event()
    sampler = asyncio.create_task(run.sample(stop, scenario.seed * 1000 + 1), name="chaos-sampler")
    tasks.append(sampler)
    run.update_images()
    updated = loop.time()
    chaos = asyncio.create_task(injector.run(faults), name="chaos-faults")
    promoter = asyncio.create_task(run.promote(random.Random(scenario.seed + 2)), name="chaos-promote")
    tasks += [chaos, promoter]

    def done() -> bool:
        if sampler.done():
            return True  # it failed: said below
        return chaos.done() and promoter.done() and run.state_of_all(IMAGES[1]) is None

    converged = await run.wait_until(done, scenario.converge_within)
    outcome.canary_seconds = loop.time() - updated
    if not chaos.done():
        chaos.cancel()
        await asyncio.gather(chaos, return_exceptions=True)
    await injector.heal()
    if sampler.done():
        outcome.problems.append(f"the sampler stopped: {sampler.exception()!r}")
        return
    if not converged:
        outcome.problems.append(
            f"not done {scenario.converge_within:g}s after the image update: "
            f"{'the manual promotion was never possible; ' if not promoter.done() else ''}"
            f"{run.state_of_all(IMAGES[1]) or 'the chaos plan was still running'}")
    else:
        run.timeline.say(f"done: both Rollouts Healthy on {IMAGES[1]} {outcome.canary_seconds:.1f}s after "
                         "the update; sampling one more second")
        await asyncio.sleep(1.0)  # a last second of samples after the old pods went: the scenario's timing
    stop.set()
    await sampler


def _write_report(outcome: Outcome) -> None:
    """Append the run's JSON summary as one line to $CHAOS_REPORT (and always to the workdir)."""
    line = json.dumps(outcome.summary(), sort_keys=True)
    (Path(outcome.workdir) / "summary.json").write_text(line + "\n")
    target = os.environ.get("CHAOS_REPORT")
    if target:
        with open(target, "a") as report:
            report.write(line + "\n")
