"""Emulator fault hooks, through kubernetes-asyncio and `POST /faults`.

Covers: failing the next N requests by verb/resource (and only those), 429 with Retry-After, latency and
clearing it, closing watches and compacting through the JSON form, `clear`, `GET /faults`, bad bodies, and the
request log's fields.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from tests.sandbox.apiserver.polling import until

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
    assert await asyncio.wait_for(task, 3) == ["ADDED"]
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


@pytest.mark.parametrize(
    "body",
    [pytest.param([1], id="not-an-object"), pytest.param({"fail": ["x"]}, id="fail-entry-not-an-object")],
)
async def test_bad_fault_bodies_are_400(kube_api, body):
    status, answer = await post_faults(kube_api, body)
    assert (status, answer["reason"]) == (400, "BadRequest")


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
