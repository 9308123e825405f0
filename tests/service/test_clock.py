"""The clocks `service/` reads time from.

Aspects: SystemClock gives aware UTC time, a monotonic clock and a real (zero) sleep; FakeClock moves only on
`advance`, wall and monotonic time together; it wakes sleepers when (and only when) their deadline has
passed, in deadline order; sleeps of zero or less return at once; cancelled sleepers are neither counted nor
woken; bad input (a naive start, a negative/infinite/NaN step) is refused; a start in another zone is UTC.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from service import clock as clocks


@pytest.fixture(autouse=True)
def _no_task_left_running(no_task_left_running: None) -> None:
    """Every test here is checked by tests/conftest.py's no_task_left_running."""


async def _until(condition, what: str) -> None:
    """Let the loop run until `condition()` holds; a bounded number of turns, never real time."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


async def test_system_clock_is_utc_and_monotonic() -> None:
    clock = clocks.SystemClock()
    before = datetime.now(UTC)
    now = clock.now()
    assert now.tzinfo is UTC
    assert before <= now <= datetime.now(UTC)
    first = clock.monotonic()
    await clock.sleep(0)
    await clock.sleep(-1)
    assert clock.monotonic() >= first


async def _read(clock: clocks.Clock) -> tuple[datetime, float]:
    """Uses a clock only through the protocol, as `service/` does."""
    await clock.sleep(0)
    return clock.now(), clock.monotonic()


@pytest.mark.parametrize("make", [pytest.param(clocks.SystemClock, id="system"),
                                  pytest.param(clocks.FakeClock, id="fake")])
async def test_both_clocks_serve_the_protocol(make) -> None:
    now, monotonic = await _read(make())
    assert now.tzinfo is UTC
    assert isinstance(monotonic, float)


def test_fake_clock_moves_only_when_advanced() -> None:
    clock = clocks.FakeClock(start=datetime(2026, 3, 1, 12, 0, tzinfo=UTC), monotonic_start=50.0)
    assert clock.now() == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert clock.monotonic() == 50.0
    clock.advance(1.5)
    clock.advance(0)
    assert clock.now() == datetime(2026, 3, 1, 12, 0, 1, 500000, tzinfo=UTC)
    assert clock.monotonic() == 51.5
    assert clock.now().tzinfo is UTC


def test_fake_clock_start_in_another_zone_is_reported_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    clock = clocks.FakeClock(start=datetime(2026, 3, 1, 14, 0, tzinfo=plus_two))
    assert clock.now() == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_fake_clock_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError, match=r"^FakeClock start must be an aware datetime$"):
        clocks.FakeClock(start=datetime(2026, 3, 1))


@pytest.mark.parametrize(
    "seconds",
    [pytest.param(-1.0, id="negative"), pytest.param(math.inf, id="infinite"),
     pytest.param(math.nan, id="nan")],
)
def test_fake_clock_refuses_bad_steps(seconds: float) -> None:
    clock = clocks.FakeClock()
    with pytest.raises(ValueError, match=r"^FakeClock advances by a finite number of seconds >= 0, not "):
        clock.advance(seconds)
    assert clock.monotonic() == 1000.0


@pytest.mark.parametrize(
    ("steps", "woken_after_each"),
    [
        pytest.param([0.5, 0.5], [[], ["one"]], id="wakes-exactly-at-deadline"),
        pytest.param([2.9], [["one", "two"]], id="one-step-wakes-several-in-deadline-order"),
        pytest.param([0.99, 0.01, 2.0], [[], ["one"], ["two", "three"]], id="each-when-due"),
        pytest.param([10.0], [["one", "two", "three"]], id="far-jump-wakes-all"),
    ],
)
async def test_fake_clock_wakes_sleepers_when_due(steps: list[float],
                                                  woken_after_each: list[list[str]]) -> None:
    clock = clocks.FakeClock()
    woken: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woken.append(name)

    tasks = [asyncio.create_task(sleeper(name, seconds))
             for name, seconds in (("three", 3.0), ("one", 1.0), ("two", 2.0))]
    await _until(lambda: clock.sleepers == 3, "three sleepers registered")
    assert clock.next_deadline == 1001.0
    for step, expected in zip(steps, woken_after_each, strict=True):
        clock.advance(step)
        for _ in range(10):
            await asyncio.sleep(0)
        assert woken == expected
        woken.clear()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize("seconds", [pytest.param(0.0, id="zero"), pytest.param(-5.0, id="negative")])
async def test_fake_clock_non_positive_sleep_returns_at_once(seconds: float) -> None:
    clock = clocks.FakeClock()
    await asyncio.wait_for(clock.sleep(seconds), timeout=5)
    assert clock.sleepers == 0
    assert clock.monotonic() == 1000.0


async def test_fake_clock_cancelled_sleeper_is_dropped() -> None:
    clock = clocks.FakeClock()
    cancelled = asyncio.create_task(clock.sleep(1.0))
    kept = asyncio.create_task(clock.sleep(2.0))
    await _until(lambda: clock.sleepers == 2, "two sleepers registered")
    cancelled.cancel()
    await asyncio.wait({cancelled})
    assert clock.sleepers == 1
    assert clock.next_deadline == 1002.0
    clock.advance(5.0)
    await asyncio.wait_for(kept, timeout=5)
    assert cancelled.cancelled()
    assert clock.sleepers == 0
    assert clock.next_deadline is None
