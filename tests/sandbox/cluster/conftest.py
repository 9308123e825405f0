"""Fixtures for the cluster behaviour tests: emulator + Cluster with fast readiness, and a client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from kubernetes_asyncio import client

from sandbox.apiserver.server import ApiServer
from sandbox.cluster import Cluster

POD_READY_SECONDS = 0.1


@dataclass
class Env:
    server: ApiServer
    cluster: Cluster
    api: client.ApiClient


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    server = ApiServer(bookmark_interval=0.2, watch_timeout=5.0)
    await server.start()
    cluster = Cluster(server.storage, pod_ready_seconds=POD_READY_SECONDS)
    await cluster.start()
    async with client.ApiClient(client.Configuration(host=server.url)) as api:
        yield Env(server, cluster, api)
    await cluster.stop()
    await server.stop()
