"""Fixtures for the informer tests: the API emulator on loopback, a kubernetes-asyncio client pointed at it,
fast reflector timings, a sleep recorder, and a guard that no task outlives its test.

    api_server     sandbox.apiserver.server.ApiServer on 127.0.0.1:0 (bookmarks every 0.2 s, watches 5 s)
    storage        api_server.storage (the in-process hook to seed and change objects)
    api_client     kubernetes_asyncio ApiClient on api_server.url
    settings       WatchSettings scaled down for tests
    sleeps         a recording sleep: delays are noted, and the loop yields without waiting
    make_reflector builds reflectors on api_client and stops every one at teardown
    wire_tap       a loopback proxy in front of api_server that keeps each request's exact bytes (WireTap)
    tapped_client  kubernetes_asyncio ApiClient on wire_tap.url, with a bearer token
    registry       a fresh prometheus CollectorRegistry
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from kubernetes_asyncio import client
from prometheus_client import CollectorRegistry

from sandbox.apiserver.server import ApiServer
from service.kube import caches, resources, watching

__all__ = ["TOKEN", "Recorder", "SleepRecorder", "TappedRequest", "WireTap"]


@pytest.fixture(autouse=True)
def _no_task_left_running(no_task_left_running: None) -> None:
    """Every test here is checked by tests/conftest.py's no_task_left_running."""


@pytest.fixture
async def api_client(api_server: ApiServer) -> AsyncIterator[client.ApiClient]:
    async with client.ApiClient(client.Configuration(host=api_server.url)) as api:
        yield api


@pytest.fixture
def settings() -> watching.WatchSettings:
    return watching.WatchSettings(
        list_timeout=5.0,
        watch_timeout=5,
        watch_slack=2.0,
        backoff_initial=0.02,
        backoff_max=0.2,
        min_watch_seconds=0.3,
    )


class SleepRecorder:
    """Stands in for asyncio.sleep: remembers each delay and only yields to the loop."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0.001)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


class Recorder:
    """A handler that keeps every (type, old, new) it is told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = []

    def __call__(self, event_type: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        self.calls.append((event_type, old, new))

    def seen(self) -> list[tuple[str, str]]:
        """(type, "ns/name") of each call, in order."""
        return [(t, caches.object_key(new if new is not None else old or {})) for t, old, new in self.calls]


@pytest.fixture
async def make_reflector(
    api_client: client.ApiClient, settings: watching.WatchSettings
) -> AsyncIterator[Callable[..., watching.Reflector]]:
    made: list[watching.Reflector] = []

    def make(resource: resources.Resource = resources.SERVICES, **kwargs: Any) -> watching.Reflector:
        kwargs.setdefault("store", caches.Store())
        kwargs.setdefault("settings", settings)
        kwargs.setdefault("rng", random.Random(7))
        reflector = watching.Reflector(api_client, resource, **kwargs)
        made.append(reflector)
        return reflector

    yield make
    for reflector in made:
        await reflector.stop()


TOKEN = "sekret-token"


@dataclass(frozen=True, slots=True)
class TappedRequest:
    """One request as it crossed the wire."""

    method: str
    path: str
    content_type: str | None
    authorization: str | None
    body: bytes


class WireTap:
    """A loopback proxy that records every request's method, path, headers of note and exact body bytes."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[TappedRequest] = []
        self.url = ""
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers_in = request.headers
        self.requests.append(TappedRequest(request.method, request.path_qs, headers_in.get("Content-Type"),
                                           headers_in.get("Authorization"), body))
        skip = {"host", "content-length", "transfer-encoding"}
        headers = {k: v for k, v in request.headers.items() if k.lower() not in skip}
        assert self._session is not None
        async with self._session.request(request.method, self.upstream + request.path_qs, data=body or None,
                                         headers=headers) as answer:
            raw = await answer.read()
            kept = {k: answer.headers[k] for k in ("Content-Type", "Retry-After") if k in answer.headers}
            return web.Response(status=answer.status, body=raw, headers=kept)


@pytest.fixture
async def wire_tap(api_server: ApiServer) -> AsyncIterator[WireTap]:
    tap = WireTap(api_server.url)
    await tap.start()
    yield tap
    await tap.stop()


@pytest.fixture
async def tapped_client(wire_tap: WireTap) -> AsyncIterator[client.ApiClient]:
    configuration = client.Configuration(host=wire_tap.url)
    configuration.api_key = {"BearerToken": TOKEN}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    async with client.ApiClient(configuration) as api:
        yield api


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()
