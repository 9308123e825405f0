"""The rate-limited delaying work queue, on a FakeClock (no real time passes).

Aspects: FIFO order; a waiting key is stored once; a key being processed is never handed to a second
worker and an add meanwhile replays once after `done`; `done` on a key nobody holds is refused; delayed adds
(earliest deadline wins, non-positive delays add at once, non-finite ones are refused, deadline order, the
timer re-plans for an earlier deadline, an immediate add leaves a pending delay in place, the real clock
drives the timer too); per-key backoff (doubling, cap, jitter bounds, forget, num_requeues) and the global
token bucket (defaults 10 qps / burst 100, refill); rate-limited adds through the queue, and with `at_least`
(a Retry-After: never sooner, still counted as a requeue, a shorter one changes nothing); shutdown (wakes
every getter with QueueShutDown, drops waiting keys, ignores later adds, wait_closed only after shutdown, no
task left running); a cancelled getter passes its wake-up on; settings validation; the `workqueue_*` metrics
read from the registry (names, types, label, help, buckets and values); a hypothesis model of client-go's
promises run against any sequence of calls.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from service import clock as clocks
from service import queueing, workqueue_metrics

NAME = {"name": "Rollouts"}


@pytest.fixture(autouse=True)
def _no_task_left_running(no_task_left_running: None) -> None:
    """Every test here is checked by tests/conftest.py's no_task_left_running."""


@pytest.fixture
def clock() -> clocks.FakeClock:
    return clocks.FakeClock()


@pytest.fixture
async def queue(clock: clocks.FakeClock) -> AsyncIterator[queueing.RateLimitingQueue[str]]:
    async with _queue(clock) as opened:
        yield opened


def _queue(clock: clocks.FakeClock, registry: CollectorRegistry | None = None,
           **retry: float) -> queueing.RateLimitingQueue[str]:
    metrics = workqueue_metrics.WorkqueueMetrics(registry) if registry is not None else None
    return queueing.RateLimitingQueue(clock=clock, retry=queueing.RetrySettings(**retry),  # type: ignore[arg-type]
                                      metrics=metrics, rng=random.Random(7))


async def _settle() -> None:
    """Let every task that can run, run (the timer, woken getters); a bounded number of turns, no time."""
    for _ in range(30):
        await asyncio.sleep(0)


async def _until(condition, what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


async def _get(queue: queueing.RateLimitingQueue[str]) -> str:
    return await asyncio.wait_for(queue.get(), timeout=5)


async def _drain(queue: queueing.RateLimitingQueue[str]) -> list[str]:
    """Everything ready now, each taken and marked done, in the order handed out."""
    await _settle()
    taken = []
    while len(queue):
        key = await _get(queue)
        taken.append(key)
        queue.done(key)
    return taken


# --- adding, de-duplication, processing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("adds", "handed_out"),
    [
        pytest.param(["a", "b", "c"], ["a", "b", "c"], id="fifo"),
        pytest.param(["a", "a", "b"], ["a", "b"], id="repeat-stored-once"),
        pytest.param(["a", "b", "a"], ["a", "b"], id="repeat-keeps-first-place"),
        pytest.param(["b", "a", "b", "a", "b"], ["b", "a"], id="many-repeats"),
    ],
)
async def test_waiting_key_is_stored_once(queue, adds: list[str], handed_out: list[str]) -> None:
    for key in adds:
        queue.add(key)
    assert len(queue) == len(handed_out)
    assert await _drain(queue) == handed_out
    assert len(queue) == 0


async def test_key_being_processed_is_not_handed_to_a_second_worker(queue) -> None:
    queue.add("a")
    assert await _get(queue) == "a"
    queue.add("a")
    assert len(queue) == 0
    second_worker = asyncio.create_task(queue.get())
    await _settle()
    assert not second_worker.done()
    queue.done("a")
    assert await asyncio.wait_for(second_worker, timeout=5) == "a"
    queue.done("a")


