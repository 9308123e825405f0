"""Fixtures for end-to-end runs of `alb-rollouts run` (a subprocess) against a whole sandbox.

    quiet_sandbox  the LBC simulator's retry warnings kept out of passing runs (they show in failures)
    (autouse)      no asyncio task may outlive its test: the sandbox and the controller process are stopped
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import pytest

__all__: list[str] = []


@pytest.fixture(autouse=True)
async def _no_task_left_running() -> AsyncIterator[None]:
    yield
    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in left:
        task.cancel()
    assert not left, f"tasks still running after the test: {left}"


@pytest.fixture
def quiet_sandbox() -> Iterator[None]:
    logger = logging.getLogger("sandbox.lbc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)
