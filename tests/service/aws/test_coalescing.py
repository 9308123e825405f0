"""CoalescedReads: one read per key per window, newer reads on demand.

Aspects: callers within the window share one load; a fresh answer is reused, a stale one read again;
`newer_than` refuses a fresh answer and a read in flight that started too early, and joins the next read;
a failure reaches every waiter and is not cached; a cancelled waiter does not cancel the read; a slow read
finishing late does not replace a later answer; forget and clear.
"""

from __future__ import annotations

import asyncio

import pytest

from service.aws import coalescing

from .conftest import FakeClock

WINDOW = 0.2


class Windows:
    """The read's window sleep, ended by the test: `await windows.started()`, then `windows.end()`."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waiting: list[asyncio.Future[None]] = []
        self._entered = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        assert seconds == WINDOW
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self._entered.set()
        await future

    async def started(self, count: int = 1) -> None:
        while len(self.waiting) < count:
            self._entered.clear()
            await self._entered.wait()

    def end(self) -> None:
        self.clock.advance(WINDOW)
        self.waiting.pop(0).set_result(None)


class Loads:
    """A load function counting its calls; `hold` keeps the next loads in flight until `release`."""

    def __init__(self) -> None:
        self.count = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.failures: list[Exception] = []
        self._entered = asyncio.Event()

    async def __call__(self) -> int:
        self.count += 1
        number = self.count
        self._entered.set()
        await self.gate.wait()
        if self.failures:
            raise self.failures.pop(0)
        return number

    async def running(self, count: int) -> None:
        while self.count < count:
            self._entered.clear()
            await self._entered.wait()


def make(clock: FakeClock, windows: Windows,
         fresh: float = 10.0) -> coalescing.CoalescedReads[str, int]:
    return coalescing.CoalescedReads(fresh, window=WINDOW, monotonic=clock.monotonic, sleep=windows.sleep)


async def test_callers_within_the_window_share_one_load(clock: FakeClock) -> None:
    windows, load = Windows(clock), Loads()
    reads = make(clock, windows)
    early = [asyncio.ensure_future(reads.get("k", load)) for _ in range(3)]
    await windows.started()
    late = [asyncio.ensure_future(reads.get("k", load)) for _ in range(2)]  # still within the window
    await asyncio.sleep(0)
    assert load.count == 0
    windows.end()
    assert await asyncio.gather(*early, *late) == [1] * 5
    assert load.count == 1
    assert await reads.get("k", load) == 1  # fresh: no window, no load
    assert not windows.waiting
    clock.advance(11)  # stale: read again
    again = asyncio.ensure_future(reads.get("k", load))
    await windows.started()
    windows.end()
    assert await again == 2


async def test_keys_do_not_share(clock: FakeClock) -> None:
    windows, load = Windows(clock), Loads()
    reads = make(clock, windows)
    a = asyncio.ensure_future(reads.get("a", load))
    b = asyncio.ensure_future(reads.get("b", load))
    await windows.started(2)
    windows.end()
    windows.end()
    assert sorted(await asyncio.gather(a, b)) == [1, 2]


async def test_newer_than_refuses_a_fresh_answer_and_joins_the_next_read(clock: FakeClock) -> None:
    windows, load = Windows(clock), Loads()
    reads = make(clock, windows)
    first = asyncio.ensure_future(reads.get_with_stamp("k", load))
    await windows.started()
    windows.end()
    value, stamp = await first
    assert (value, stamp) == (1, clock.now)
    # Fresh, but not newer than what this caller already saw: it waits for the next read, shared.
    newer = [asyncio.ensure_future(reads.get_with_stamp("k", load, newer_than=stamp + 1e-6))
             for _ in range(3)]
    plain = await reads.get_with_stamp("k", load)  # a caller without newer_than still gets the fresh one
    assert plain == (1, stamp)
    await windows.started()
    windows.end()
    answers = await asyncio.gather(*newer)
    assert [v for v, _ in answers] == [2, 2, 2]
    assert answers[0][1] > stamp
    assert load.count == 2
    # The newer answer now satisfies the same demand without another read.
    assert await reads.get("k", load, newer_than=stamp + 1e-6) == 2
    assert load.count == 2


async def test_newer_than_does_not_join_a_read_started_too_early(clock: FakeClock) -> None:
    windows, load = Windows(clock), Loads()
    reads = make(clock, windows)
    load.gate.clear()
    first = asyncio.ensure_future(reads.get_with_stamp("k", load))
    await windows.started()
    windows.end()
    await load.running(1)  # the first read is in flight
    started = clock.now
    joins = asyncio.ensure_future(reads.get_with_stamp("k", load, newer_than=started))  # at/after: joins
    later = asyncio.ensure_future(reads.get_with_stamp("k", load, newer_than=started + 1e-6))
    await windows.started()  # `later` waits for a read of its own window
    windows.end()
    await load.running(2)
    load.gate.set()
    assert await first == (1, started)
    assert await joins == (1, started)
    assert await later == (2, started + WINDOW)
    assert load.count == 2


async def test_a_slow_read_does_not_replace_a_later_answer(clock: FakeClock) -> None:
    windows = Windows(clock)
    reads = make(clock, windows)
    slow_gate, slow_started = asyncio.Event(), asyncio.Event()

    async def slow() -> int:
        slow_started.set()
        await slow_gate.wait()
        return 1

    async def fast() -> int:
        return 2

    first = asyncio.ensure_future(reads.get_with_stamp("k", slow))
    await windows.started()
    windows.end()
    await slow_started.wait()
    second = asyncio.ensure_future(reads.get("k", fast, newer_than=clock.now + 1e-6))
    await windows.started()
    windows.end()
    assert await second == 2
    slow_gate.set()
    assert (await first)[0] == 1
    assert await reads.get("k", fast) == 2  # the later read's answer stays cached


async def test_a_failure_reaches_every_waiter_and_is_not_cached(clock: FakeClock) -> None:
    windows, load = Windows(clock), Loads()
    reads = make(clock, windows)
    load.failures.append(RuntimeError("throttled"))
    waiters = [asyncio.ensure_future(reads.get("k", load)) for _ in range(3)]
    await windows.started()
    windows.end()
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    assert [str(o) for o in outcomes] == ["throttled"] * 3
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    again = asyncio.ensure_future(reads.get("k", load))
    await windows.started()
    windows.end()
    assert await again == 2


async def test_a_cancelled_waiter_does_not_cancel_the_read(clock: FakeClock) -> None:
    windows, load = Windows(clock), Loads()
    reads = make(clock, windows)
    first = asyncio.ensure_future(reads.get("k", load))
    second = asyncio.ensure_future(reads.get("k", load))
    await windows.started()
    first.cancel()
    windows.end()
    assert await second == 1
    with pytest.raises(asyncio.CancelledError):
        await first
    assert load.count == 1


async def test_every_waiter_cancelled_leaves_the_read_to_finish(clock: FakeClock) -> None:
    windows, load = Windows(clock), Loads()
    reads = make(clock, windows)
    load.failures.append(RuntimeError("nobody hears this"))
    only = asyncio.ensure_future(reads.get("k", load))
    await windows.started()
    only.cancel()
    windows.end()
    with pytest.raises(asyncio.CancelledError):
        await only
    await load.running(1)
    late = asyncio.ensure_future(reads.get("k", load))  # the failed read is not cached
    await windows.started()
    windows.end()
    assert await late == 2


async def test_forget_and_clear(clock: FakeClock) -> None:
    reads: coalescing.CoalescedReads[str, int] = coalescing.CoalescedReads(
        10.0, window=0.0, monotonic=clock.monotonic, sleep=clock.sleep)
    counter = iter(range(100))

    async def load() -> int:
        return next(counter)

    assert await reads.get("k", load) == 0
    assert await reads.get("k", load) == 0
    reads.forget("k")
    assert await reads.get("k", load) == 1
    reads.clear()
    assert await reads.get("k", load) == 2
