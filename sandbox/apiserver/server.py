"""The API emulator's HTTP server: one aiohttp app serving discovery, resources, watches and `/faults`.

Part of the sandbox API emulator; it runs in the caller's event loop and never reaches beyond loopback.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import Callable

from aiohttp import web

from sandbox.apiserver import (
    discovery,
    errors,
    faults,
    handlers,
    openapi,
    routing,
    storage,
    streams,
    watching,
)

__all__ = ["ApiServer"]

_LOG_LIMIT = 20_000


class ApiServer:
    """In-memory Kubernetes API on loopback; `storage` and `faults` are the test hooks."""

    def __init__(
        self,
        *,
        storage: storage.Storage | None = None,
        bookmark_interval: float = 1.0,
        watch_timeout: float = 30.0,
    ) -> None:
        self.storage = storage if storage is not None else _new_storage()
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self.faults = faults.Faults(close_watches=self.close_watches, compact=self._compact)
        self.openapi = openapi.OpenApi(self.storage)
        self.url = ""
        self._watches: set[streams.Subscription] = set()
        self.requests: collections.Counter[tuple[str, str]] = collections.Counter()
        """Requests served, per (client, "<verb> <resource>[/<subresource>]"); the client is the User-Agent's
        first product name."""
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"

    @property
    def open_watches(self) -> int:
        """How many HTTP watch streams are being served right now."""
        return len(self._watches)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port (0 picks a free port) and set `url`."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self._host = host
        self.url = f"http://{host}:{bound_port}"

    async def stop(self) -> None:
        """Close every watch, then stop listening."""
        self.close_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def close_watches(self) -> int:
        closing = list(self._watches)
        for sub in closing:
            sub.close()
        return len(closing)

    def _compact(self) -> str:
        self.storage.compact()
        return self.storage.resource_version

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """Every request: route it, apply injected latency and failures, serve it, log it."""
        route: routing.Route | None = None
        status = 500
        logged = False

        def started(answered: int) -> None:
            # A watch is logged when its stream begins, as an audit log's ResponseStarted stage: it lasts
            # until its timeout, and a reader of the log must not miss the watches still open.
            nonlocal logged
            logged = True
            self._log(request, route, answered)

        try:
            watch = routing.is_true(request.query.get("watch"))
            route = routing.parse(self.storage.registry, request.method, request.path, watch)
            verb = route.verb if route else request.method.lower()
            plural = route.info.plural if route else None
            key = route.info.key if route else None
            # The fault hooks' own endpoint is never slowed down or failed.
            delay = self.faults.delay_for(verb, plural, key) if request.path != "/faults" else 0.0
            if delay > 0:
                await asyncio.sleep(delay)
            failure = self.faults.take_failure(verb, plural, key) if route else None
            if failure is not None:
                raise failure
            response = await self._serve(request, route, started)
            status = response.status
            return response
        except errors.ApiError as exc:
            status = exc.code
            headers = {"Retry-After": str(int(exc.retry_after))} if exc.retry_after is not None else None
            return handlers.json_response(exc.status(), status=exc.code, headers=headers)
        except Exception as exc:  # a bug in the emulator must still answer with a Status body
            logging.getLogger(__name__).exception("emulator failure")
            body = errors.status_body(500, "InternalError", f"emulator error: {exc!r}")
            return handlers.json_response(body, 500)
        finally:
            if not logged:
                self._log(request, route, status)

    def _log(self, request: web.Request, route: routing.Route | None, status: int) -> None:
        agent = request.headers.get("User-Agent", "").partition("/")[0].strip() or "-"
        what = f"{route.verb} {route.info.plural}" if route else request.method.lower()
        if route and route.subresource:
            what += f"/{route.subresource}"
        self.requests[(agent, what)] += 1
        log = self.faults.request_log
        if len(log) >= _LOG_LIMIT:
            del log[: _LOG_LIMIT // 2]
        log.append(
            faults.RequestRecord(
                method=request.method,
                path=request.path,
                query=request.query_string,
                verb=route.verb if route else request.method.lower(),
                resource=route.info.key if route else None,
                namespace=route.namespace if route else None,
                name=route.name if route else None,
                subresource=route.subresource if route else None,
                content_type=request.headers.get("Content-Type"),
                status=status,
            )
        )

    async def _serve(self, request: web.Request, route: routing.Route | None,
                     started: Callable[[int], None]) -> web.StreamResponse:
        if route is None:
            if request.path == "/faults":
                return await self._faults(request)
            if request.method != "GET":
                raise errors.method_not_allowed()
            if request.path.startswith("/openapi/"):
                body, content_type = self.openapi.serve(request.path, request.headers.get("Accept", ""))
                return web.Response(body=body, headers={"Content-Type": content_type})
            host = request.host or self._host
            return handlers.json_response(discovery.discover(self.storage.registry, request.path, host))
        if route.verb == "watch":
            return await watching.serve_watch(
                request,
                route,
                self.storage,
                bookmark_interval=self.bookmark_interval,
                default_timeout=self.watch_timeout,
                active=self._watches,
                started=started,
            )
        return await handlers.serve_resource(request, route, self.storage)

    async def _faults(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            return handlers.json_response(self.faults.describe())
        if request.method == "POST":
            raw = await request.read()
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError as exc:
                raise errors.bad_request(f"faults: invalid JSON: {exc}") from exc
            return handlers.json_response(self.faults.configure(body))
        raise errors.method_not_allowed()


def _new_storage() -> storage.Storage:
    return storage.Storage()