@pytest.mark.parametrize("adds_while_processing", [pytest.param(1, id="once"), pytest.param(3, id="thrice")])
async def test_add_during_processing_replays_once_after_done(queue, adds_while_processing: int) -> None:
    queue.add("a")
    key = await _get(queue)
    for _ in range(adds_while_processing):
        queue.add("a")
    queue.add("b")
    assert len(queue) == 1
    queue.done(key)
    assert await _drain(queue) == ["b", "a"]


@pytest.mark.parametrize(
    "prepare",
    [
        pytest.param([], id="never-added"),
        pytest.param(["add"], id="queued-not-taken"),
        pytest.param(["add", "get", "done"], id="done-twice"),
    ],
)
async def test_done_on_a_key_nobody_holds_is_refused(queue, prepare: list[str]) -> None:
    for step in prepare:
        if step == "add":
            queue.add("a")
        elif step == "get":
            await _get(queue)
        else:
            queue.done("a")
    message = "done('a') on work queue 'Rollouts': that key is not being processed"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        queue.done("a")


async def test_cancelled_getter_passes_its_wake_up_on(queue) -> None:
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await _settle()
    queue.add("a")  # wakes `first` ...
    first.cancel()  # ... which is cancelled before it runs
    assert await asyncio.wait_for(second, timeout=5) == "a"
    assert first.cancelled()
    queue.done("a")


# --- delays ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "ready_at"),
    [
        pytest.param(5.0, 1.0, 1.0, id="later-then-earlier"),
        pytest.param(1.0, 5.0, 1.0, id="earlier-then-later"),
        pytest.param(2.0, 2.0, 2.0, id="same-delay"),
    ],
)
async def test_earliest_delay_wins(queue, clock, first: float, second: float, ready_at: float) -> None:
    queue.add_after("a", first)
    queue.add_after("a", second)
    clock.advance(ready_at - 0.5)
    assert await _drain(queue) == []
    clock.advance(0.5)
    assert await _drain(queue) == ["a"]
    clock.advance(10.0)
    assert await _drain(queue) == []


@pytest.mark.parametrize("seconds", [pytest.param(0.0, id="zero"), pytest.param(-1.0, id="negative")])
async def test_non_positive_delay_adds_at_once(queue, seconds: float) -> None:
    queue.add_after("a", seconds)
    assert len(queue) == 1
    assert await _drain(queue) == ["a"]


@pytest.mark.parametrize("seconds", [pytest.param(math.nan, id="nan"), pytest.param(math.inf, id="infinite"),
                                     pytest.param(-math.inf, id="minus-infinite")])
async def test_non_finite_delay_is_refused(queue, seconds: float) -> None:
    message = f"add_after('a') on work queue 'Rollouts': the delay must be finite, not {seconds!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        queue.add_after("a", seconds)
    await _settle()
    assert len(queue) == 0


async def test_delayed_keys_come_out_in_deadline_order(queue, clock) -> None:
    queue.add_after("c", 3.0)
    queue.add_after("a", 1.0)
    queue.add_after("b", 2.0)
    clock.advance(5.0)
    assert await _drain(queue) == ["a", "b", "c"]


async def test_timer_replans_for_an_earlier_deadline(queue, clock) -> None:
    queue.add_after("late", 10.0)
    await _until(lambda: clock.sleepers == 1, "timer sleeping for 10 s")
    queue.add_after("soon", 1.0)
    await _until(lambda: clock.next_deadline == clock.monotonic() + 1.0, "timer sleeping for 1 s")
    clock.advance(1.0)
    assert await _drain(queue) == ["soon"]
    clock.advance(9.0)
    assert await _drain(queue) == ["late"]


async def test_delayed_add_of_a_waiting_key_is_stored_once(queue, clock) -> None:
    queue.add("a")
    queue.add_after("a", 1.0)
    clock.advance(1.0)
    await _settle()
    assert len(queue) == 1
    assert await _drain(queue) == ["a"]


