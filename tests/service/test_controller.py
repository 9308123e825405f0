"""The worker loop (service.controller) with a fake reconciler honouring the reconciler contract.

Aspects: the outcome → queue-call table (success, requeue_after incl. 0 and negative, an exception, a
TerminalError, an unusable Result, a reconcile past its deadline, an exception carrying a Retry-After itself
or in its cause, context or group), `done` on every path (also when the reconcile is cancelled); a status
patch the API server (the sandbox, over the wire) answers 429 Retry-After: 2 is not retried before 2 s of the
injected clock, wrapped or not, and counts as a requeue; reconcile time and errors observed in
`rollout_reconcile` and `rollout_reconcile_error`; the log context bound per reconcile (namespace, rollout,
reconcile_id) and cleared after; one failing key and one hanging key never block the others; a requeue_after
comes back; graceful stop lets a reconcile in flight finish, a stop past its grace cancels it, and nothing is
left running; worker count and double start are checked; the --rollout-resync loop enqueues every cached key
and survives a failing listing; split_key; retry_after_of over cause, context, groups and cycles.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import structlog
from kubernetes_asyncio import client
from prometheus_client import CollectorRegistry

from sandbox.apiserver.server import ApiServer
from service import clock as clocks
from service import controller, queueing, results, rollout_metrics
from service.kube import writing

KEY = "shop/web"


@pytest.fixture(autouse=True)
def _no_task_left_running(no_task_left_running: None) -> None:
    """Every test here is checked by tests/conftest.py's no_task_left_running."""


class SpyQueue(queueing.RateLimitingQueue[str]):
    """A real queue that also records the retry calls the worker makes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: list[tuple[Any, ...]] = []
        self._limiting = False

    def add_rate_limited(self, key: str, *, at_least: float = 0.0) -> None:
        call = ("add_rate_limited", key) if at_least == 0.0 else ("add_rate_limited", key, at_least)
        self.calls.append(call)
        self._limiting = True  # the queue's own add_after inside is not a call the worker made
        try:
            super().add_rate_limited(key, at_least=at_least)
        finally:
            self._limiting = False

    def add_after(self, key: str, seconds: float) -> None:
        if not self._limiting:
            self.calls.append(("add_after", key, seconds))
        super().add_after(key, seconds)

    def forget(self, key: str) -> None:
        self.calls.append(("forget", key))
        super().forget(key)

    def done(self, key: str) -> None:
        self.calls.append(("done", key))
        super().done(key)


Behaviour = Callable[[str], Awaitable[results.Result]]


class FakeReconciler:
    """Honours the contract: reconcile(key) -> Result or raises; records every call and its log context."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour
        self.calls: list[str] = []
        self.contexts: list[dict[str, Any]] = []

    async def reconcile(self, key: str) -> results.Result:
        self.calls.append(key)
        self.contexts.append(structlog.contextvars.get_contextvars())
        if self.behaviour is None:
            return results.Result()
        return await self.behaviour(key)

    def forget(self, key: str) -> None:
        pass

    def describe(self, key: str) -> dict[str, Any] | None:
        return None

    def keys(self) -> list[str]:
        return []

    def unserved(self) -> dict[str, str]:
        return {}


def _returns(result: results.Result) -> Behaviour:
    async def behaviour(key: str) -> results.Result:
        return result
    return behaviour


def _raises(exc: Exception) -> Behaviour:
    async def behaviour(key: str) -> results.Result:
        raise exc
    return behaviour


async def _hangs(key: str) -> results.Result:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def _queue(clock: clocks.Clock) -> SpyQueue:
    retry = queueing.RetrySettings(base_delay_seconds=0.001, max_delay_seconds=0.01)
    return SpyQueue(clock=clock, retry=retry, rng=random.Random(1))


