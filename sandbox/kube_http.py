"""A small Kubernetes API client over aiohttp with the sandbox's token: what the demos and the benchmark send.

Room: sandbox tools (not the controller, which uses kubernetes-asyncio). Each tool names itself in the
User-Agent, so the sandbox's request counts tell its requests from the controller's.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

__all__ = ["Kube"]


class Kube:
    """Just enough of the API: send, create, get, JSON patch and merge patch (optionally of status)."""

    def __init__(self, session: aiohttp.ClientSession, server: str, *, agent: str = "alb-rollouts-sandbox",
                 error: type[Exception] = RuntimeError) -> None:
        self.session = session
        self.server = server
        self.headers = {"Authorization": "Bearer sandbox", "User-Agent": agent}
        self._error = error

    async def send(self, method: str, path: str, body: Any = None, content_type: str = "application/json"
                   ) -> dict[str, Any]:
        """The answer's JSON; an HTTP error raises `error` with the method, path, status and message."""
        data = None if body is None else json.dumps(body)
        headers = {**self.headers, **({"Content-Type": content_type} if body is not None else {})}
        async with self.session.request(method, self.server + path, data=data, headers=headers) as reply:
            answer: dict[str, Any] = await reply.json(content_type=None)
            if reply.status >= 400:
                raise self._error(f"{method} {path}: HTTP {reply.status}: {answer.get('message', answer)}")
            return answer

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.send("POST", path, body)

    async def get(self, path: str) -> dict[str, Any]:
        return await self.send("GET", path)

    async def json_patch(self, path: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.send("PATCH", path, ops, "application/json-patch+json")

    async def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.send("PATCH", path, body, "application/merge-patch+json")