async def test_system_clock_drives_the_timer() -> None:
    """The one test on real time: 10 ms, awaited through `get`, to prove asyncio.sleep wakes the timer."""
    async with queueing.RateLimitingQueue[str](clock=clocks.SystemClock()) as queue:
        queue.add_after("a", 0.01)
        assert len(queue) == 0
        assert await _get(queue) == "a"
        queue.done("a")


async def test_immediate_add_leaves_a_pending_delay_in_place(queue, clock) -> None:
    """As client-go: the timed add still fires later (a pause expiry must not be lost to an unrelated add)."""
    queue.add_after("a", 5.0)
    queue.add("a")
    assert await _drain(queue) == ["a"]
    clock.advance(5.0)
    assert await _drain(queue) == ["a"]


# --- rate limiting -----------------------------------------------------------------------------------------


def _backoff(jitter: float = 0.0, seed: int = 1) -> queueing.ItemBackoff:
    return queueing.ItemBackoff(base=0.005, cap=10.0, jitter=jitter, rng=random.Random(seed))


@pytest.mark.parametrize(
    ("failure", "delay"),
    [
        pytest.param(1, 0.005, id="first-is-base"),
        pytest.param(2, 0.01, id="second-doubles"),
        pytest.param(5, 0.08, id="fifth"),
        pytest.param(11, 5.12, id="eleventh-below-cap"),
        pytest.param(12, 10.0, id="twelfth-capped"),
        pytest.param(2000, 10.0, id="huge-count-still-capped"),
    ],
)
def test_backoff_doubles_then_caps(failure: int, delay: float) -> None:
    backoff = _backoff()
    delays = [backoff.when("a") for _ in range(failure)]
    assert delays[-1] == pytest.approx(delay)
    assert backoff.num_requeues("a") == failure
    assert backoff.when("b") == pytest.approx(0.005)


def test_forget_starts_the_backoff_again() -> None:
    backoff = _backoff()
    for _ in range(6):
        backoff.when("a")
    backoff.forget("a")
    backoff.forget("never-seen")
    assert backoff.num_requeues("a") == 0
    assert backoff.when("a") == pytest.approx(0.005)


def test_jitter_shortens_each_delay_by_at_most_its_fraction() -> None:
    backoff = _backoff(jitter=0.1, seed=3)
    delays = [backoff.when("a") for _ in range(20)]
    ceilings = [min(10.0, 0.005 * 2 ** n) for n in range(20)]
    assert all(0.9 * ceiling <= delay <= ceiling for delay, ceiling in zip(delays, ceilings, strict=True))
    assert [delay / ceiling for delay, ceiling in zip(delays, ceilings, strict=True)] != [1.0] * 20


def test_default_bucket_lets_a_burst_of_100_through_then_10_per_second(clock) -> None:
    retry = queueing.RetrySettings(jitter=0.0)
    defaults = (retry.qps, retry.burst, retry.base_delay_seconds, retry.max_delay_seconds)
    assert defaults == (10.0, 100, 0.005, 10.0)
    limiter = queueing.default_rate_limiter(retry, clock=clock)
    first_hundred = [limiter.when(f"k{n}") for n in range(100)]
    assert first_hundred == [pytest.approx(0.005)] * 100
    assert [limiter.when("k100"), limiter.when("k101")] == [pytest.approx(0.1), pytest.approx(0.2)]


@pytest.mark.parametrize(
    ("pause", "delay"),
    [
        pytest.param(0.0, 0.1, id="no-refill"),
        pytest.param(0.05, 0.05, id="half-a-token-back"),
        pytest.param(0.1, 0.005, id="one-token-back"),
        pytest.param(60.0, 0.005, id="refilled"),
    ],
)
def test_bucket_refills_with_time(clock, pause: float, delay: float) -> None:
    limiter = queueing.default_rate_limiter(queueing.RetrySettings(jitter=0.0, burst=2), clock=clock)
    assert [limiter.when("a"), limiter.when("b")] == [pytest.approx(0.005)] * 2
    clock.advance(pause)
    assert limiter.when("c") == pytest.approx(delay)


