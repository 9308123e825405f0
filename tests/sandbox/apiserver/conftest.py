"""Fixtures for the API emulator's conformance tests: the server on loopback and clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client

from sandbox.apiserver.server import ApiServer


@pytest.fixture
async def kube_api() -> AsyncIterator[ApiServer]:
    server = ApiServer(bookmark_interval=0.2, watch_timeout=5.0)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def api_client(kube_api: ApiServer) -> AsyncIterator[client.ApiClient]:
    async with client.ApiClient(client.Configuration(host=kube_api.url)) as api:
        yield api
