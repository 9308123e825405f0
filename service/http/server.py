"""The probe and metrics listeners: `/healthz` and `/readyz` on --healthzPort, `/metrics` on --metricsPort.

Room: serve (HTTP). `serve` is an async context manager run beside the controller in the same loop: each
port gets an AppRunner and a TCPSite, started in order and cleaned up in reverse order, also when a later
one fails to bind. The same port for both serves all three paths. Probe traffic is not access-logged.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry

from service import settings
from service.http import health as health_module
from service.http import metrics

__all__ = ["SHUTDOWN_TIMEOUT_SECONDS", "ListenError", "Listeners", "build_app", "serve"]

SHUTDOWN_TIMEOUT_SECONDS = 5.0
"""How long a stopping listener lets an in-flight scrape or probe finish."""


class ListenError(OSError):
    """A port could not be opened; the message names the flag that chose it."""


@dataclass(frozen=True, slots=True)
class Listeners:
    """Where the listeners are bound (the real ports when 0 asked for any free one)."""

    host: str
    """The interface listened on."""
    healthz_port: int
    """Port of /healthz and /readyz."""
    metrics_port: int
    """Port of /metrics."""


def build_app(*, health: health_module.Health | None = None,
              registry: CollectorRegistry | None = None) -> web.Application:
    """An application with the probe routes (given `health`) and/or the metrics route (given `registry`)."""
    app = web.Application()
    if health is not None:
        app.router.add_get("/healthz", health.healthz)
        app.router.add_get("/readyz", health.readyz)
    if registry is not None:
        app.router.add_get("/metrics", metrics.handler(registry))
    return app


async def _listen(stack: AsyncExitStack, app: web.Application, host: str, port: int, flag: str) -> int:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, host, port, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS)
    try:
        await site.start()
    except OSError as exc:
        # asyncio's own text repeats the address; the errno's name is what the user needs.
        problem = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ListenError(exc.errno, f"cannot listen on {host}:{port} ({flag}): {problem}") from exc
    bound: int = runner.addresses[0][1]
    return bound


@asynccontextmanager
async def serve(http: settings.HttpSettings, *, health: health_module.Health,
                registry: CollectorRegistry) -> AsyncIterator[Listeners]:
    """Listen on the probe and metrics ports until the block ends; raises ListenError if a port is taken."""
    async with AsyncExitStack() as stack:
        if http.metrics_port == http.healthz_port and http.healthz_port != 0:
            port = await _listen(stack, build_app(health=health, registry=registry), http.host,
                                 http.healthz_port, "--healthzPort/--metricsPort")
            yield Listeners(http.host, port, port)
            return
        healthz = await _listen(stack, build_app(health=health), http.host, http.healthz_port,
                                "--healthzPort")
        metrics_port = await _listen(stack, build_app(registry=registry), http.host, http.metrics_port,
                                     "--metricsPort")
        yield Listeners(http.host, healthz, metrics_port)
