"""The benchmark's view of the Kubernetes API: writes, and watches that stamp each event with its arrival.

Room: the benchmark. Plain aiohttp with the sandbox's token; the User-Agent `alb-rollouts-bench` keeps the
benchmark's own requests apart from the controller's in the sandbox's counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from sandbox.kube_http import Kube

__all__ = ["AGENT", "Kube", "Watch", "client"]

AGENT = "alb-rollouts-bench"
Handler = Callable[[dict[str, Any], float], None]


def client(session: aiohttp.ClientSession, server: str) -> Kube:
    """The benchmark's client: its requests are counted apart from the controller's."""
    return Kube(session, server, agent=AGENT)


class Watch:
    """Follows one collection from a LIST onward, re-watching from the last resourceVersion when a stream
    ends; `handler(object, wall seconds)` runs for every object it sees, as soon as it arrives."""

    def __init__(self, kube: Kube, path: str, handler: Handler) -> None:
        self._kube = kube
        self._path = path
        self._handler = handler
        self._task: asyncio.Task[None] | None = None
        self.events = 0

    async def start(self) -> None:
        listed = await self._kube.send("GET", self._path)
        for item in listed.get("items") or []:
            self._handler(item, time.time())
        version = str((listed.get("metadata") or {}).get("resourceVersion", ""))
        self._task = asyncio.create_task(self._follow(version), name=f"bench-watch {self._path}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self, version: str) -> None:
        while True:
            url = (f"{self._kube.server}{self._path}?watch=1&allowWatchBookmarks=true"
                   f"&resourceVersion={version}")
            try:
                async with self._kube.session.get(url, headers=self._kube.headers,
                                                  timeout=aiohttp.ClientTimeout(total=None)) as reply:
                    if reply.status == 410:
                        raise RuntimeError(f"watch of {self._path} expired; the benchmark cannot go on")
                    async for line in reply.content:
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        obj = event.get("object") or {}
                        version = str((obj.get("metadata") or {}).get("resourceVersion", version))
                        if event.get("type") == "ERROR":
                            raise RuntimeError(f"watch of {self._path}: {obj.get('message', obj)}")
                        if event.get("type") != "BOOKMARK":
                            self.events += 1
                            self._handler(obj, time.time())
            except (TimeoutError, aiohttp.ClientError):
                await asyncio.sleep(0.1)  # the sandbox closed the stream; go on from `version`
