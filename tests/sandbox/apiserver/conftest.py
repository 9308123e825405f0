"""Fixtures for the API emulator's conformance tests: the server on loopback, a client and kubectl on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kubernetes_asyncio import client

from sandbox.apiserver.server import ApiServer
from tests.sandbox.apiserver.kubectl import Kubectl

__all__ = ["api_client", "kube_api", "kubectl"]


@pytest.fixture
def kube_api(api_server: ApiServer) -> ApiServer:
    """The shared `api_server` fixture (tests/sandbox/conftest.py) under the name these tests use."""
    return api_server


@pytest.fixture
async def api_client(api_server: ApiServer) -> AsyncIterator[client.ApiClient]:
    async with client.ApiClient(client.Configuration(host=api_server.url)) as api:
        yield api


@pytest.fixture
def kubectl(api_server: ApiServer, tmp_path: Path) -> Kubectl:
    """The real kubectl against `api_server` (tests using it carry `needs_kubectl`)."""
    return Kubectl(tmp_path, api_server.url)
