"""Fixtures for the analysis provider tests: the real peers each provider talks to, all on loopback.

    prometheus        session: a real Prometheus (Debian's /usr/bin/prometheus) scraping, every second, an
                      exporter the tests set (prometheus_client's own HTTP server: a gauge and a counter)
    peer              a scripted aiohttp server (port 0): routes the test sets, every request recorded
    closed_port       a loopback port nothing listens on
    cw_session        an aiobotocore session with moto's fake credentials (moto itself: tests/conftest.py)
and a check that no test leaves an asyncio task running.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiobotocore.session import AioSession, get_session
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

__all__ = ["PROMETHEUS", "Peer", "PrometheusHarness", "Recorded"]

PROMETHEUS = shutil.which("prometheus")
_READY_WITHIN = 60.0


@pytest.fixture(autouse=True)
def _no_task_left_running(no_task_left_running: None) -> None:
    """Every test here is checked by tests/conftest.py's no_task_left_running."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def closed_port() -> int:
    return _free_port()


@dataclass
class PrometheusHarness:
    """The running Prometheus (`url`) and the exporter metrics it scrapes (labelled by `case`)."""

    url: str
    gauge: Gauge
    counter: Counter


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusHarness]:
    if PROMETHEUS is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    registry = CollectorRegistry()
    gauge = Gauge("analysis_test_gauge", "set by the tests", ["case"], registry=registry)
    counter = Counter("analysis_test", "incremented by the tests", ["case"], registry=registry)
    exporter, exporter_thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    home = tmp_path_factory.mktemp("prometheus")
    config = home / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: analysis\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter.server_port}']\n"
    )
    port = _free_port()
    log = (home / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={home / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, home / "prometheus.log")
        yield PrometheusHarness(url=url, gauge=gauge, counter=counter)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        exporter.shutdown()
        exporter_thread.join(timeout=5)


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Poll /-/ready until Prometheus serves (startup replays nothing here, so it takes a second or two)."""
    deadline = time.monotonic() + _READY_WITHIN
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"prometheus not ready after {_READY_WITHIN}s:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)  # a subprocess's readiness has no event to await: poll it


@dataclass(frozen=True)
class Recorded:
    """One request the peer received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, list[str]]
    body: bytes


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Peer:
    """A scripted HTTP server: `routes[path]` answers, `requests` records, `release` frees stalled ones."""

    url: str = ""
    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def json(self, path: str, payload: object, status: int = 200) -> None:
        async def answer(request: web.Request) -> web.StreamResponse:
            return web.json_response(payload, status=status)

        self.routes[path] = answer

    def text(self, path: str, body: str, status: int = 200) -> None:
        async def answer(request: web.Request) -> web.StreamResponse:
            return web.Response(text=body, status=status)

        self.routes[path] = answer

    def stall(self, path: str) -> None:
        """Answer `path` only once `release` is set (the fixture sets it at teardown)."""

        async def answer(request: web.Request) -> web.StreamResponse:
            await self.release.wait()
            return web.Response(text="too late")

        self.routes[path] = answer


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    scripted = Peer()

    async def dispatch(request: web.Request) -> web.StreamResponse:
        headers: dict[str, list[str]] = {}
        for key, value in request.headers.items():
            headers.setdefault(key.lower(), []).append(value)
        scripted.requests.append(Recorded(request.method, request.path, dict(request.query), headers,
                                          await request.read()))
        handler = scripted.routes.get(request.path)
        if handler is None:
            return web.Response(status=404, text="no route")
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", dispatch)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    scripted.url = f"http://{host}:{port}"
    yield scripted
    scripted.release.set()  # stalled handlers return before the runner waits for them
    await runner.cleanup()


@pytest.fixture
def cw_session() -> AioSession:
    session = get_session()
    session.set_credentials("testing", "testing")
    return session
