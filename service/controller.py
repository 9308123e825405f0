"""The worker loop: N workers take Rollout keys from the queue, reconcile them, map outcomes to queue calls.

Room: queue → **workers** → reconcile. This is the only place that turns a reconcile's outcome into retry
calls on the queue, in one `match` (the Result contract): an exception → `add_rate_limited` (at least the
API server's Retry-After when the exception, or one it was raised from, carries one: `retry_after_of`);
`TerminalError` → `forget` (logged, counted); `requeue_after` → `forget` + `add_after`; success → `forget`;
every path ends in `done`. A key's failure never stops a worker. It never decides anything about a Rollout
and never reads the API.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Callable, Iterable
from typing import Protocol

import structlog

from service import clock as clocks
from service import logs, queueing, results, rollout_metrics

__all__ = [
    "DEFAULT_RECONCILE_DEADLINE_SECONDS",
    "Controller",
    "Reconciling",
    "resync",
    "retry_after_of",
    "split_key",
]

log = structlog.get_logger(__name__)

DEFAULT_RECONCILE_DEADLINE_SECONDS = 120.0
"""A safety net: every call inside a reconcile has its own deadline, so only a bug reaches this one."""


class Reconciling(Protocol):
    """What the workers need of the reconciler (service.reconciling.Reconciler honours it)."""

    async def reconcile(self, key: str) -> results.Result:
        """Move the Rollout `key` ("ns/name") towards its desired state; raises on transient errors."""
        ...


def retry_after_of(error: BaseException) -> float | None:
    """The longest wait the API server asked for anywhere in `error`: None when it asked for none.

    Any exception with a numeric `retry_after` attribute (`service.kube.writing.KubeWriteError` from a 429 or
    5xx with Retry-After) counts, whether it is `error` itself, one it was raised from or while handling
    (`__cause__`, `__context__`, e.g. under a `CacheBehind` or a refusal), or one inside an exception group.
    """
    found: float | None = None
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        value = getattr(current, "retry_after", None)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            found = max(found or 0.0, float(value)) if value > 0 else found
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(linked for linked in (current.__cause__, current.__context__) if linked is not None)
    return found


def split_key(key: str) -> tuple[str, str]:
    """("namespace", "name") of a Rollout key; a key without "/" is a name in no namespace."""
    namespace, _, name = key.rpartition("/")
    return namespace, name


class Controller:
    """`workers` tasks reconciling keys from `queue`; the queue never hands one key to two of them at once.

    `start()` launches them; `stop(grace)` shuts the queue down, lets reconciles in flight finish for up to
    `grace` seconds, then cancels what is left; no task outlives `stop()`.
    """

    def __init__(
        self,
        *,
        queue: queueing.RateLimitingQueue[str],
        reconciler: Reconciling,
        workers: int,
        clock: clocks.Clock,
        metrics: rollout_metrics.RolloutMetrics | None = None,
        deadline: float | None = DEFAULT_RECONCILE_DEADLINE_SECONDS,
    ) -> None:
        if workers < 1:
            raise ValueError(f"a controller needs at least one worker, not {workers}")
        self.queue = queue
        self.reconciler = reconciler
        self.workers = workers
        self.clock = clock
        self.metrics = metrics  # None for tests
        self.deadline = deadline
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks)

    def start(self) -> None:
        """Launch the workers (once)."""
        if self._tasks:
            raise RuntimeError("the controller's workers are already started")
        self._tasks = [asyncio.create_task(self._work(), name=f"worker-{n}") for n in range(self.workers)]

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking keys, let reconciles in flight finish within `grace` seconds, cancel the rest."""
        self.queue.shutdown()
        tasks, self._tasks = self._tasks, []
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("workers: reconciles cancelled at shutdown", cancelled=len(pending))
                await asyncio.wait(pending)
        await self.queue.wait_closed()

    async def _work(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except queueing.QueueShutDown:
                return
            try:
                await self.process(key)
            except Exception:  # process() maps every outcome: a bug, which still must not kill the worker
                log.exception("workers: unexpected error handling a key", key=key)

    async def process(self, key: str) -> None:
        """Reconcile one key taken from the queue and turn the outcome into queue calls; always `done`."""
        namespace, name = split_key(key)
        started = self.clock.monotonic()
        failed = True
        try:
            with logs.bound_rollout(namespace, name, reconcile_id=uuid.uuid4().hex[:12]):
                outcome: results.Result | Exception
                deadline = asyncio.timeout(self.deadline)
                try:
                    async with deadline:
                        outcome = await self.reconciler.reconcile(key)
                except Exception as exc:
                    outcome = exc
                    if isinstance(exc, TimeoutError) and deadline.expired():
                        outcome = TimeoutError(f"reconcile took longer than its {self.deadline:g}s deadline")
                failed = self._settle(key, outcome)
        finally:
            self.queue.done(key)
            if self.metrics is not None:
                elapsed = self.clock.monotonic() - started
                self.metrics.observe_reconcile(namespace, name, elapsed, failed=failed)

    def _settle(self, key: str, outcome: results.Result | Exception) -> bool:
        """The one mapping from outcome to queue calls; returns True when the reconcile failed."""
        match outcome:
            case results.TerminalError():
                self.queue.forget(key)
                log.error("reconcile failed; not retried until the Rollout changes", error=str(outcome),
                          error_type=type(outcome).__name__)
                return True
            case Exception():
                # client-go counts a server-paced retry as a requeue too: the backoff still grows.
                retry_after = retry_after_of(outcome)
                if retry_after is None:
                    self.queue.add_rate_limited(key)
                else:
                    self.queue.add_rate_limited(key, at_least=retry_after)
                log.warning("reconcile failed; retrying", error=str(outcome) or type(outcome).__name__,
                            error_type=type(outcome).__name__, requeues=self.queue.num_requeues(key),
                            retry_after=retry_after)
                log.debug("reconcile failure traceback", exc_info=outcome)
                return True
            case results.Result(requeue_after=None):
                self.queue.forget(key)
                return False
            case results.Result(requeue_after=int() | float() as seconds) if math.isfinite(seconds):
                self.queue.forget(key)
                self.queue.add_after(key, max(0.0, float(seconds)))
                log.debug("reconcile done; looking again later", requeue_after=seconds)
                return False
            case _:
                # A Result the contract does not allow (NaN, infinite, not a number): a bug; back off.
                self.queue.add_rate_limited(key)
                log.error("reconcile returned an unusable result; retrying", result=repr(outcome))
                return True


async def resync(
    enqueue: Callable[[str], None], keys: Callable[[], Iterable[str]], *, every: float, clock: clocks.Clock
) -> None:
    """Every `every` seconds enqueue every key `keys()` returns (--rollout-resync); runs until cancelled."""
    while True:
        await clock.sleep(every)
        try:
            for key in sorted(keys()):
                enqueue(key)
        except Exception:  # a cache that cannot be listed now is listed next time; the loop must go on
            log.exception("resync: cannot enqueue the cached Rollouts")