def test_bucket_and_backoff_combined_takes_the_larger(clock) -> None:
    limiter = queueing.default_rate_limiter(queueing.RetrySettings(jitter=0.0, burst=1, qps=1.0), clock=clock)
    assert limiter.when("a") == pytest.approx(0.005)
    assert limiter.when("a") == pytest.approx(1.0)  # bucket (1 s) beats backoff (10 ms)
    clock.advance(100.0)
    for _ in range(8):
        limiter.when("a")
        clock.advance(100.0)
    assert limiter.when("a") == pytest.approx(5.12)  # backoff (11th failure) beats the refilled bucket
    assert limiter.num_requeues("a") == 11
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


async def test_add_rate_limited_waits_for_the_backoff(queue, clock) -> None:
    for failures, delay in ((1, 0.005), (2, 0.01), (3, 0.02)):
        queue.add_rate_limited("a")
        assert queue.num_requeues("a") == failures
        clock.advance(delay * 0.85)  # jitter shortens by at most 10 %
        assert await _drain(queue) == []
        clock.advance(delay * 0.15)
        assert await _drain(queue) == ["a"]
    queue.forget("a")
    assert queue.num_requeues("a") == 0


async def test_add_rate_limited_waits_at_least_the_servers_retry_after(queue, clock) -> None:
    queue.add_rate_limited("a", at_least=2.0)
    assert queue.num_requeues("a") == 1  # counted as a requeue: the next backoff doubles as usual
    clock.advance(1.999)
    assert await _drain(queue) == []
    clock.advance(0.001)
    assert await _drain(queue) == ["a"]
    queue.add_rate_limited("a", at_least=0.001)  # shorter than the backoff (0.01 s): the backoff stands
    assert queue.num_requeues("a") == 2
    clock.advance(0.0085)
    assert await _drain(queue) == []
    clock.advance(0.0015)
    assert await _drain(queue) == ["a"]


@pytest.mark.parametrize("seconds", [math.nan, math.inf])
async def test_non_finite_at_least_is_refused(queue, seconds: float) -> None:
    with pytest.raises(ValueError, match="at_least must be finite"):
        queue.add_rate_limited("a", at_least=seconds)
    assert queue.num_requeues("a") == 0


async def test_injected_rate_limiter_is_used(clock) -> None:
    class Fixed:
        def __init__(self) -> None:
            self.asked: list[object] = []

        def when(self, key: object) -> float:
            self.asked.append(key)
            return 3.0

        def forget(self, key: object) -> None:
            self.asked.append(("forget", key))

        def num_requeues(self, key: object) -> int:
            return 42

    limiter = Fixed()
    async with queueing.RateLimitingQueue[str](clock=clock, rate_limiter=limiter) as queue:
        queue.add_rate_limited("a")
        queue.forget("b")
        assert queue.num_requeues("a") == 42
        clock.advance(2.9)
        assert await _drain(queue) == []
        clock.advance(0.1)
        assert await _drain(queue) == ["a"]
    assert limiter.asked == ["a", ("forget", "b")]


