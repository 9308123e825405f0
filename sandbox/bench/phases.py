"""The benchmark's phases: deploy N rollouts, one canary step across all, promotion, a controller restart.

Room: the benchmark. Each phase writes as a user would (the plugin's patches), waits on the watches for the
rollouts to get there, and reads the sandbox's counters (`GET /stats`) before and after, so every figure is
the controller's own: AWS calls by operation, Kubernetes requests by verb, when the ALB took each weight.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from sandbox.bench import kube as kubing
from sandbox.bench import tracking, workload

__all__ = ["Counters", "Fleet", "PhaseResult", "Probe"]

_WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})
CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class Counters:
    """The sandbox's counters at one moment: the controller's AWS calls, its API requests by "<verb>
    <resource>", and the LBC's weight and serving logs."""

    aws: Counter[str]
    api: Counter[str]
    weights: dict[str, list[list[float]]]
    serving: dict[str, list[float]] = field(default_factory=dict)

    def minus(self, earlier: Counters) -> Counters:
        return Counters(self.aws - earlier.aws, self.api - earlier.api, self.weights, self.serving)

    @property
    def writes(self) -> int:
        return sum(n for what, n in self.api.items() if what.partition(" ")[0] in _WRITES)


@dataclass(slots=True)
class PhaseResult:
    """What one phase took: wall seconds and the controller's calls during it."""

    seconds: float
    counters: Counters


@dataclass(slots=True)
class Probe:
    """Requests through each rollout's ALB, round robin, while traffic moves (the sandbox's traffic probe)."""

    session: aiohttp.ClientSession
    control: str
    namespace: str
    names: list[str]
    requests_each: int = 20
    pause: float = 0.1
    """Between probes: the probe reads ELBv2 like a client, and back to back it would be the sandbox's
    biggest load, not a witness of it (about 10 probes a second, each ALB's rules and target health)."""
    requests: int = 0
    failed: int = 0
    _task: asyncio.Task[None] | None = None
    failures: list[str] = field(default_factory=list)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bench-probe")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        seed = 0
        while True:
            for name in self.names:
                seed += 1
                url = (f"{self.control}/traffic?requests={self.requests_each}&seed={seed}"
                       f"&ingress={self.namespace}/{name}")
                async with self.session.get(url) as reply:
                    answer = await reply.json()
                if reply.status != 200:
                    raise RuntimeError(f"traffic probe of {name}: {answer}")
                self.requests += int(answer["requests"])
                failed = int(answer["failed"])
                self.failed += failed
                if failed and len(self.failures) < 20:
                    self.failures.append(f"{name}: {failed}/{answer['requests']} failed at {time.time():.3f}")
                await asyncio.sleep(self.pause)  # pacing, not waiting for a condition


