"""Emulator watch streams through kubernetes-asyncio and raw HTTP.

Covers: one compact JSON event per line, synthetic ADDED from RV 0, resume from a resourceVersion, DELETED
carrying a new RV, label selector and namespace filtering, bookmarks carrying the current RV, timeoutSeconds,
the server's default timeout, 410 Expired after compaction followed by a working re-list, `sendInitialEvents`
with its end bookmark, and a bad resourceVersion.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from sandbox.apiserver.server import ApiServer
from tests.sandbox.polling import DEADLINE, until


async def collect(stream_fn, *args, count: int, **kwargs) -> list[tuple[str, str]]:
    """(type, name-or-rv) of the first `count` events."""
    seen: list[tuple[str, str]] = []
    async with watch.Watch() as w:
        async for ev in w.stream(stream_fn, *args, **kwargs):
            meta = ev["raw_object"]["metadata"]
            seen.append((ev["type"], meta.get("name") or meta["resourceVersion"]))
            if len(seen) >= count:
                w.stop()
    return seen


def cm(name: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels}}


async def test_watch_from_zero_lists_current_objects_first(api_client):
    core = client.CoreV1Api(api_client)
    await core.create_namespaced_config_map("default", cm("a"))
    got = await collect(core.list_namespaced_config_map, "default", count=1, timeout_seconds=2)
    assert got == [("ADDED", "a")]


async def test_watch_resumes_from_resource_version(api_client):
    core = client.CoreV1Api(api_client)
    await core.create_namespaced_config_map("default", cm("old"))
    rv = (await core.list_namespaced_config_map("default")).metadata.resource_version
    await core.create_namespaced_config_map("default", cm("a"))
    await core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    await core.delete_namespaced_config_map("a", "default")
    got = await collect(
        core.list_namespaced_config_map, "default", count=3, resource_version=rv, timeout_seconds=2
    )
    assert got == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


async def test_live_events_filtered_by_label_and_namespace(api_client):
    core = client.CoreV1Api(api_client)
    await core.create_namespace({"metadata": {"name": "other"}})
    rv = (await core.list_namespaced_config_map("default")).metadata.resource_version

    async def writer() -> None:
        await core.create_namespaced_config_map("other", cm("elsewhere", app="x"))
        await core.create_namespaced_config_map("default", cm("unlabelled"))
        await core.create_namespaced_config_map("default", cm("wanted", app="x"))

    task = asyncio.create_task(writer())
    got = await collect(
        core.list_namespaced_config_map, "default", count=1, resource_version=rv, label_selector="app=x",
        timeout_seconds=2,
    )
    await task
    assert got == [("ADDED", "wanted")]


async def test_bookmarks_carry_current_resource_version(api_client, kube_api):
    core = client.CoreV1Api(api_client)
    rv = (await core.list_namespaced_config_map("default")).metadata.resource_version
    got = await collect(
        core.list_namespaced_config_map, "default", count=1, resource_version=rv, allow_watch_bookmarks=True,
        timeout_seconds=2,
    )
    assert got == [("BOOKMARK", kube_api.storage.resource_version)]


async def test_timeout_seconds_ends_stream():
    # The server default (60 s here) is far away, so only the client's timeoutSeconds can end the stream.
    server = ApiServer(watch_timeout=60.0)
    await server.start()
    try:
        async with client.ApiClient(client.Configuration(host=server.url)) as api:
            core = client.CoreV1Api(api)
            loop = asyncio.get_running_loop()
            started = loop.time()
            async with watch.Watch() as w:
                stream = w.stream(core.list_namespaced_config_map, "default", timeout_seconds=1)
                events = [ev async for ev in stream]
            assert events == []
            assert 0.9 <= loop.time() - started < DEADLINE
    finally:
        await server.stop()


async def test_server_default_timeout_ends_stream():
    server = ApiServer(watch_timeout=0.3)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            url = f"{server.url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1"
            async with http.get(url) as resp:
                body = await asyncio.wait_for(resp.read(), DEADLINE)
        assert (resp.status, body) == (200, b"")
    finally:
        await server.stop()


async def test_compacted_resource_version_is_410_then_relist_works(api_client, kube_api):
    core = client.CoreV1Api(api_client)
    rv = (await core.list_namespaced_config_map("default")).metadata.resource_version
    await core.create_namespaced_config_map("default", cm("a"))
    kube_api.faults.compact()
    with pytest.raises(ApiException) as err:
        await collect(
            core.list_namespaced_config_map, "default", count=1, resource_version=rv, timeout_seconds=2
        )
    assert err.value.status == 410
    fresh = await core.list_namespaced_config_map("default")
    assert [i.metadata.name for i in fresh.items] == ["a"]
    await core.create_namespaced_config_map("default", cm("b"))
    got = await collect(
        core.list_namespaced_config_map, "default", count=1, resource_version=fresh.metadata.resource_version,
        timeout_seconds=2,
    )
    assert got == [("ADDED", "b")]


async def test_wire_format_error_line_and_initial_events(kube_api):
    kube_api.storage.create("configmaps", cm("a"))
    old = "1"
    kube_api.faults.compact()
    base = f"{kube_api.url}/api/v1/namespaces/default/configmaps"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}?watch=1&resourceVersion={old}") as resp:
            lines = (await resp.read()).decode().splitlines()
        assert resp.headers["Content-Type"] == "application/json"
        assert [json.loads(line) for line in lines] == [
            {
                "type": "ERROR",
                "object": {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": f"too old resource version: 1 ({kube_api.storage.resource_version})",
                    "reason": "Expired",
                    "code": 410,
                },
            }
        ]
        url = f"{base}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&timeoutSeconds=0.5"
        async with http.get(url) as resp:
            events = [json.loads(line) for line in (await resp.read()).decode().splitlines()]
        assert [e["type"] for e in events[:2]] == ["ADDED", "BOOKMARK"]
        assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        async with http.get(f"{base}?watch=true&resourceVersion=abc") as resp:
            assert resp.status == 400


async def test_close_watches_ends_open_streams(api_client, kube_api):
    core = client.CoreV1Api(api_client)
    rv = (await core.list_namespaced_config_map("default")).metadata.resource_version

    async def consume() -> list[dict]:
        async with watch.Watch() as w:
            return [ev async for ev in w.stream(core.list_namespaced_config_map, "default",
                                                resource_version=rv, timeout_seconds=10)]

    task = asyncio.create_task(consume())
    await until(lambda: kube_api.open_watches, what="the watch to open")
    assert kube_api.faults.close_watches() == 1
    assert await asyncio.wait_for(task, DEADLINE) == []
    assert kube_api.open_watches == 0


async def test_selector_exit_and_entry_become_deleted_and_added(api_client):
    core = client.CoreV1Api(api_client)
    await core.create_namespaced_config_map("default", cm("c", app="x"))
    rv = (await core.list_namespaced_config_map("default")).metadata.resource_version
    relabel = "application/merge-patch+json"
    await core.patch_namespaced_config_map("c", "default", {"metadata": {"labels": {"app": "y"}}},
                                           _content_type=relabel)
    await core.patch_namespaced_config_map("c", "default", {"data": {"ignored": "1"}}, _content_type=relabel)
    await core.patch_namespaced_config_map("c", "default", {"metadata": {"labels": {"app": "x"}}},
                                           _content_type=relabel)
    got = await collect(
        core.list_namespaced_config_map, "default", count=2, resource_version=rv, label_selector="app=x",
        timeout_seconds=2,
    )
    assert got == [("DELETED", "c"), ("ADDED", "c")]
