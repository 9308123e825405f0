"""HTTP watch streams: one JSON event per line, resumable from a resourceVersion, with bookmarks and 410.

Part of the sandbox API emulator; it reads storage and its history, and never changes objects.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from sandbox.apiserver import errors, handlers, routing, selectors, storage, streams, tables

__all__ = ["serve_watch"]


def _line(event_type: str, obj: dict[str, Any]) -> bytes:
    return (json.dumps({"type": event_type, "object": obj}, separators=(",", ":")) + "\n").encode()


def _visible(route: routing.Route, obj: dict[str, Any], match: selectors.Matcher) -> bool:
    if route.namespace is not None and obj.get("metadata", {}).get("namespace") != route.namespace:
        return False
    return match(obj)


def _as_seen(route: routing.Route, event: streams.WatchEvent, match: selectors.Matcher) -> str | None:
    """The event type a filtered watcher sees: entering the selector is ADDED, leaving it DELETED."""
    now = _visible(route, event.object, match)
    if event.type != "MODIFIED" or event.previous is None:
        return event.type if now else None
    before = _visible(route, event.previous, match)
    if now:
        return "MODIFIED" if before else "ADDED"
    return "DELETED" if before else None


async def serve_watch(
    request: web.Request,
    route: routing.Route,
    store: storage.Storage,
    *,
    bookmark_interval: float,
    default_timeout: float,
    active: set[streams.Subscription],
    started: Callable[[int], None] = lambda status: None,
) -> web.StreamResponse:
    """Stream events for the route's collection until the timeout, a close, or the client leaving;
    `started(status)` is called once the response has begun."""
    query = request.query
    by_label = selectors.label_matcher(query.get("labelSelector"))
    by_field = selectors.field_matcher(query.get("fieldSelector"))

    def match(obj: dict[str, Any]) -> bool:
        return by_label(obj) and by_field(obj)

    raw_timeout = query.get("timeoutSeconds")
    try:
        timeout = float(raw_timeout) if raw_timeout else default_timeout
    except ValueError as exc:
        raise errors.bad_request(f"invalid timeoutSeconds: {raw_timeout!r}") from exc
    if timeout <= 0:
        timeout = default_timeout  # as upstream: zero means "the server's default"
    bookmarks = routing.is_true(query.get("allowWatchBookmarks"))
    initial_events = routing.is_true(query.get("sendInitialEvents"))
    rv = query.get("resourceVersion") or ""
    if rv and not rv.isdigit():
        raise errors.bad_request(f"invalid resource version: {rv!r}")

    # Subscribe before reading history/state: both are synchronous, so nothing can slip between them.
    sub = store.subscribe(route.info.key)
    backlog: list[tuple[str, dict[str, Any]]] = []
    failure: errors.ApiError | None = None
    if rv in ("", "0") or initial_events:
        objs = store.list(route.info.key, route.namespace)
        backlog = [("ADDED", o) for o in objs if match(o)]
        if initial_events:
            end = {
                "kind": route.info.kind,
                "apiVersion": route.api_version,
                "metadata": {
                    "resourceVersion": store.resource_version,
                    "annotations": {"k8s.io/initial-events-end": "true"},
                },
            }
            backlog.append(("BOOKMARK", end))
    else:
        try:
            for past in store.events_since(route.info.key, int(rv)):
                if (seen := _as_seen(route, past, match)) is not None:
                    backlog.append((seen, past.object))
        except errors.ApiError as exc:
            failure = exc

    as_table = tables.wants_table(request.headers.get("Accept", ""))
    columns = handlers.printer_columns(store, route) if as_table else None
    include = handlers.include_object(request) if as_table else "Metadata"

    def line(event_type: str, obj: dict[str, Any]) -> bytes:
        # kubectl's `get -w` asks for Tables: each event then carries a one-row Table.
        if as_table and event_type in ("ADDED", "MODIFIED", "DELETED"):
            rv = obj["metadata"]["resourceVersion"]
            obj = tables.as_table(route.info, [obj], rv, printer_columns=columns, include_object=include)
        return _line(event_type, obj)

    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    started(response.status)
    if failure is not None:
        sub.close()
        await response.write(_line("ERROR", failure.status()))
        await response.write_eof()
        return response

    active.add(sub)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    next_bookmark = loop.time() + bookmark_interval
    try:
        for event_type, obj in backlog:
            await response.write(line(event_type, obj))
        while True:
            now = loop.time()
            if now >= deadline:
                break
            wait = min(deadline, next_bookmark if bookmarks else deadline) - now
            try:
                ready = sub.ready()
                event = ready if ready is not None else await asyncio.wait_for(anext(sub), max(wait, 0))
            except TimeoutError:
                if bookmarks and loop.time() >= next_bookmark:
                    mark = {
                        "kind": route.info.kind,
                        "apiVersion": route.api_version,
                        "metadata": {"resourceVersion": store.resource_version},
                    }
                    await response.write(_line("BOOKMARK", mark))
                    next_bookmark = loop.time() + bookmark_interval
                continue
            except StopAsyncIteration:
                break
            if (seen := _as_seen(route, event, match)) is not None:
                await response.write(line(seen, event.object))
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away: nothing more to send
    finally:
        active.discard(sub)
        sub.close()
    return response
