"""Emulator fault hooks, through kubernetes-asyncio and `POST /faults`.

Covers: failing the next N requests by verb/resource (and only those), 429 with Retry-After, latency and
clearing it, closing watches and compacting through the JSON form, `clear`, `GET /faults`, bad bodies, and the
request log's fields; every bad body is a 400 Status naming what is wrong, and applies nothing.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from tests.sandbox.polling import DEADLINE, until

MERGE = "application/merge-patch+json"


async def make_ingress(api_client) -> client.NetworkingV1Api:
    net = client.NetworkingV1Api(api_client)
    await net.create_namespaced_ingress("default", {"metadata": {"name": "i"}, "spec": {}})
    return net


async def test_fail_next_n_matching_requests(api_client, kube_api):
    net = await make_ingress(api_client)
    kube_api.faults.fail_next("patch", "ingresses", count=2, code=500)
    await net.read_namespaced_ingress("i", "default")  # another verb is untouched
    for _ in range(2):
        with pytest.raises(ApiException) as err:
            await net.patch_namespaced_ingress("i", "default", {"metadata": {"labels": {"a": "b"}}})
        body = json.loads(err.value.body)
        assert (err.value.status, body["reason"], body["message"]) == (
            500,
            "InternalError",
            "injected fault: patch ingresses.networking.k8s.io",
        )
    ok = await net.patch_namespaced_ingress("i", "default", {"metadata": {"labels": {"a": "b"}}})
    assert ok.metadata.labels == {"a": "b"}


async def post_faults(kube_api, body: object) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{kube_api.url}/faults", json=body) as resp:
            return resp.status, await resp.json()


async def test_429_with_retry_after_through_json(api_client, kube_api):
    net = await make_ingress(api_client)
    rule = {"verb": "get", "resource": "ingresses.networking.k8s.io", "code": 429, "retryAfter": 2}
    status, applied = await post_faults(kube_api, {"fail": [rule]})
    assert (status, applied) == (
        200,
        {"fail": [{"verb": "get", "resource": "ingresses.networking.k8s.io", "count": 1, "code": 429,
                   "retryAfter": 2.0}]},
    )
    with pytest.raises(ApiException) as err:
        await net.read_namespaced_ingress("i", "default")
    assert (err.value.status, err.value.headers["Retry-After"]) == (429, "2")
    assert json.loads(err.value.body)["reason"] == "TooManyRequests"


async def test_latency_then_cleared(api_client, kube_api):
    net = await make_ingress(api_client)
    loop = asyncio.get_running_loop()
    slow = {"seconds": 0.3, "verb": "get", "resource": "ingresses"}
    _, applied = await post_faults(kube_api, {"latency": slow})
    assert applied == {"latency": [{"seconds": 0.3, "verb": "get", "resource": "ingresses"}]}
    started = loop.time()
    await net.read_namespaced_ingress("i", "default")
    assert loop.time() - started >= 0.3
    await post_faults(kube_api, {"latency": {"seconds": 0, "verb": "get", "resource": "ingresses"}})
    assert kube_api.faults.latencies == []


async def test_close_watches_and_compact_through_json(api_client, kube_api):
    core = client.CoreV1Api(api_client)
    rv = (await core.list_namespaced_config_map("default")).metadata.resource_version
    await core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})

    async def consume() -> list[str]:
        async with watch.Watch() as w:
            stream = w.stream(
                core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=10
            )
            return [ev["type"] async for ev in stream]

    task = asyncio.create_task(consume())
    await until(lambda: kube_api.open_watches, what="the watch to open")
    _, applied = await post_faults(kube_api, {"closeWatches": True, "compact": True})
    assert applied == {"closeWatches": 1, "compact": kube_api.storage.resource_version}
    assert await asyncio.wait_for(task, DEADLINE) == ["ADDED"]
    with pytest.raises(ApiException) as err:
        async with watch.Watch() as w:
            async for _ in w.stream(core.list_namespaced_config_map, "default", resource_version=rv,
                                    timeout_seconds=1):
                pass
    assert err.value.status == 410


async def test_clear_and_describe(kube_api):
    await post_faults(kube_api, {"fail": {"verb": "list", "count": 3}, "latency": [{"seconds": 1}]})
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{kube_api.url}/faults") as resp:
            described = await resp.json()
    assert described["fail"] == [{"verb": "list", "resource": None, "count": 3, "code": 500}]
    assert described["latency"] == [{"seconds": 1.0, "verb": None, "resource": None}]
    assert described["requests"][-1]["path"] == "/faults"
    _, applied = await post_faults(kube_api, {"clear": True})
    assert applied == {"clear": True}
    assert (kube_api.faults.rules, kube_api.faults.latencies) == ([], [])


@pytest.mark.parametrize(("body", "message"), [
    pytest.param(
        [1],
        "faults: body must be a JSON object",
        id="not-an-object",
    ),
    pytest.param(
        {"fial": []},
        "faults: unknown key(s) fial; known keys are fail, latency, closeWatches, compact, clear",
        id="unknown-key",
    ),
    pytest.param(
        {"fail": ["x"]},
        "faults: fail must be an object or a list of objects, got ['x']",
        id="fail-entry-not-an-object",
    ),
    pytest.param(
        {"fail": {"verb": "read"}},
        "faults: fail[0].verb must be one of get, list, watch, create, update, patch, delete, "
        "deletecollection or *, got 'read'",
        id="unknown-verb",
    ),
    pytest.param(
        {"fail": {"resource": 3}},
        "faults: fail[0].resource must be a string, got 3",
        id="resource-not-a-string",
    ),
    pytest.param(
        {"fail": {"count": "two"}},
        "faults: fail[0].count must be an integer from 1 to 1000000, got 'two'",
        id="count-not-a-number",
    ),
    pytest.param(
        {"fail": {"count": 0}},
        "faults: fail[0].count must be an integer from 1 to 1000000, got 0",
        id="count-zero",
    ),
    pytest.param(
        {"fail": {"code": 200}},
        "faults: fail[0].code must be an integer from 400 to 599, got 200",
        id="code-not-a-failure",
    ),
    pytest.param(
        {"fail": {"code": 429, "retryAfter": -1}},
        "faults: fail[0].retryAfter must be a number >= 0, got -1",
        id="negative-retry-after",
    ),
    pytest.param(
        {"fail": {"message": 5}},
        "faults: fail[0].message must be a string, got 5",
        id="message-not-a-string",
    ),
    pytest.param(
        {"fail": {"verb": "get", "times": 2}},
        "faults: fail[0]: unknown key(s) times; known keys are verb, resource, count, code, message, "
        "retryAfter",
        id="fail-unknown-key",
    ),
    pytest.param(
        {"latency": {"seconds": "1"}},
        "faults: latency[0].seconds must be a number >= 0, got '1'",
        id="latency-not-a-number",
    ),
    pytest.param(
        {"latency": [{"seconds": 1}, 2]},
        "faults: latency must be an object or a list of objects, got [{'seconds': 1}, 2]",
        id="latency-entry-not-an-object",
    ),
    pytest.param(
        {"compact": "yes"},
        "faults: compact must be true or false, got 'yes'",
        id="flag-not-a-bool",
    ),
])
async def test_bad_fault_bodies_are_400_and_change_nothing(kube_api, body, message):
    kube_api.faults.fail_next("get", "pods")
    before = kube_api.faults.describe()["fail"]
    # A valid part next to the bad one must not be applied either.
    if isinstance(body, dict) and "clear" not in body:
        body = {**body, "clear": True}
    status, answer = await post_faults(kube_api, body)
    assert (status, answer["kind"], answer["reason"], answer["message"]) == (400, "Status", "BadRequest",
                                                                             message)
    assert kube_api.faults.describe()["fail"] == before


async def test_invalid_json_and_other_methods(kube_api):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{kube_api.url}/faults", data=b"{oops") as resp:
            body = await resp.json()
        assert (resp.status, body["reason"]) == (400, "BadRequest")
        assert body["message"].startswith("faults: invalid JSON: ")
        async with http.delete(f"{kube_api.url}/faults") as resp:
            body = await resp.json()
        assert (resp.status, body["reason"]) == (405, "MethodNotAllowed")


async def test_request_log_records_each_request(api_client, kube_api):
    co = client.CustomObjectsApi(api_client)
    with pytest.raises(ApiException):
        await co.patch_namespaced_custom_object_status(
            "argoproj.io", "v1alpha1", "default", "rollouts", "r", {"status": {}}, _content_type=MERGE
        )
    entry = kube_api.faults.request_log[-1]
    assert entry.to_json() == {
        "method": "PATCH",
        "path": "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts/r/status",
        "query": "",
        "verb": "patch",
        "resource": "rollouts.argoproj.io",
        "namespace": "default",
        "name": "r",
        "subresource": "status",
        "content_type": MERGE,
        "status": 404,
    }


async def test_a_watch_is_logged_once_when_its_stream_begins(api_client, kube_api):
    """An audit log's ResponseStarted stage: a reader of the log sees the watches still open, once each."""
    core = client.CoreV1Api(api_client)

    def watches() -> list[tuple[str, int]]:
        return [(r.query, r.status) for r in kube_api.faults.request_log if r.verb == "watch"]

    async def watch_quietly() -> list[object]:
        async with watch.Watch() as w:  # nothing to see: open until its 2 s timeout
            return [ev async for ev in w.stream(core.list_namespaced_service, "default", timeout_seconds=2)]

    watching = asyncio.ensure_future(watch_quietly())
    await until(watches, what="the open watch in the request log")
    assert not watching.done() and kube_api.open_watches == 1
    assert watches() == [("timeoutSeconds=2&watch=True", 200)]
    assert await watching == []
    await until(lambda: kube_api.open_watches == 0, what="the watch to end")
    assert watches() == [("timeoutSeconds=2&watch=True", 200)]  # not logged again when it ends