BUCKET_ERROR = "^the retry bucket needs a finite qps > 0 and a burst >= 1$"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param({"base_delay_seconds": 0.0}, "^base_delay_seconds must be finite and > 0, not 0.0$",
                     id="zero-base"),
        pytest.param({"base_delay_seconds": math.inf}, "^base_delay_seconds must be finite and > 0, not inf$",
                     id="infinite-base"),
        pytest.param({"max_delay_seconds": 0.001}, "^max_delay_seconds must be finite and at least "
                     "base_delay_seconds$", id="cap-below-base"),
        pytest.param({"max_delay_seconds": math.nan}, "^max_delay_seconds must be finite and at least "
                     "base_delay_seconds$", id="nan-cap"),
        pytest.param({"jitter": 1.0}, r"^jitter must be in \[0, 1\), not 1.0$", id="jitter-one"),
        pytest.param({"jitter": -0.1}, r"^jitter must be in \[0, 1\), not -0.1$", id="negative-jitter"),
        pytest.param({"qps": 0.0}, BUCKET_ERROR, id="zero-qps"),
        pytest.param({"qps": math.inf}, BUCKET_ERROR, id="infinite-qps"),
        pytest.param({"burst": 0}, BUCKET_ERROR, id="zero-burst"),
    ],
)
def test_settings_are_validated(settings: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        queueing.RetrySettings(**settings)  # type: ignore[arg-type]


# --- shutdown ----------------------------------------------------------------------------------------------


async def test_shutdown_wakes_every_getter(queue) -> None:
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await _settle()
    assert not any(getter.done() for getter in getters)
    queue.shutdown()
    results = await asyncio.wait_for(asyncio.gather(*getters, return_exceptions=True), timeout=5)
    assert [type(result) for result in results] == [queueing.QueueShutDown] * 3
    assert [str(result) for result in results] == ["work queue 'Rollouts' is shut down"] * 3
    assert queue.shutting_down()


async def test_after_shutdown_get_raises_and_adds_are_ignored(queue, clock) -> None:
    queue.add("queued")
    queue.add_after("delayed", 1.0)
    queue.shutdown()
    queue.shutdown()  # idempotent
    queue.add("late")
    queue.add_after("late", 1.0)
    queue.add_rate_limited("late")
    assert len(queue) == 0
    assert queue.num_requeues("late") == 0
    clock.advance(5.0)
    await _settle()
    assert len(queue) == 0
    with pytest.raises(queueing.QueueShutDown):
        await _get(queue)


async def test_done_after_shutdown_does_not_replay(queue) -> None:
    queue.add("a")
    key = await _get(queue)
    queue.add("a")
    queue.shutdown()
    queue.done(key)
    assert len(queue) == 0


async def test_wait_closed_before_shutdown_is_refused(queue) -> None:
    with pytest.raises(RuntimeError, match=r"^wait_closed\(\) on work queue 'Rollouts' before shutdown\(\)$"):
        await queue.wait_closed()


@pytest.mark.parametrize("timer_state", [pytest.param("sleeping", id="timer-sleeping"),
                                         pytest.param("idle", id="timer-idle"),
                                         pytest.param("never-started", id="no-timer")])
async def test_no_task_left_running_after_shutdown(clock, timer_state: str) -> None:
    queue = _queue(clock)
    if timer_state != "never-started":
        queue.add_after("a", 1.0)
        await _until(lambda: clock.sleepers == 1, "timer sleeping")
    if timer_state == "idle":
        clock.advance(1.0)
        await _until(lambda: len(queue) == 1 and clock.sleepers == 0, "timer fired and idle")
    queue.shutdown()
    await asyncio.wait_for(queue.wait_closed(), timeout=5)
    current = asyncio.current_task()
    assert [task for task in asyncio.all_tasks() if task is not current] == []
    assert clock.sleepers == 0


async def test_context_manager_shuts_down_and_waits(clock) -> None:
    async with _queue(clock) as queue:
        queue.add_after("a", 1.0)
        await _until(lambda: clock.sleepers == 1, "timer sleeping")
    assert queue.shutting_down()
    current = asyncio.current_task()
    assert [task for task in asyncio.all_tasks() if task is not current] == []


# --- metrics -----------------------------------------------------------------------------------------------

FAMILIES = {
    "workqueue_depth": ("gauge", "[ALPHA] Current depth of workqueue"),
    "workqueue_adds": ("counter", "[ALPHA] Total number of adds handled by workqueue"),
    "workqueue_queue_duration_seconds": (
        "histogram", "[ALPHA] How long in seconds an item stays in workqueue before being requested."),
    "workqueue_work_duration_seconds": (
        "histogram", "[ALPHA] How long in seconds processing an item from workqueue takes."),
    "workqueue_unfinished_work_seconds": (
        "gauge", "[ALPHA] How many seconds of work has done that is in progress and hasn't been observed by "
        "work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by "
        "observing the rate at which this increases."),
    "workqueue_longest_running_processor_seconds": (
        "gauge", "[ALPHA] How many seconds has the longest running processor for workqueue been running."),
    "workqueue_retries": ("counter", "[ALPHA] Total number of retries handled by workqueue"),
}
BUCKETS = ["1e-08", "1e-07", "1e-06", "9.999999999999999e-06", "9.999999999999999e-05", "0.001", "0.01",
           "0.1", "1.0", "10.0", "+Inf"]


async def test_metric_families_names_help_labels_and_buckets(clock) -> None:
    registry = CollectorRegistry()
    async with _queue(clock, registry):
        families = {family.name: (family.type, family.documentation) for family in registry.collect()}
        assert families == FAMILIES
        labels = {frozenset(sample.labels) - {"le"}
                  for family in registry.collect() for sample in family.samples}
        assert labels == {frozenset({"name"})}
        buckets = [sample.labels["le"] for family in registry.collect() for sample in family.samples
                   if sample.name == "workqueue_queue_duration_seconds_bucket"]
        assert buckets == BUCKETS


async def test_metric_values_follow_the_queue(clock) -> None:
    registry = CollectorRegistry()

    def value(name: str) -> float | None:
        return registry.get_sample_value(name, NAME)

    async with _queue(clock, registry, jitter=0.0) as queue:
        queue.add("a")
        queue.add("a")
        queue.add("b")
        assert (value("workqueue_adds_total"), value("workqueue_depth")) == (2.0, 2.0)
        clock.advance(2.0)
        assert await _get(queue) == "a"
        assert value("workqueue_depth") == 1.0
        assert value("workqueue_queue_duration_seconds_count") == 1.0
        assert value("workqueue_queue_duration_seconds_sum") == pytest.approx(2.0)
        clock.advance(3.0)
        assert await _get(queue) == "b"
        assert value("workqueue_queue_duration_seconds_sum") == pytest.approx(7.0)
        clock.advance(1.0)
        assert value("workqueue_unfinished_work_seconds") == pytest.approx(4.0 + 1.0)
        assert value("workqueue_longest_running_processor_seconds") == pytest.approx(4.0)
        queue.add("a")  # dirty while in work: counted and deep, replayed after done
        assert (value("workqueue_adds_total"), value("workqueue_depth")) == (3.0, 1.0)
        queue.done("a")
        assert value("workqueue_work_duration_seconds_count") == 1.0
        assert value("workqueue_work_duration_seconds_sum") == pytest.approx(4.0)
        assert value("workqueue_longest_running_processor_seconds") == pytest.approx(1.0)
        queue.done("b")
        assert value("workqueue_unfinished_work_seconds") == 0.0
        assert value("workqueue_longest_running_processor_seconds") == 0.0
        queue.add_after("c", 1.0)
        queue.add_rate_limited("d")
        assert value("workqueue_retries_total") == 2.0
        assert value("workqueue_adds_total") == 3.0  # delayed keys count when they become ready
        clock.advance(1.0)
        await _until(lambda: len(queue) == 3, "delayed keys ready")
        assert (value("workqueue_adds_total"), value("workqueue_depth")) == (5.0, 3.0)
        queue.shutdown()
        assert value("workqueue_depth") == 0.0


async def test_two_queues_share_one_registry_by_name(clock) -> None:
    registry = CollectorRegistry()
    metrics = workqueue_metrics.WorkqueueMetrics(registry)
    rollouts = queueing.RateLimitingQueue[str](clock=clock, metrics=metrics)
    ingresses = queueing.RateLimitingQueue[str](clock=clock, metrics=metrics, name="Ingresses")
    rollouts.add("a")
    ingresses.add("x")
    ingresses.add("y")
    assert registry.get_sample_value("workqueue_depth", {"name": "Rollouts"}) == 1.0
    assert registry.get_sample_value("workqueue_depth", {"name": "Ingresses"}) == 2.0
    assert (rollouts.name, ingresses.name) == ("Rollouts", "Ingresses")
    rollouts.shutdown()
    ingresses.shutdown()


async def test_queue_without_metrics_never_touches_the_global_registry(clock) -> None:
    from prometheus_client import REGISTRY

    async with _queue(clock) as queue:
        queue.add("a")
        assert REGISTRY.get_sample_value("workqueue_adds_total", NAME) is None


# --- model-based property ----------------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c"])
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), KEYS),
        st.tuples(st.just("add_after"), KEYS, st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0])),
        st.tuples(st.just("add_rate_limited"), KEYS),
        st.tuples(st.just("forget"), KEYS),
        st.tuples(st.just("advance"), st.sampled_from([0.005, 0.25, 1.0, 5.0])),
        st.tuples(st.just("get")),
        st.tuples(st.just("done"), st.integers(min_value=0, max_value=2)),
    ),
    max_size=40,
)


