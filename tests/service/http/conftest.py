"""Fixtures for the HTTP endpoint tests: a fresh registry and health per test, the listeners on loopback
port 0, an aiohttp client session (the same client code path a kubelet or Prometheus exercises), and a
check that no test leaves a task running (a listener not cleaned up would)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from service import settings
from service.http import health, server

__all__: list[str] = []


@pytest.fixture(autouse=True)
def _no_task_left_running(no_task_left_running: None) -> None:
    """Every test here is checked by tests/conftest.py's no_task_left_running."""


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def probes() -> health.Health:
    return health.Health()


@pytest.fixture
def loopback() -> settings.HttpSettings:
    return settings.HttpSettings(metrics_port=0, healthz_port=0, host="127.0.0.1", debug_address=None)


@pytest.fixture
async def listeners(loopback: settings.HttpSettings, probes: health.Health,
                    registry: CollectorRegistry) -> AsyncIterator[server.Listeners]:
    async with server.serve(loopback, health=probes, registry=registry) as bound:
        yield bound


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session