@dataclass(slots=True)
class Fleet:
    """N rollouts in one namespace, spread over `albs` IngressGroups, driven through the phases."""

    kube: kubing.Kube
    session: aiohttp.ClientSession
    control: str
    namespace: str
    names: list[str]
    albs: int
    within: float
    tracker: tracking.Tracker = field(init=False)
    patched_at: dict[str, float] = field(default_factory=dict)
    _watches: list[kubing.Watch] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tracker = tracking.Tracker(frozenset(self.names))

    @property
    def paths(self) -> workload.Paths:
        return workload.Paths(self.namespace)

    async def counters(self) -> Counters:
        prefix = f"{self.namespace}/"
        async with self.session.get(f"{self.control}/stats", params={"weights": prefix}) as reply:
            answer: dict[str, Any] = await reply.json()
        api: Counter[str] = Counter()
        for agent, verbs in answer["apiRequests"].items():
            if agent != kubing.AGENT:
                api.update({what: n for what, n in verbs.items() if not what.startswith("watch ")})
        return Counters(Counter(answer["awsCalls"]), api, answer["weights"], answer.get("serving") or {})

    async def watch(self) -> None:
        await self.kube.send("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                            "metadata": {"name": self.namespace}})
        self._watches = [kubing.Watch(self.kube, self.paths.rollouts, self.tracker.on_rollout),
                         kubing.Watch(self.kube, self.paths.ingresses, self.tracker.on_ingress)]
        for watch in self._watches:
            await watch.start()

    async def close(self) -> None:
        for watch in self._watches:
            await watch.stop()

    async def _each(self, work: Callable[[int, str], Awaitable[None]]) -> None:
        queue = list(enumerate(self.names))
        queue.reverse()

        async def worker() -> None:
            while queue:
                index, name = queue.pop()
                await work(index, name)

        await asyncio.gather(*(worker() for _ in range(min(CONCURRENCY, len(self.names)))))

    async def _phase(self, act: Callable[[int, str], Awaitable[None]], goal: tracking.Goal, what: str
                     ) -> PhaseResult:
        before = await self.counters()
        start = time.time()
        await self._each(act)
        end = await self.tracker.until(goal, what, self.within)
        after = await self.counters()
        return PhaseResult(end - start, after.minus(before))

    async def deploy(self) -> PhaseResult:
        async def create(index: int, name: str) -> None:
            for path, body in workload.objects(self.namespace, name, f"bench-{index % self.albs}"):
                await self.kube.create(path, body)

        result = await self._phase(create, healthy(workload.IMAGES[0]), "Healthy after the first deploy")
        # Healthy does not wait for the ALB (nor does the reference's): the probe starts once every ALB
        # serves.
        start = time.monotonic()
        await self._each(self._serving)
        result.seconds += time.monotonic() - start
        return result

    async def _serving(self, _: int, name: str) -> None:
        deadline = time.monotonic() + self.within
        url = f"{self.control}/traffic?requests=5&ingress={self.namespace}/{name}"
        while True:
            async with self.session.get(url) as reply:
                answer = await reply.json()
            if reply.status == 200 and answer["failed"] == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the ALB of {self.namespace}/{name} does not serve: {answer}")
            await asyncio.sleep(0.2)  # polled: the probe reads ELBv2, no event says "serving"

    async def step(self) -> PhaseResult:
        image = [{"op": "replace", "path": "/spec/template/spec/containers/0/image",
                  "value": workload.IMAGES[1]}]

        async def change(_: int, name: str) -> None:
            self.patched_at[name] = time.time()
            await self.kube.json_patch(f"{self.paths.rollouts}/{name}", image)

        return await self._phase(change, paused_at_step(1), "paused at step 1 with the canary verified")

    async def promote(self) -> PhaseResult:
        async def promote(_: int, name: str) -> None:  # the plugin's `promote`
            await self.kube.merge_patch(f"{self.paths.rollouts}/{name}/status",
                                        {"status": {"pauseConditions": None}})

        return await self._phase(promote, healthy(workload.IMAGES[1]), "Healthy after the promotion")

    async def quiet(self, *, still: float = 2.0, within: float = 120.0) -> float | None:
        """Wait until the controller has written nothing for `still` seconds; how long that took, or None
        when it still wrote after `within` seconds (the restart then happens with work in flight)."""
        start = time.monotonic()
        last = await self.counters()
        calm_since = time.monotonic()
        while time.monotonic() - calm_since < still:
            if time.monotonic() - start > within:
                return None
            await asyncio.sleep(0.5)  # polled: "nothing happened" has no event
            now = await self.counters()
            if now.minus(last).writes:
                calm_since = time.monotonic()
            last = now
        return time.monotonic() - start

    def slowest(self, weight: int, count: int) -> list[str]:
        """The rollouts whose Ingress took longest to carry `weight` after their image change."""
        took = {name: (self.tracker.first_weight(name, weight, at) or float("inf")) - at
                for name, at in self.patched_at.items()}
        return sorted(took, key=lambda name: -took[name])[:count]

    def update_to_patch(self, weight: int) -> list[float]:
        """Seconds from each image change to the Ingress carrying the step's canary weight."""
        out = []
        for name, at in self.patched_at.items():
            patched = self.tracker.first_weight(name, weight, at)
            if patched is not None:
                out.append(patched - at)
        return out

    def serving_to_patch(self, counters: Counters, weight: int) -> list[float]:
        """Seconds from the canary's new targets serving in ELBv2 (the LBC simulator's log) to the Ingress
        carrying the step's weight: the controller's share of update -> patch (the rest is pods and LBC)."""
        out = []
        for name, at in self.patched_at.items():
            patched = self.tracker.first_weight(name, weight, at)
            served = [t for t in counters.serving.get(f"{self.namespace}/{name}-canary", [])
                      if patched is not None and at <= t <= patched]
            if patched is not None and served:
                out.append(patched - served[-1])
        return out

    def verify_lag(self, counters: Counters, weight: int) -> list[float]:
        """Seconds from the ALB carrying the step's weight (the LBC simulator's log) to the step verified."""
        out = []
        for name, verified in self.tracker.stepped_at.items():
            changes = counters.weights.get(workload.canary_resource_id(self.namespace, name), [])
            applied = [at for at, w in changes if w == weight and at >= self.patched_at.get(name, 0.0)]
            if applied:
                out.append(verified - applied[0])
        return out


def healthy(image: str) -> tracking.Goal:
    return lambda v: v.phase == "Healthy" and v.image == image and bool(v.stable) and v.stable == v.current


def paused_at_step(step: int) -> tracking.Goal:
    return lambda v: v.step == step and v.phase == "Paused" and v.current != v.stable


def names(count: int) -> Iterable[str]:
    return (workload.rollout_name(i) for i in range(count))
