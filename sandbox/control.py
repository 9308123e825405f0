"""The sandbox's control endpoint (aiohttp on loopback): LBC knobs, API fault hooks and the traffic probe.

    POST /lbc      {"lagSeconds": S, "paused": bool, "rejectActions": bool, "targetRegistrationSeconds": S,
                    "targetInitialSeconds": S, "deregistrationDelaySeconds": S} -> the knobs in force
    GET  /lbc                                                              -> the knobs in force
    POST /faults   the API server's fault-hook JSON                        -> what was applied
    POST /traffic  {"failingHashes": {"<pod-template-hash>": share}, "recordMetrics": bool,
                    "recordResponseTimes": bool}                           -> the traffic knobs in force
    GET  /traffic?requests=N&ingress=<ns>/<name>[&seed=S]  -> {"requests", "failed", "byService"} (and
                   "target5xx", "target5xxByService" when a failing pod answered 5xx)
    GET  /stats[?weights=<prefix>]  -> {"awsCalls": {Action: n} (clients only, not the sandbox's own),
                   "apiRequests": {client: {"<verb> <resource>": n}},
                   "weights": {TG resource id: [[wall s, weight]...]},
                   "serving": {"<ns>/<service>": [wall s when its new targets became healthy...]}}
                   (weights and serving only for keys starting with the prefix; none without it)

It forwards to the LBC simulator, the API server's Faults, the probe and the CloudWatch recorder; its only
state is the traffic knobs (`traffic_knobs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sandbox import alb_metrics, aws, traffic
from sandbox.apiserver import faults as faulting
from sandbox.apiserver import storage as storing
from sandbox.lbc import LoadBalancerController

__all__ = ["ControlServer"]

_MAX_REQUESTS = 1_000_000
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except json.JSONDecodeError as err:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"body is not JSON: {err}"}),
                                 content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "body must be a JSON object"}),
                                 content_type="application/json")
    return body


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown paths and methods answer in the same `{"error": ...}` shape as the handlers' own errors."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json":
            raise
        return _error(exc.status, f"{request.method} {request.path}: {exc.reason}")


class ControlServer:
    """Serves the control API for one running sandbox."""

    def __init__(self, *, lbc: LoadBalancerController, faults: faulting.Faults, storage: storing.Storage,
                 endpoint_url: str, region: str = aws.REGION,
                 api_requests: Counter[tuple[str, str]] | None = None,
                 aws_calls: Counter[str] | None = None) -> None:
        self._lbc = lbc
        self._api_requests = api_requests if api_requests is not None else Counter()
        self._aws_calls = aws_calls if aws_calls is not None else Counter()
        self._faults = faults
        self._storage = storage
        self._endpoint_url = endpoint_url
        self._region = region
        self._exit = contextlib.AsyncExitStack()
        self._elbv2: Any = None
        self._cloudwatch: Any = None
        self._opening = asyncio.Lock()
        self.traffic_knobs = alb_metrics.TrafficKnobs()
        self._lookups = traffic.Lookups()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._elbv2 = await self._exit.enter_async_context(
            aws.client("elbv2", self._endpoint_url, region=self._region)
        )
        app = web.Application(middlewares=[_json_errors])
        app.router.add_post("/lbc", self._post_lbc)
        app.router.add_get("/lbc", self._get_lbc)
        app.router.add_post("/faults", self._post_faults)
        app.router.add_get("/traffic", self._get_traffic)
        app.router.add_post("/traffic", self._post_traffic)
        app.router.add_get("/stats", self._get_stats)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.url = f"http://{host}:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._exit.aclose()
        self._elbv2 = self._cloudwatch = None

    async def _post_lbc(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(self._lbc.configure(await _body(request)))
        except ValueError as err:
            return _error(400, str(err))

    async def _get_lbc(self, request: web.Request) -> web.Response:
        return web.json_response(self._lbc.knobs.as_dict())

    async def _post_faults(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(self._faults.configure(await _body(request)))
        except storing.ApiError as err:  # the API server's own Status body, as POST /faults there answers
            return web.json_response(err.status(), status=err.code)

    async def _get_traffic(self, request: web.Request) -> web.Response:
        ingress = request.query.get("ingress", "")
        namespace, _, name = ingress.partition("/")
        if not namespace or not name:
            return _error(400, "ingress must be <namespace>/<name>")
        try:
            count = int(request.query.get("requests", "100"))
            seed = int(request.query.get("seed", "0"))
        except ValueError:
            return _error(400, "requests and seed must be integers")
        if not 0 < count <= _MAX_REQUESTS:
            return _error(400, f"requests must be between 1 and {_MAX_REQUESTS}")
        knobs = self.traffic_knobs
        result = await traffic.probe(self._storage, self._elbv2, namespace, name, requests=count, seed=seed,
                                     failing=knobs.failing_hashes, lookups=self._lookups)
        if knobs.record_metrics:
            await alb_metrics.record(await self._cloudwatch_client(), result, at=datetime.now(UTC),
                                     response_times=knobs.record_response_times)
        return web.json_response(result.as_dict())

    async def _post_traffic(self, request: web.Request) -> web.Response:
        try:
            self.traffic_knobs = self.traffic_knobs.configure(await _body(request))
        except ValueError as err:
            return _error(400, str(err))
        return web.json_response(self.traffic_knobs.as_dict())

    async def _get_stats(self, request: web.Request) -> web.Response:
        clients: dict[str, dict[str, int]] = {}
        for (agent, what), count in self._api_requests.items():
            clients.setdefault(agent, {})[what] = count
        prefix = request.query.get("weights")
        weights = self._lbc.weights.changes(prefix) if prefix else {}
        serving = self._lbc.serving.times(prefix) if prefix else {}
        return web.json_response({"awsCalls": dict(self._aws_calls), "apiRequests": clients,
                                  "weights": weights, "serving": serving})

    async def _cloudwatch_client(self) -> Any:
        """The CloudWatch client, opened on the first recording (most sandboxes never record)."""
        async with self._opening:
            if self._cloudwatch is None:
                self._cloudwatch = await self._exit.enter_async_context(
                    aws.client("cloudwatch", self._endpoint_url, region=self._region))
            return self._cloudwatch
