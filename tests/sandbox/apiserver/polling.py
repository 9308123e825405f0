"""Await a condition with a deadline (never a bare sleep) for the emulator and cluster tests."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["until"]


async def until(
    predicate: Callable[[], Any | Awaitable[Any]], within: float = 5.0, what: str = "condition"
) -> Any:
    """Poll `predicate` (sync or async) every 10 ms until it is truthy; fail after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.01)
