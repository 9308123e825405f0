"""LIST and WATCH calls over kubernetes-asyncio against the API emulator: items get apiVersion/kind and the
collection resourceVersion; namespace and label selector reach the server; a watch yields events after the
resourceVersion and bookmarks; HTTP errors and 410 ERROR events raise ApiException with the code, and
`retry_after` reads their Retry-After (header of a LIST or WATCH answer, or an ERROR event's
retryAfterSeconds); the client deadline ends a slow call with TimeoutError; closing the generator closes the
stream."""

from __future__ import annotations

import contextlib
from urllib.parse import parse_qs

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from sandbox.apiserver.server import ApiServer
from sandbox.apiserver.storage import Storage
from service.kube import caches, listing, resources
from tests.sandbox.polling import until


def service(name: str, ns: str = "default", labels: dict[str, str] | None = None) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": {"ports": [{"port": 80}]}}


async def test_list_items_and_resource_version(api_client: client.ApiClient, storage: Storage) -> None:
    storage.create("services", service("a"))
    answer = await listing.list_collection(api_client, resources.SERVICES, deadline=5)
    assert [caches.object_key(o) for o in answer.items] == ["default/a"]
    assert (answer.items[0]["apiVersion"], answer.items[0]["kind"]) == ("v1", "Service")
    assert answer.resource_version == storage.resource_version


async def test_list_sends_namespace_and_selector(
    api_client: client.ApiClient, api_server: ApiServer, storage: Storage
) -> None:
    storage.create("namespaces", {"metadata": {"name": "team"}})
    storage.create("services", service("a", "team", {"app": "x"}))
    storage.create("services", service("b", "team"))
    storage.create("services", service("c", "default", {"app": "x"}))
    answer = await listing.list_collection(
        api_client, resources.SERVICES, namespace="team", label_selector="app=x", deadline=5
    )
    assert [caches.object_key(o) for o in answer.items] == ["team/a"]
    request = api_server.faults.request_log[-1]
    assert request.path == "/api/v1/namespaces/team/services"
    assert parse_qs(request.query) == {"labelSelector": ["app=x"]}


@pytest.mark.parametrize("code", [pytest.param(500, id="500"), pytest.param(403, id="403")])
async def test_list_error_raises_with_the_code(
    api_client: client.ApiClient, api_server: ApiServer, code: int
) -> None:
    api_server.faults.fail_next("list", "services", code=code)
    with pytest.raises(ApiException) as caught:
        await listing.list_collection(api_client, resources.SERVICES, deadline=5)
    assert caught.value.status == code


async def test_list_deadline(api_client: client.ApiClient, api_server: ApiServer) -> None:
    api_server.faults.set_latency(0.4, "list", "services")
    with pytest.raises(TimeoutError):
        await listing.list_collection(api_client, resources.SERVICES, deadline=0.1)


async def test_watch_events_after_the_resource_version(
    api_client: client.ApiClient, api_server: ApiServer, storage: Storage
) -> None:
    storage.create("services", service("old"))
    start = storage.resource_version
    storage.create("services", service("new"))
    storage.delete("services", "default", "new")
    events = listing.watch_collection(
        api_client, resources.SERVICES, resource_version=start, server_timeout=1, deadline=5
    )
    seen = []
    async with contextlib.aclosing(events):
        async for event in events:
            seen.append((event.type, event.object["metadata"].get("name")))
            if event.type == "BOOKMARK":
                break
    assert seen == [("ADDED", "new"), ("DELETED", "new"), ("BOOKMARK", None)]
    await until(lambda: api_server.open_watches == 0, within=5, what="the closed watch to end on the server")
    query = parse_qs(api_server.faults.request_log[-1].query)
    assert query == {"watch": ["true"], "allowWatchBookmarks": ["true"], "resourceVersion": [start],
                     "timeoutSeconds": ["1"]}


async def test_watch_ends_at_the_server_timeout(api_client: client.ApiClient, api_server: ApiServer) -> None:
    api_server.bookmark_interval = 60
    events = listing.watch_collection(
        api_client, resources.SERVICES, resource_version="1", server_timeout=1, deadline=5
    )
    assert [e async for e in events] == []


async def test_watch_expired_raises_410(api_client: client.ApiClient, storage: Storage) -> None:
    start = storage.resource_version
    storage.create("services", service("a"))
    storage.compact()
    events = listing.watch_collection(
        api_client, resources.SERVICES, resource_version=start, server_timeout=1, deadline=5
    )
    with pytest.raises(ApiException) as caught:
        await anext(events)
    assert caught.value.status == 410
    assert str(caught.value.reason).startswith("Expired: too old resource version")


async def test_watch_http_error_raises_with_the_code(
    api_client: client.ApiClient, api_server: ApiServer
) -> None:
    api_server.faults.fail_next("watch", "services", code=429, message="slow down")
    events = listing.watch_collection(
        api_client, resources.SERVICES, resource_version="1", server_timeout=1, deadline=5
    )
    with pytest.raises(ApiException) as caught:
        await anext(events)
    assert (caught.value.status, caught.value.reason) == (429, "TooManyRequests: slow down")


@pytest.mark.parametrize("verb", ["list", "watch"])
async def test_retry_after_of_a_failed_list_or_watch(
    api_client: client.ApiClient, api_server: ApiServer, verb: str
) -> None:
    api_server.faults.fail_next(verb, "services", code=503, retry_after=4)
    with pytest.raises(ApiException) as caught:
        if verb == "list":
            await listing.list_collection(api_client, resources.SERVICES, deadline=5)
        else:
            await anext(listing.watch_collection(api_client, resources.SERVICES, resource_version="1",
                                                 server_timeout=1, deadline=5))
    assert (caught.value.status, listing.retry_after(caught.value)) == (503, 4.0)


def test_retry_after_of_an_error_event_and_of_none() -> None:
    line = {"type": "ERROR", "object": {"code": 429, "reason": "TooManyRequests",
                                        "details": {"retryAfterSeconds": 2}}}
    with pytest.raises(ApiException) as caught:
        listing.parse_event(line)
    assert listing.retry_after(caught.value) == 2.0
    assert listing.retry_after(ApiException(status=500, reason="x")) is None


async def test_watch_deadline(api_client: client.ApiClient, api_server: ApiServer) -> None:
    api_server.bookmark_interval = 60
    events = listing.watch_collection(
        api_client, resources.SERVICES, resource_version="1", server_timeout=5, deadline=0.3
    )
    with pytest.raises(TimeoutError):
        await anext(events)


@pytest.mark.parametrize(
    ("line", "status"),
    [
        pytest.param([1], 500, id="not-an-object"),
        pytest.param({"type": "ADDED"}, 500, id="no-object"),
        pytest.param({"kind": "Status", "code": 503, "message": "x"}, 503, id="bare-status"),
        pytest.param({"type": "ERROR", "object": {"code": 410, "reason": "Expired", "message": "m"}}, 410,
                     id="error-event"),
        pytest.param({"type": "ERROR", "object": {"message": "m"}}, 500, id="error-without-code"),
    ],
)
def test_malformed_or_error_lines(line: object, status: int) -> None:
    with pytest.raises(ApiException) as caught:
        listing.parse_event(line)
    assert caught.value.status == status
