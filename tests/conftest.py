"""Shared test configuration: the fixtures every topic uses. Topic fixtures live in each folder's conftest.py.

    api_server    sandbox.apiserver.server.ApiServer on 127.0.0.1, port 0 (fast bookmarks, 5 s watch timeout)
    storage       api_server.storage (the in-process Storage API)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

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
