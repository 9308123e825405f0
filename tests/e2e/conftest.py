"""Fixtures for end-to-end runs of `alb-rollouts run` (a subprocess) against a whole sandbox.

    moto_server    session: one moto ELBv2/EC2 server on loopback, shared by the e2e tests
    aws_endpoint   its URL; every AWS resource is reset after the test
    quiet_sandbox  the LBC simulator's retry warnings kept out of passing runs (they show in failures)
    (autouse)      no asyncio task may outlive its test: the sandbox and the controller process are stopped
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from sandbox import aws

__all__: list[str] = []


@pytest.fixture(autouse=True)
async def _no_task_left_running() -> AsyncIterator[None]:
    yield
    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in left:
        task.cancel()
    assert not left, f"tasks still running after the test: {left}"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[aws.MotoServer]:
    server = aws.MotoServer()
    server.start()
    server.warm_up()
    yield server
    server.stop()


@pytest.fixture
async def aws_endpoint(moto_server: aws.MotoServer) -> AsyncIterator[str]:
    yield moto_server.endpoint_url
    await moto_server.areset()


@pytest.fixture
def quiet_sandbox() -> Iterator[None]:
    logger = logging.getLogger("sandbox.lbc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)