class Model:
    """client-go's promises written out plainly: what the queue must hand out, and when."""

    def __init__(self, clock: clocks.FakeClock) -> None:
        self.clock = clock
        self.ready: list[str] = []
        self.dirty: set[str] = set()
        self.processing: list[str] = []
        self.pending: dict[str, tuple[float, int]] = {}
        self.failures: dict[str, int] = {}
        self.order = 0

    def add(self, key: str) -> None:
        if key in self.dirty:
            return
        self.dirty.add(key)
        if key not in self.processing:
            self.ready.append(key)

    def add_after(self, key: str, seconds: float) -> None:
        if seconds <= 0:
            self.add(key)
            return
        deadline = self.clock.monotonic() + seconds
        if key not in self.pending or deadline < self.pending[key][0]:
            self.order += 1
            self.pending[key] = (deadline, self.order)

    def backoff(self, key: str) -> float:
        failures = self.failures.get(key, 0)
        self.failures[key] = failures + 1
        return min(10.0, 0.005 * float(2 ** failures))

    def fire_due(self) -> None:
        now = self.clock.monotonic()
        for key, _ in sorted(((k, v) for k, v in self.pending.items() if v[0] <= now), key=lambda kv: kv[1]):
            del self.pending[key]
            self.add(key)

    def get(self) -> str:
        key = self.ready.pop(0)
        self.dirty.discard(key)
        self.processing.append(key)
        return key

    def done(self, key: str) -> None:
        self.processing.remove(key)
        if key in self.dirty:
            self.ready.append(key)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_queue_keeps_client_go_promises(operations: list[tuple[object, ...]]) -> None:
    """Any sequence of calls: the same keys come out in the same order as the model, never two at once."""

    async def scenario() -> None:
        clock = clocks.FakeClock()
        model = Model(clock)
        async with _queue(clock, jitter=0.0, burst=10**6) as queue:
            for operation in operations:
                match operation:
                    case ("add", str(key)):
                        queue.add(key)
                        model.add(key)
                    case ("add_after", str(key), float(seconds)):
                        queue.add_after(key, seconds)
                        model.add_after(key, seconds)
                    case ("add_rate_limited", str(key)):
                        queue.add_rate_limited(key)
                        model.add_after(key, model.backoff(key))
                    case ("forget", str(key)):
                        queue.forget(key)
                        model.failures.pop(key, None)
                    case ("advance", float(seconds)):
                        clock.advance(seconds)
                        model.fire_due()
                    case ("get",) if model.ready:
                        await _settle()
                        assert await _get(queue) == model.get()
                    case ("done", int(index)) if model.processing:
                        key = model.processing[index % len(model.processing)]
                        queue.done(key)
                        model.done(key)
                await _settle()
                assert len(queue) == len(model.ready)
                assert queue.num_requeues("a") == model.failures.get("a", 0)
                assert len(model.processing) == len(set(model.processing))
            for key in list(model.processing):
                queue.done(key)
                model.done(key)
            clock.advance(60.0)
            model.fire_due()
            handed_out = await _drain(queue)
            assert handed_out == model.ready
            assert handed_out == list(dict.fromkeys(handed_out))

    asyncio.run(scenario())
