"""Fixtures for the API emulator's conformance tests: the server on loopback and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client

from sandbox.apiserver.server import ApiServer

__all__ = ["api_client", "kube_api"]


@pytest.fixture
def kube_api(api_server: ApiServer) -> ApiServer:
    """The shared `api_server` fixture (tests/sandbox/conftest.py) under the name these tests use."""
    return api_server


@pytest.fixture
async def api_client(api_server: ApiServer) -> AsyncIterator[client.ApiClient]:
    async with client.ApiClient(client.Configuration(host=api_server.url)) as api:
        yield api
