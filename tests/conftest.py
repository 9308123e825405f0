"""Shared test configuration: the fixtures every topic uses. Topic fixtures live in each folder's conftest.py.

    api_server          sandbox.apiserver.server.ApiServer on 127.0.0.1, port 0 (bookmarks 0.2 s)
    storage             api_server.storage (the in-process Storage API)
    moto_server         session: sandbox.aws.MotoServer (moto's ELBv2/EC2 on loopback, warmed up)
    aws_endpoint        moto's URL; every AWS resource is reset after the test
    no_task_left_running  fails a test that leaves an asyncio task running (folders opt in with autouse)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from sandbox import aws
from sandbox.apiserver.server import ApiServer
from sandbox.apiserver.storage import Storage


@pytest.fixture
async def api_server() -> AsyncIterator[ApiServer]:
    server = ApiServer(bookmark_interval=0.2, watch_timeout=5.0)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def storage(api_server: ApiServer) -> Storage:
    return api_server.storage


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
async def no_task_left_running() -> AsyncIterator[None]:
    """Set up first, torn down last: a task our code left behind (a runaway retry, a stuck shared read) fails
    its test here instead of spinning on after it, where pytest-timeout can no longer stop it."""
    yield
    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in left:
        task.cancel()
    assert not left, f"tasks still running after the test: {left}"
