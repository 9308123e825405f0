"""service.token_bucket: the one token bucket (work-queue retries and, adapted, ELBv2 calls).

Aspects: starts full, then every reservation waits until its token is paid back; refill is capped at the
burst and a clock going back earns nothing; `take(max_wait)` takes nothing when the wait is too long; a new
rate applies from the next refill; `keep_at_most` drops saved-up tokens; nonsense settings are refused;
`wait` sleeps once (on the caller's sleep, never polling) for exactly the reserved delay and not at all with
tokens saved up, and a cancelled wait gives its token back.
"""

from __future__ import annotations

import asyncio

import pytest

from service import token_bucket
from service.clock import FakeClock


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


def test_burst_then_credit() -> None:
    clock = Clock()
    bucket = token_bucket.TokenBucket(4.0, 2, monotonic=clock.monotonic)
    assert [bucket.reserve() for _ in range(4)] == [0.0, 0.0, pytest.approx(0.25), pytest.approx(0.5)]
    assert bucket.tokens == pytest.approx(-2.0)


def test_refill_is_capped_and_ignores_a_clock_going_back() -> None:
    clock = Clock()
    bucket = token_bucket.TokenBucket(1.0, 3, monotonic=clock.monotonic)
    bucket.reserve()
    clock.now += 1000.0
    bucket.refill(clock.now)
    assert bucket.tokens == 3.0
    bucket.reserve()
    bucket.refill(clock.now - 50.0)
    assert bucket.tokens == 2.0


def test_take_within_a_max_wait() -> None:
    clock = Clock()
    bucket = token_bucket.TokenBucket(2.0, 1, monotonic=clock.monotonic)
    assert bucket.reserve() == 0.0
    assert bucket.take(max_wait=0.4) is None
    assert bucket.tokens == 0.0  # nothing taken
    assert bucket.take(max_wait=0.5) == pytest.approx(0.5)


def test_rate_changes_and_keep_at_most() -> None:
    clock = Clock()
    bucket = token_bucket.TokenBucket(10.0, 10, monotonic=clock.monotonic)
    bucket.keep_at_most(1.0)
    bucket.rate = 1.0
    assert [bucket.reserve(), bucket.reserve()] == [0.0, pytest.approx(1.0)]


@pytest.mark.parametrize(("rate", "burst"), [
    pytest.param(0.0, 1, id="zero-rate"),
    pytest.param(float("nan"), 1, id="nan-rate"),
    pytest.param(float("inf"), 1, id="infinite-rate"),
    pytest.param(1.0, 0, id="no-burst"),
])
def test_nonsense_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match=r"^token bucket needs a finite rate > 0 and burst >= 1$"):
        token_bucket.TokenBucket(rate, burst, monotonic=Clock().monotonic)


async def test_wait_sleeps_once_for_the_reserved_delay_on_the_given_sleep() -> None:
    clock = FakeClock()
    bucket = token_bucket.TokenBucket(5.0, 2, monotonic=clock.monotonic)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await clock.sleep(seconds)

    assert [await bucket.wait(sleep), await bucket.wait(sleep)] == [0.0, 0.0]
    assert slept == []  # tokens saved up: no sleep at all
    third = asyncio.create_task(bucket.wait(sleep))
    await asyncio.sleep(0)  # one turn: the task reserves and goes to sleep on the clock
    assert clock.sleepers == 1
    assert slept == [pytest.approx(0.2)] and not third.done()
    clock.advance(0.2)
    assert await third == pytest.approx(0.2)
    assert slept == [pytest.approx(0.2)]  # one sleep per token, never a poll


async def test_a_cancelled_wait_gives_its_token_back() -> None:
    clock = FakeClock()
    bucket = token_bucket.TokenBucket(1.0, 1, monotonic=clock.monotonic)
    assert await bucket.wait(clock.sleep) == 0.0
    waiting = asyncio.create_task(bucket.wait(clock.sleep))
    await asyncio.sleep(0)  # one turn: the task reserves and goes to sleep on the clock
    assert clock.sleepers == 1
    assert bucket.tokens == pytest.approx(-1.0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert bucket.tokens == pytest.approx(0.0)
    assert bucket.reserve() == pytest.approx(1.0)  # the next caller waits one period, not two


def test_give_back_never_exceeds_the_burst() -> None:
    bucket = token_bucket.TokenBucket(1.0, 2, monotonic=Clock().monotonic)
    bucket.give_back()
    assert bucket.tokens == 2.0
