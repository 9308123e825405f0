"""Traffic follows targets on the sandbox: zero failed requests with the LBC's real registration window.

Aspects: the LBC simulator registers new targets `targetRegistrationSeconds` after an endpoint change (old
ones deregistered first) and keeps them `initial` for `targetInitialSeconds`; a traffic probe samples the
ALB every 0.1 s through a whole canary — start, every step, promotion — with `--aws-verify-target-group`,
and sees no failed request. The rollout waits in WaitingForTargets while the targets are not ready. (Without
the flag only the EndpointSlices can be seen: docs/aws-verification.md says what that guarantees.)
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sandbox import aws, traffic
from tests.sandbox.polling import until

from .world import ACTION, NS, ROLLOUTS, World, template

HASH = "rollouts-pod-template-hash"


class Sampler:
    """Probes the ALB of Ingress `app` every 0.1 s and on demand; keeps the totals and the first failure."""

    def __init__(self, w: World, elbv2: Any) -> None:
        self.w, self.elbv2 = w, elbv2
        self.requests = self.failed = 0
        self.story: list[str] = []
        self.states: set[str] = set()  # the controller's states the samples were taken in
        self.seed = 0

    async def sample(self, why: str) -> None:
        self.seed += 1
        self.states.add(str(self.w.state()))
        result = await traffic.probe(self.w.storage, self.elbv2, NS, "app", requests=20, seed=self.seed)
        self.requests += result.requests
        self.failed += result.failed
        if result.failed:
            groups = await self.elbv2.describe_target_groups()
            health = {}
            for group in groups["TargetGroups"]:
                answer = await self.elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
                health[group["TargetGroupName"]] = [(d["Target"]["Id"], d["TargetHealth"]["State"])
                                                    for d in answer["TargetHealthDescriptions"]]
            ready = sorted(traffic.ready_pod_ips(self.w.storage))
            self.story.append(f"{why}: {result.failed}/{result.requests} failed; annotation "
                              f"{self.w.annotations().get(ACTION)}; state {self.w.state()}; "
                              f"targets {health}; ready pods {ready}; "
                              f"described {self.w.reconciler.describe(f'{NS}/demo')}")

    async def run(self) -> None:
        while True:
            await self.sample("every 0.1 s")
            await asyncio.sleep(0.1)  # the sampling period itself, not a wait for a condition


async def test_a_canary_with_slow_target_registration_fails_no_request(world: Any) -> None:
    w: World = await world(verify=True, retry_interval=0.5)
    w.lbc.configure({"targetRegistrationSeconds": 0.6, "targetInitialSeconds": 0.6})
    w.seed(steps=[{"setWeight": 20}, {"setWeight": 50}])  # no pauses: the reconciler's clock is a fake
    await w.settle(lambda: w.status().get("phase") == "Healthy" and w.state() == "Promoted", what="healthy",
                   within=90)
    async with aws.client("elbv2", w.elbv2_endpoint) as elbv2:
        async def serving() -> bool:  # the first deploy's targets leave `initial` (no traffic moved yet)
            result = await traffic.probe(w.storage, elbv2, NS, "app", requests=20)
            return result.failed == 0

        await until(serving, within=30, what="the first deploy to serve")
        sampler = Sampler(w, elbv2)
        sampling = asyncio.create_task(sampler.run())
        seen_states: set[str] = set()
        try:
            w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
            canary_hash = ""

            def promoted() -> bool:
                nonlocal canary_hash
                status = w.status()
                canary_hash = canary_hash or str(status.get("currentPodHash") or "")
                seen_states.add(str(w.state()))
                stable = w.get("services", "stable")["spec"]["selector"].get(HASH)
                return (status.get("stableRS") == canary_hash and stable == canary_hash
                        and w.state() == "Promoted" and status.get("phase") == "Healthy")

            await w.settle(promoted, what="promoted with the weight back on the stable Service", within=120)
            await w.lbc.settled()
            await sampler.sample("after promotion")
        finally:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
    # sampled while traffic waited for targets (a count of requests would depend on the machine's speed)
    assert sampler.requests > 0 and "WaitingForTargets" in sampler.states
    assert sampler.failed == 0, "\n".join(sampler.story)
    assert "WaitingForTargets" in seen_states  # the registration window was really waited out