async def _wait_for(predicate: Callable[[], bool], within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


@pytest.mark.parametrize(("behaviour", "deadline", "expected", "failed"), [
    pytest.param(_returns(results.Result()), None,
                 [("forget", KEY), ("done", KEY)], False, id="success-forget"),
    pytest.param(_returns(results.Result(requeue_after=7.5)), None,
                 [("forget", KEY), ("add_after", KEY, 7.5), ("done", KEY)], False, id="requeue-after"),
    pytest.param(_returns(results.Result(requeue_after=0)), None,
                 [("forget", KEY), ("add_after", KEY, 0.0), ("done", KEY)], False, id="requeue-after-zero"),
    pytest.param(_returns(results.Result(requeue_after=-3.0)), None,
                 [("forget", KEY), ("add_after", KEY, 0.0), ("done", KEY)], False, id="requeue-negative-now"),
    pytest.param(_raises(RuntimeError("API server said 500")), None,
                 [("add_rate_limited", KEY), ("done", KEY)], True, id="exception-rate-limited"),
    pytest.param(_raises(results.TerminalError("InvalidSpec: spec.strategy missing")), None,
                 [("forget", KEY), ("done", KEY)], True, id="terminal-forget"),
    pytest.param(_returns(results.Result(requeue_after=math.nan)), None,
                 [("add_rate_limited", KEY), ("done", KEY)], True, id="nan-requeue-is-a-bug"),
    pytest.param(_returns(results.Result(requeue_after=math.inf)), None,
                 [("add_rate_limited", KEY), ("done", KEY)], True, id="infinite-requeue-is-a-bug"),
    pytest.param(_hangs, 0.05,
                 [("add_rate_limited", KEY), ("done", KEY)], True, id="past-deadline-rate-limited"),
    pytest.param(_raises(writing.Unavailable(429, "TooManyRequests", "slow down", retry_after=2.0)), None,
                 [("add_rate_limited", KEY, 2.0), ("done", KEY)], True, id="retry-after-at-least"),
    pytest.param(_raises(writing.Unavailable(503, "ServiceUnavailable", "", retry_after=0.0)), None,
                 [("add_rate_limited", KEY), ("done", KEY)], True, id="retry-after-zero-is-no-hint"),
])
async def test_outcome_maps_to_queue_calls(behaviour: Behaviour, deadline: float | None,
                                           expected: list[tuple[Any, ...]], failed: bool) -> None:
    clock = clocks.FakeClock()
    registry = CollectorRegistry()
    metrics = rollout_metrics.RolloutMetrics(registry)
    queue = _queue(clock)
    async with queue:
        workers = controller.Controller(queue=queue, reconciler=FakeReconciler(behaviour), workers=1,
                                        clock=clock, metrics=metrics, deadline=deadline)
        queue.add(KEY)
        await workers.process(await queue.get())
        assert queue.calls == expected
        labels = {"namespace": "shop", "name": "web"}
        assert registry.get_sample_value("rollout_reconcile_count", labels) == 1
        errors = registry.get_sample_value("rollout_reconcile_error", labels)
        assert errors == (1 if failed else None)


async def test_requeue_after_comes_back_after_the_delay() -> None:
    clock = clocks.FakeClock()
    reconciler = FakeReconciler(_returns(results.Result(requeue_after=10.0)))
    queue = _queue(clock)
    async with queue:
        workers = controller.Controller(queue=queue, reconciler=reconciler, workers=1, clock=clock)
        workers.start()
        queue.add(KEY)
        await _wait_for(lambda: len(reconciler.calls) == 1 and clock.sleepers > 0)
        clock.advance(9.9)
        await asyncio.sleep(0.01)
        assert reconciler.calls == [KEY]
        clock.advance(0.1)
        await _wait_for(lambda: len(reconciler.calls) == 2)
        await workers.stop()


async def test_cancelled_reconcile_is_still_done() -> None:
    clock = clocks.FakeClock()
    queue = _queue(clock)
    async with queue:
        reconciler = FakeReconciler(_hangs)
        workers = controller.Controller(queue=queue, reconciler=reconciler, workers=1, clock=clock)
        queue.add(KEY)
        key = await queue.get()
        task = asyncio.create_task(workers.process(key))
        await _wait_for(lambda: reconciler.calls == [KEY])
        assert queue.calls == []
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert queue.calls == [("done", KEY)]
        queue.add(KEY)  # no longer held by a worker: handed out again at once
        assert await queue.get() == KEY
        queue.done(KEY)


async def test_log_context_is_bound_per_reconcile_and_cleared_after() -> None:
    clock = clocks.FakeClock()
    reconciler = FakeReconciler()
    queue = _queue(clock)
    async with queue:
        workers = controller.Controller(queue=queue, reconciler=reconciler, workers=1, clock=clock)
        for key in ("shop/web", "shop/api"):
            queue.add(key)
            await workers.process(await queue.get())
    first, second = reconciler.contexts
    assert (first["namespace"], first["rollout"]) == ("shop", "shop/web")
    assert (second["namespace"], second["rollout"]) == ("shop", "shop/api")
    assert first["reconcile_id"] != second["reconcile_id"]
    assert "rollout" not in structlog.contextvars.get_contextvars()


async def test_a_failing_key_never_blocks_the_others() -> None:
    clock = clocks.SystemClock()

    async def behaviour(key: str) -> results.Result:
        if key == "shop/bad":
            raise ValueError("cannot parse spec")
        return results.Result()

    reconciler = FakeReconciler(behaviour)
    queue = _queue(clock)
    workers = controller.Controller(queue=queue, reconciler=reconciler, workers=1, clock=clock)
    workers.start()
    queue.add("shop/bad")
    good = [f"shop/good-{n}" for n in range(5)]
    for key in good:
        queue.add(key)
    await _wait_for(lambda: all(key in reconciler.calls for key in good)
                    and reconciler.calls.count("shop/bad") >= 3)
    assert workers.running  # the failures did not kill the only worker
    await workers.stop()


async def test_a_hanging_key_never_blocks_the_others() -> None:
    clock = clocks.SystemClock()

    async def behaviour(key: str) -> results.Result:
        if key == "shop/stuck":
            await _hangs(key)
        return results.Result()

    reconciler = FakeReconciler(behaviour)
    queue = _queue(clock)
    workers = controller.Controller(queue=queue, reconciler=reconciler, workers=2, clock=clock)
    workers.start()
    queue.add("shop/stuck")
    good = [f"shop/good-{n}" for n in range(5)]
    for key in good:
        queue.add(key)
    await _wait_for(lambda: all(key in reconciler.calls for key in good))
    await workers.stop(grace=0.0)
    assert not workers.running


async def test_graceful_stop_lets_the_reconcile_in_flight_finish() -> None:
    clock = clocks.SystemClock()
    release = asyncio.Event()
    finished: list[str] = []

    async def behaviour(key: str) -> results.Result:
        await release.wait()
        finished.append(key)
        return results.Result()

    reconciler = FakeReconciler(behaviour)
    queue = _queue(clock)
    workers = controller.Controller(queue=queue, reconciler=reconciler, workers=3, clock=clock)
    workers.start()
    queue.add(KEY)
    queue.add("shop/later")
    await _wait_for(lambda: len(reconciler.calls) == 2)
    stopping = asyncio.create_task(workers.stop(grace=5.0))
    await asyncio.sleep(0.02)
    assert not stopping.done()  # waiting for the reconciles in flight
    queue.add("shop/after-stop")  # ignored: the queue is shut down
    release.set()
    await stopping
    assert sorted(finished) == ["shop/later", KEY]
    assert ("done", KEY) in queue.calls and ("done", "shop/later") in queue.calls
    assert "shop/after-stop" not in reconciler.calls
    assert not workers.running


async def test_stop_past_its_grace_cancels_the_reconcile() -> None:
    clock = clocks.SystemClock()
    queue = _queue(clock)
    workers = controller.Controller(queue=queue, reconciler=FakeReconciler(_hangs), workers=2, clock=clock)
    workers.start()
    queue.add(KEY)
    await _wait_for(lambda: workers.reconciler.calls == [KEY])  # type: ignore[attr-defined]
    await workers.stop(grace=0.05)
    assert queue.calls == [("done", KEY)]
    assert not workers.running


async def test_stop_before_start_and_idle_stop() -> None:
    clock = clocks.SystemClock()
    queue = _queue(clock)
    workers = controller.Controller(queue=queue, reconciler=FakeReconciler(), workers=4, clock=clock)
    await workers.stop()  # nothing started: only the queue is shut down
    assert queue.shutting_down()


def test_worker_count_and_double_start_are_checked() -> None:
    clock = clocks.FakeClock()
    with pytest.raises(ValueError, match="at least one worker, not 0"):
        controller.Controller(queue=_queue(clock), reconciler=FakeReconciler(), workers=0, clock=clock)


async def test_double_start_is_refused() -> None:
    clock = clocks.FakeClock()
    workers = controller.Controller(queue=_queue(clock), reconciler=FakeReconciler(), workers=1, clock=clock)
    workers.start()
    with pytest.raises(RuntimeError, match="already started"):
        workers.start()
    await workers.stop()


async def test_resync_enqueues_every_cached_key_each_period() -> None:
    clock = clocks.FakeClock()
    added: list[str] = []
    cached = {"shop/web", "shop/api"}
    task = asyncio.create_task(controller.resync(added.append, lambda: cached, every=900.0, clock=clock))
    await _wait_for(lambda: clock.sleepers == 1)
    clock.advance(899.0)
    await asyncio.sleep(0.01)
    assert added == []
    clock.advance(1.0)
    await _wait_for(lambda: len(added) == 2)
    assert added == ["shop/api", "shop/web"]
    await _wait_for(lambda: clock.sleepers == 1)
    clock.advance(900.0)
    await _wait_for(lambda: len(added) == 4)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_resync_survives_a_failing_listing() -> None:
    clock = clocks.FakeClock()
    added: list[str] = []
    calls = {"n": 0}

    def keys() -> list[str]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("cache gone")
        return ["shop/web"]

    task = asyncio.create_task(controller.resync(added.append, keys, every=1.0, clock=clock))
    for _ in range(2):
        await _wait_for(lambda: clock.sleepers == 1)
        clock.advance(1.0)
    await _wait_for(lambda: added == ["shop/web"])
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(("key", "expected"), [
    pytest.param("shop/web", ("shop", "web"), id="namespaced"),
    pytest.param("web", ("", "web"), id="no-namespace"),
])
def test_split_key(key: str, expected: tuple[str, str]) -> None:
    assert controller.split_key(key) == expected


def _chained(outer: BaseException, inner: BaseException, how: str) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as caught:
            if how == "cause":
                raise outer from caught
            raise outer  # noqa: B904 - the implicit __context__ is what this case is about
    except BaseException as raised:
        return raised


def _unavailable(seconds: float | None) -> writing.Unavailable:
    return writing.Unavailable(429, "TooManyRequests", "", retry_after=seconds)


@pytest.mark.parametrize(("error", "expected"), [
    pytest.param(RuntimeError("boom"), None, id="none"),
    pytest.param(_unavailable(2.0), 2.0, id="itself"),
    pytest.param(_unavailable(None), None, id="no-hint"),
    pytest.param(_chained(results.CacheBehind("behind"), _unavailable(3.0), "cause"), 3.0, id="cause"),
    pytest.param(_chained(ValueError("while reporting"), _unavailable(1.0), "context"), 1.0, id="context"),
    pytest.param(_chained(RuntimeError("outer"), _chained(KeyError("mid"), _unavailable(4.0), "cause"),
                          "context"), 4.0, id="deep"),
    pytest.param(ExceptionGroup("effects", [_unavailable(1.0), RuntimeError("x"), _unavailable(5.0)]), 5.0,
                 id="group-longest"),
])
def test_retry_after_of_reads_the_whole_chain(error: BaseException, expected: float | None) -> None:
    assert controller.retry_after_of(error) == expected


def test_retry_after_of_survives_a_cycle() -> None:
    first, second = RuntimeError("a"), _unavailable(2.0)
    first.__context__, second.__context__ = second, first
    assert controller.retry_after_of(first) == 2.0


ROLLOUTS = "rollouts.argoproj.io"


class StatusPatcher:
    """A reconciler writing one status patch through the real KubeWriter; failures raised as `wrap` says."""

    def __init__(self, writer: writing.KubeWriter, clock: clocks.FakeClock, wrap: str) -> None:
        self.writer, self.clock, self.wrap = writer, clock, wrap
        self.attempts: list[float] = []

    async def reconcile(self, key: str) -> results.Result:
        self.attempts.append(self.clock.monotonic())
        namespace, name = controller.split_key(key)
        try:
            await self.writer.patch_rollout_status(namespace, name, {"status": {"phase": "Progressing"}})
        except writing.KubeWriteError as error:
            if self.wrap == "cause":
                raise results.CacheBehind("status not written") from error
            if self.wrap == "context":
                raise RuntimeError("failed while writing status")  # noqa: B904 - __context__ on purpose
            raise
        return results.Result()


@pytest.mark.parametrize("wrap", ["bare", "cause", "context"])
async def test_status_patch_answered_429_is_not_retried_before_retry_after(api_server: ApiServer,
                                                                          wrap: str) -> None:
    api_server.storage.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": "shop"}})
    api_server.storage.create(ROLLOUTS, {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                         "metadata": {"name": "web", "namespace": "shop"}, "spec": {}})
    api_server.faults.fail_next("patch", ROLLOUTS, code=429, retry_after=2)
    clock = clocks.FakeClock()
    async with client.ApiClient(client.Configuration(host=api_server.url)) as api:
        reconciler = StatusPatcher(writing.KubeWriter(api, deadline=10.0), clock, wrap)
        queue = _queue(clock)
        async with queue:
            workers = controller.Controller(queue=queue, reconciler=reconciler, workers=1, clock=clock)
            workers.start()
            queue.add(KEY)
            await _wait_for(lambda: len(reconciler.attempts) == 1 and clock.sleepers == 1)
            assert queue.num_requeues(KEY) == 1  # client-go: a server-paced retry is still a requeue
            assert clock.next_deadline is not None and clock.next_deadline - clock.monotonic() >= 2.0
            clock.advance(1.999)
            # The queue's timer sleeps until its deadline; nothing else can hand the key out before it.
            assert (len(queue), clock.sleepers, len(reconciler.attempts)) == (0, 1, 1)
            clock.advance(0.001)
            await _wait_for(lambda: len(reconciler.attempts) == 2 and queue.num_requeues(KEY) == 0)
            await workers.stop()
    assert reconciler.attempts[1] - reconciler.attempts[0] >= 2.0
    patches = [r.status for r in api_server.faults.request_log if r.subresource == "status"]
    assert patches == [429, 200]
    assert api_server.storage.get(ROLLOUTS, "shop", "web")["status"] == {"phase": "Progressing"}
