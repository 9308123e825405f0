"""Fixtures for the cluster behaviour tests: emulator + Cluster with fast readiness, and a client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from kubernetes_asyncio import client

from sandbox.apiserver.server import ApiServer
from sandbox.cluster import Cluster

POD_READY_SECONDS = 0.1

__all__ = ["POD_READY_SECONDS", "Env", "env"]


@dataclass
class Env:
    server: ApiServer
    cluster: Cluster
    api: client.ApiClient


@pytest.fixture
async def env(api_server: ApiServer) -> AsyncIterator[Env]:
    cluster = Cluster(api_server.storage, pod_ready_seconds=POD_READY_SECONDS)
    await cluster.start()
    async with client.ApiClient(client.Configuration(host=api_server.url)) as api:
        yield Env(api_server, cluster, api)
    await cluster.stop()
