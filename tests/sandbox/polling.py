"""Await a condition with a deadline (never a bare sleep), for every sandbox test.

Deadlines are generous because CI runs the whole suite on two shared cores; the happy path returns as soon as
the condition holds, so a long deadline costs nothing when things work.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["DEADLINE", "eventually", "until"]

DEADLINE = 30.0
T = TypeVar("T")


async def until(
    predicate: Callable[[], Any | Awaitable[Any]], within: float = DEADLINE, what: str = "condition"
) -> Any:
    """Poll `predicate` (sync or async) every 10 ms until it is truthy, and return its value."""

    async def holds() -> Any:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if not result:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        return result

    return await eventually(holds, within=within, interval=0.01)


async def eventually(
    check: Callable[[], Awaitable[T]], *, within: float = DEADLINE, interval: float = 0.05
) -> T:
    """Retry `check` until it returns; until the deadline, assertion and not-there-yet errors mean "retry"."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            return await check()
        except (AssertionError, LookupError, ValueError):
            if loop.time() >= deadline:
                raise
        await asyncio.sleep(interval)
