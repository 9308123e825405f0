"""Rollouts waiting for a Service's targets to serve in ELBv2, checked off the work queue.

Room: between act (AWS) and the queue, like an informer for target health. A reconcile whose canary targets do
not serve yet hands the wait here instead of coming back through the whole work queue every retry interval
only to ask AWS once: a reconcile worker would sit in the AWS rate limiter, and at scale every other Rollout
would wait behind it. Every `interval` seconds each waited Service is checked once (the reads coalesce per
target group as before); a Rollout whose targets now serve is queued at once. Its reconcile then finds the
fresh answer (the shared read is newer than the one that left it waiting) and moves the weight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

__all__ = ["FALLBACK_FACTOR", "Check", "TargetWaits"]

log = structlog.get_logger(__name__)

Check = Callable[[str, str], Awaitable[bool]]
"""(namespace, Service name) → do its targets serve? Never raises (the verifier's contract)."""

FALLBACK_FACTOR = 10
"""A watched Rollout's own reconcile comes back after this many retry intervals, in case a check is lost."""


@dataclass(frozen=True, slots=True)
class _Wait:
    namespace: str
    service: str


class TargetWaits:
    """`watch(key, namespace, service)` until its targets serve; `run(enqueue)` checks every `interval` s."""

    def __init__(self, check: Check, *, interval: float, concurrency: int = 10) -> None:
        self.interval = interval
        self._check = check
        self._concurrency = concurrency
        self._waits: dict[str, _Wait] = {}

    def watch(self, key: str, namespace: str, service: str) -> None:
        self._waits[key] = _Wait(namespace, service)

    def forget(self, key: str) -> None:
        self._waits.pop(key, None)

    def watching(self, key: str) -> bool:
        return key in self._waits

    def __len__(self) -> int:
        return len(self._waits)

    async def run(self, enqueue: Callable[[str], None]) -> None:
        """Check every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)  # a period, not a wait for a condition
            await self.check_once(enqueue)

    async def check_once(self, enqueue: Callable[[str], None]) -> list[str]:
        """Check each waited Service once; queue (and stop watching) the Rollouts whose targets serve."""
        limit = asyncio.Semaphore(self._concurrency)

        async def one(key: str, wait: _Wait) -> str | None:
            async with limit:
                try:
                    serving = await self._check(wait.namespace, wait.service)
                except Exception:  # a check must not end the loop; the Rollout's own reconcile still comes
                    log.exception("target wait check failed", rollout=key, service=wait.service)
                    return None
            if not serving or self._waits.get(key) != wait:
                return None  # not yet, or the reconcile moved on meanwhile
            del self._waits[key]
            enqueue(key)
            return key

        done = await asyncio.gather(*(one(key, wait) for key, wait in list(self._waits.items())))
        return [key for key in done if key is not None]
