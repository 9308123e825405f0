"""Target waits (service.target_waits): a watched Rollout is queued once the check says its Service's
targets serve, and then no longer watched; one not yet serving stays watched and is not queued; a check that
raises is logged and the loop goes on; a wait replaced or forgotten while its check ran is not queued; `run`
checks every interval until cancelled; checks run at most `concurrency` at a time."""

from __future__ import annotations

import asyncio

import pytest

from service.target_waits import TargetWaits


class Checks:
    def __init__(self) -> None:
        self.serving: set[tuple[str, str]] = set()
        self.calls: list[tuple[str, str]] = []
        self.running = 0
        self.most = 0
        self.gate: asyncio.Event | None = None
        self.rounds = asyncio.Event()  # set after twelve checks

    async def __call__(self, namespace: str, service: str) -> bool:
        self.calls.append((namespace, service))
        if len(self.calls) >= 12:
            self.rounds.set()
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0)
            if (namespace, service) == ("shop", "boom"):
                raise RuntimeError("AWS client gone")
            return (namespace, service) in self.serving
        finally:
            self.running -= 1


async def test_a_rollout_is_queued_once_its_targets_serve_and_then_forgotten() -> None:
    checks, queued = Checks(), []
    waits = TargetWaits(checks, interval=1.0)
    waits.watch("shop/web", "shop", "web-canary")
    waits.watch("shop/api", "shop", "api-canary")
    assert await waits.check_once(queued.append) == [] and queued == []
    assert len(waits) == 2 and waits.watching("shop/web")
    checks.serving.add(("shop", "web-canary"))
    assert await waits.check_once(queued.append) == ["shop/web"]
    assert queued == ["shop/web"] and not waits.watching("shop/web") and waits.watching("shop/api")
    assert await waits.check_once(queued.append) == []  # queued once, not at every check
    assert checks.calls.count(("shop", "web-canary")) == 2 and checks.calls.count(("shop", "api-canary")) == 3


async def test_a_check_that_raises_is_logged_and_the_others_still_count() -> None:
    checks, queued = Checks(), []
    checks.serving.add(("shop", "web-canary"))
    waits = TargetWaits(checks, interval=1.0)
    waits.watch("shop/broken", "shop", "boom")
    waits.watch("shop/web", "shop", "web-canary")
    assert await waits.check_once(queued.append) == ["shop/web"]
    assert waits.watching("shop/broken")  # still watched: the next check may answer


@pytest.mark.parametrize("change", ["forget", "rewatch"])
async def test_a_wait_changed_while_its_check_ran_is_not_queued(change: str) -> None:
    checks, queued = Checks(), []
    checks.serving.add(("shop", "web-canary"))
    checks.gate = asyncio.Event()
    waits = TargetWaits(checks, interval=1.0)
    waits.watch("shop/web", "shop", "web-canary")
    checking = asyncio.create_task(waits.check_once(queued.append))
    await asyncio.sleep(0)
    if change == "forget":
        waits.forget("shop/web")  # the Rollout's own reconcile came first
    else:
        waits.watch("shop/web", "shop", "web-stable")  # it now waits for another Service
    checks.gate.set()
    assert await checking == [] and queued == []


async def test_run_checks_every_interval_until_cancelled_at_most_concurrency_at_once() -> None:
    checks, queued, done = Checks(), [], asyncio.Event()

    def enqueue(key: str) -> None:
        queued.append(key)
        done.set()

    waits = TargetWaits(checks, interval=0.01, concurrency=2)
    for index in range(6):
        waits.watch(f"shop/r{index}", "shop", f"s{index}")
    running = asyncio.create_task(waits.run(enqueue))
    async with asyncio.timeout(5):
        await checks.rounds.wait()  # two rounds of six
        checks.serving.add(("shop", "s3"))
        await done.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert queued == ["shop/r3"] and checks.most <= 2
