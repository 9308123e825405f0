"""The debug API on --debug-address: what the controller thinks of each Rollout, and its state machine.

Room: serve (HTTP). Read-only JSON (SPEC §4.10):

    GET /rollouts               {"leading": bool, "rollouts": [{"key": "ns/name", "state": "..."}]}
    GET /rollouts/<ns>/<name>   the reconciler's description: state, last transitions with their reasons and
                                their effects' outcomes (Ingresses patched, what AWS answered),
                                what AWS last reported, when it is looked at next (404 when unknown);
                                blue-green adds `blueGreen`: each Service's selected hash ("*" widened)
                                and endpoints, the status selectors, each ReplicaSet's role and deadline
    GET /machine                {"states": [...], "transitions": [{"trigger", "source", "dest", "conditions",
                                "effects"}]}: the table, each row with its guards and its effects in order
    GET /memory                 where the controller's Python memory was allocated, by source line
                                ({"tracedBytes", "top": [{"where", "bytes", "count"}]}); only when started
                                with PYTHONTRACEMALLOC=1 (tracing slows every allocation), else 409

The reconciler exists only while this replica leads, so the API reads it through a callable; a standby
answers `leading: false` and an empty list. It never changes anything and never calls the API server or AWS.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import tracemalloc
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import structlog
from aiohttp import web

from service.http import server
from statemachine import machine, states

__all__ = ["Describing", "ReconcilerSource", "build_app", "memory_report", "serve", "to_json"]

log = structlog.get_logger(__name__)


class Describing(Protocol):
    """What the debug API reads from the reconciler (service.reconciling.Reconciler honours it)."""

    def describe(self, key: str) -> Mapping[str, Any] | None:
        """The Rollout's state and history, or None when it is not known."""
        ...

    def keys(self) -> list[str]:
        """Keys ("ns/name") of every Rollout with a machine model."""
        ...

    def unserved(self) -> Mapping[str, str]:
        """Rollouts of our instance left to another controller, and the strategy we do not serve."""
        ...


ReconcilerSource = Callable[[], Describing | None]
"""Returns the running reconciler, or None while this replica does not lead."""


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


def to_json(body: Any) -> str:
    """JSON text of `body`; enums by name, datetimes in ISO 8601, dataclasses as objects, the rest by repr."""
    return json.dumps(body, default=_plain, sort_keys=False)


def _reply(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=to_json(body), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _reply({"error": message}, status)


def build_app(source: ReconcilerSource) -> web.Application:
    """The debug routes on one application."""

    async def rollouts(request: web.Request) -> web.Response:
        reconciler = source()
        if reconciler is None:
            return _reply({"leading": False, "rollouts": [], "unserved": []})
        listed = []
        for key in sorted(reconciler.keys()):
            try:
                description = reconciler.describe(key) or {}
            except Exception:  # one odd model must not hide the others
                log.warning("debug API: cannot describe a rollout", key=key, exc_info=True)
                description = {}
            listed.append({"key": key, "state": description.get("state")})
        unserved = [{"key": key, "strategy": what} for key, what in sorted(reconciler.unserved().items())]
        return _reply({"leading": True, "rollouts": listed, "unserved": unserved})

    async def rollout(request: web.Request) -> web.Response:
        key = f"{request.match_info['namespace']}/{request.match_info['name']}"
        reconciler = source()
        if reconciler is None:
            return _error(503, "this replica does not lead: it keeps no rollout state (ask the leader)")
        try:
            description = reconciler.describe(key)
        except Exception as exc:
            log.warning("debug API: cannot describe a rollout", key=key, exc_info=True)
            return _error(500, f"cannot describe rollout {key}: {type(exc).__name__}: {exc}")
        if description is None:
            return _error(404, f"rollout {key} is not known to the controller")
        return _reply(description)

    async def state_machine(request: web.Request) -> web.Response:
        return _reply({"states": [state.name for state in states.States], "transitions": machine.describe()})

    async def memory(request: web.Request) -> web.Response:
        if not tracemalloc.is_tracing():
            return _error(409, "memory is not traced: start the controller with PYTHONTRACEMALLOC=1")
        try:
            limit = int(request.query.get("top", "40"))
        except ValueError:
            return _error(400, "top must be an integer")
        return _reply(memory_report(limit))

    app = web.Application()
    app.router.add_get("/rollouts", rollouts)
    app.router.add_get("/memory", memory)
    app.router.add_get("/rollouts/{namespace}/{name}", rollout)
    app.router.add_get("/machine", state_machine)
    return app


def memory_report(limit: int) -> dict[str, Any]:
    """The `limit` source lines holding the most traced memory now."""
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    stats = snapshot.statistics("lineno")
    top = [{"where": f"{stat.traceback[0].filename}:{stat.traceback[0].lineno}", "bytes": stat.size,
            "count": stat.count} for stat in stats[:max(limit, 0)]]
    return {"tracedBytes": sum(stat.size for stat in stats), "top": top}


@asynccontextmanager
async def serve(address: tuple[str, int], source: ReconcilerSource) -> AsyncIterator[int]:
    """Serve the debug API on `address` until the block ends; yields the bound port (ListenError if taken)."""
    host, port = address
    runner = web.AppRunner(build_app(source), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, shutdown_timeout=server.SHUTDOWN_TIMEOUT_SECONDS)
        try:
            await site.start()
        except OSError as exc:
            problem = os.strerror(exc.errno) if exc.errno else str(exc)
            raise server.ListenError(exc.errno, f"cannot listen on {host}:{port} (--debug-address): "
                                     f"{problem}") from exc
        bound: int = runner.addresses[0][1]
        yield bound
    finally:
        await runner.cleanup()
