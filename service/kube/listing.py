"""LIST and WATCH of one collection over kubernetes-asyncio's ApiClient, as raw JSON objects.

Room: observe. One HTTP call each, after a token of the --qps/--burst limiter when one is given (a WATCH takes
one when its stream starts), with a client deadline; no retries, no caching, no decisions (those belong to
service.kube.watching). Errors surface as `ApiException` with the server's status code, whether the server
answered with an HTTP error or with an ERROR event inside the stream; `retry_after` reads its Retry-After.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from multidict import CIMultiDictProxy

from service.kube import caches, decoding, resources, throttling

__all__ = [
    "BOOKMARK",
    "ERROR",
    "Listing",
    "WatchEvent",
    "list_collection",
    "parse_event",
    "retry_after",
    "watch_collection",
]

BOOKMARK = "BOOKMARK"
ERROR = "ERROR"
_AUTH = ["BearerToken"]
_ACCEPT = {"Accept": "application/json"}


@dataclass(frozen=True, slots=True)
class Listing:
    """One LIST answer: the items and the collection's resourceVersion to watch from."""

    items: list[caches.RawObject]
    resource_version: str


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One watch line: ADDED, MODIFIED, DELETED or BOOKMARK, with its object as sent."""

    type: str
    object: caches.RawObject


def _query(label_selector: str | None, **params: str) -> list[tuple[str, str]]:
    query = [("labelSelector", label_selector)] if label_selector else []
    return query + list(params.items())


def _status_error(status: int, body: Any, fallback: str,
                  headers: CIMultiDictProxy[str] | None = None) -> ApiException:
    """An ApiException from a Kubernetes Status body (or whatever came instead), keeping body and headers."""
    if isinstance(body, dict):
        reason = f"{body.get('reason') or fallback}: {body.get('message') or ''}".rstrip(": ")
    else:
        reason = fallback
    error = ApiException(status=status, reason=reason)
    error.body = body  # as an HTTP error's: retry_after() reads a Status's details.retryAfterSeconds there
    error.headers = headers
    return error


def retry_after(error: ApiException) -> float | None:
    """Seconds the server asked us to wait before the next LIST or WATCH (Retry-After, retryAfterSeconds)."""
    return throttling.retry_after_seconds(getattr(error, "headers", None), getattr(error, "body", None))


def _url(api: client.ApiClient, path: str, query: list[tuple[str, str]]) -> str:
    url = f"{api.configuration.host}{path}"
    return f"{url}?{urlencode(query)}" if query else url


async def list_collection(
    api: client.ApiClient,
    resource: resources.Resource,
    *,
    namespace: str | None = None,
    label_selector: str | None = None,
    deadline: float,
    limiter: throttling.RequestLimiter | None = None,
) -> Listing:
    """GET the collection; ApiException on an HTTP error, TimeoutError past `deadline` seconds.

    The `limiter`'s token (None: no limit) is awaited first; `deadline` starts after it.
    """
    path, query = resource.collection_path(namespace), _query(label_selector)
    if limiter is not None:
        await limiter.wait("GET", _url(api, path, query))
    body = await api.call_api(
        path,
        "GET",
        query_params=query,
        header_params=dict(_ACCEPT),
        response_types_map={200: "object"},
        auth_settings=_AUTH,
        _return_http_data_only=True,
        _preload_content=True,
        _request_timeout=deadline,
    )
    if not isinstance(body, dict) or not isinstance(body.get("items", []), list):
        raise _status_error(500, body, "malformed list answer")
    items = [decoding.shared(item) for item in body.get("items") or [] if isinstance(item, dict)]
    for item in items:
        # Items of a List carry no apiVersion/kind of their own; watch events do. Keep both shapes alike.
        item.setdefault("apiVersion", resource.api_version)
        item.setdefault("kind", resource.kind)
    return Listing(items=items, resource_version=caches.resource_version_of(body))


async def watch_collection(
    api: client.ApiClient,
    resource: resources.Resource,
    *,
    resource_version: str,
    namespace: str | None = None,
    label_selector: str | None = None,
    server_timeout: int,
    deadline: float,
    limiter: throttling.RequestLimiter | None = None,
) -> AsyncGenerator[WatchEvent, None]:
    """Stream events after `resource_version` with bookmarks, until the server ends the stream.

    The stream starts once the `limiter` gave a token (None: no limit); the whole stream costs that one.
    The server is asked to end it after `server_timeout` seconds; the client gives up (TimeoutError) after
    `deadline` seconds in all, counted from the start. An ERROR event or an HTTP error raises ApiException
    with the Status code (410 when the resourceVersion is too old) and any Retry-After (see `retry_after`).
    Close the generator (`contextlib.aclosing`) to drop the connection.
    """
    query = _query(
        label_selector,
        watch="true",
        allowWatchBookmarks="true",
        resourceVersion=resource_version,
        timeoutSeconds=str(server_timeout),
    )
    path = resource.collection_path(namespace)
    if limiter is not None:
        await limiter.wait("GET", _url(api, path, query))
    response: aiohttp.ClientResponse = await api.call_api(
        path,
        "GET",
        query_params=query,
        header_params=dict(_ACCEPT),
        auth_settings=_AUTH,
        _preload_content=False,
        _request_timeout=aiohttp.ClientTimeout(total=deadline),
    )
    try:
        if not 200 <= response.status <= 299:
            raw = await response.read()
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            raise _status_error(response.status, body, response.reason or "HTTP error", response.headers)
        while line := await response.content.readline():
            if not line.strip():
                continue
            yield parse_event(decoding.loads(line))
    finally:
        response.close()


def parse_event(raw: Any) -> WatchEvent:
    """A decoded watch line as an event; ApiException for an ERROR event, a bare Status or a bad line."""
    if not isinstance(raw, dict):
        raise _status_error(500, raw, "malformed watch event")
    event_type, obj = raw.get("type"), raw.get("object")
    if event_type == ERROR or (event_type is None and "code" in raw):
        status = obj if isinstance(obj, dict) else raw
        code = status.get("code")
        raise _status_error(code if isinstance(code, int) else 500, status, "watch error")
    if not isinstance(event_type, str) or not isinstance(obj, dict):
        raise _status_error(500, raw, "malformed watch event")
    return WatchEvent(type=event_type, object=obj)
