"""The pods/eviction subresource through kubernetes-asyncio and raw HTTP.

Aspects: an eviction deletes the pod (201, a Success Status) and the ReplicaSet replaces it; 404 for a missing
pod, 400 for a body naming another pod, 405 for anything but POST; dry run deletes nothing; a
PodDisruptionBudget (minAvailable, maxUnavailable as a percentage of the ReplicaSet's scale) refuses with
429 TooManyRequests and the DisruptionBudget cause when no disruption is allowed, lets an unready pod go
while the budget is met (IfHealthyBudget) or always (AlwaysAllow), is ignored for a terminating or pending
pod, and two budgets for one pod are a 500; discovery lists pods/eviction and poddisruptionbudgets.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from sandbox.apiserver.server import ApiServer
from sandbox.apiserver.storage import Storage
from tests.sandbox.polling import until

NS = "default"
PDBS = "poddisruptionbudgets.policy"
TOO_MANY = "Cannot evict pod as it would violate the pod's disruption budget."


def _pod(storage: Storage, name: str, *, ready: bool = True, owner: dict[str, Any] | None = None,
         phase: str = "Running", **meta: Any) -> None:
    metadata: dict[str, Any] = {"name": name, "labels": {"app": "web"}, **meta}
    if owner is not None:
        metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True,
                                        "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}]
    storage.create("pods", {"metadata": {**metadata, "namespace": NS}, "spec": {"containers": []}})
    flag = "True" if ready else "False"
    storage.merge_patch("pods", NS, name, {"status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": flag}]}}, subresource="status")


def _budget(storage: Storage, name: str, **spec: Any) -> None:
    storage.create(PDBS, {"metadata": {"name": name, "namespace": NS},
                          "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}})


async def _evict(api: client.ApiClient, name: str) -> Any:
    body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=NS))
    return await client.CoreV1Api(api).create_namespaced_pod_eviction(name, NS, body)


async def _refused(api: client.ApiClient, name: str) -> dict[str, Any]:
    with pytest.raises(ApiException) as raised:
        await _evict(api, name)
    assert raised.value.status == 429
    status: dict[str, Any] = json.loads(raised.value.body or b"{}")
    assert (status["reason"], status["message"]) == ("TooManyRequests", TOO_MANY)
    return status


def _names(storage: Storage) -> set[str]:
    return {p["metadata"]["name"] for p in storage.list("pods", NS)}


async def test_eviction_deletes_the_pod_and_the_replicaset_replaces_it(api_client, storage, cluster):
    rs = storage.create("replicasets.apps", {"metadata": {"name": "web-1", "namespace": NS}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}}})
    await until(lambda: len(storage.list("pods", NS)) == 2)
    before = {p["metadata"]["uid"]: p["metadata"]["name"] for p in storage.list("pods", NS)}
    victim = sorted(before.values())[0]
    await _evict(api_client, victim)
    await until(lambda: len(storage.list("pods", NS)) == 2 and victim not in _names(storage))
    after = {p["metadata"]["uid"] for p in storage.list("pods", NS)}
    assert len(after - set(before)) == 1
    assert all(p["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
               for p in storage.list("pods", NS))


async def test_raw_answers(kube_api: ApiServer, storage):
    _pod(storage, "p")
    url = f"{kube_api.url}/api/v1/namespaces/{NS}/pods/p/eviction"
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p", "namespace": NS}}
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            assert resp.status == 405
        async with http.post(url, json={**body, "metadata": {"name": "q"}}) as resp:
            assert resp.status == 400
            assert (await resp.json())["message"] == "name in URL does not match name in Eviction object"
        async with http.post(url + "?dryRun=All", json=body) as resp:
            assert resp.status == 201
        assert _names(storage) == {"p"}
        async with http.post(url, json=body) as resp:
            assert resp.status == 201
            assert (await resp.json())["status"] == "Success"
        assert _names(storage) == set()
        async with http.post(url, json=body) as resp:
            assert resp.status == 404
            assert (await resp.json())["message"] == 'pods "p" not found'


async def test_min_available_refuses_when_no_disruption_is_allowed(api_client, storage):
    _budget(storage, "web", minAvailable=2)
    _pod(storage, "a")
    _pod(storage, "b")
    status = await _refused(api_client, "a")
    message = "The disruption budget web needs 2 healthy pods and has 2 currently"
    assert status["details"]["causes"] == [{"reason": "DisruptionBudget", "message": message}]
    _pod(storage, "c")
    await _evict(api_client, "a")
    assert _names(storage) == {"b", "c"}


async def test_max_unavailable_percentage_of_the_replicaset_scale(api_client, storage):
    _budget(storage, "web", maxUnavailable="25%")
    rs = storage.create("replicasets.apps", {"metadata": {"name": "web-1", "namespace": NS},
                                             "spec": {"replicas": 4}})
    for name in "abcd":
        _pod(storage, name, owner=rs)
    await _evict(api_client, "a")  # 4 healthy, 3 needed
    await _refused(api_client, "b")  # 3 healthy, 3 needed
    _pod(storage, "e", owner=rs, ready=False)  # the replacement, not ready yet
    await _evict(api_client, "e")  # IfHealthyBudget: an unready pod may go while 3 of 3 are healthy
    assert _names(storage) == {"b", "c", "d"}


async def test_unready_pod_when_the_budget_is_not_met(api_client, storage):
    _budget(storage, "web", minAvailable=3)
    _pod(storage, "a")
    _pod(storage, "b", ready=False)
    await _refused(api_client, "b")
    storage.merge_patch(PDBS, NS, "web", {"spec": {"unhealthyPodEvictionPolicy": "AlwaysAllow"}})
    await _evict(api_client, "b")
    await _refused(api_client, "a")


async def test_terminating_and_pending_pods_ignore_the_budget(api_client, storage):
    _budget(storage, "web", minAvailable=5)
    _pod(storage, "pending", phase="Pending")
    _pod(storage, "stuck", finalizers=["example.com/hold"])
    storage.delete("pods", NS, "stuck")  # the finalizer keeps it, terminating
    await _evict(api_client, "pending")
    await _evict(api_client, "stuck")
    assert _names(storage) == {"stuck"}


async def test_two_budgets_for_one_pod_are_an_internal_error(api_client, storage):
    _budget(storage, "one", minAvailable=0)
    _budget(storage, "two", maxUnavailable=1)
    _pod(storage, "a")
    with pytest.raises(ApiException) as raised:
        await _evict(api_client, "a")
    assert raised.value.status == 500
    assert "more than one PodDisruptionBudget" in json.loads(raised.value.body or b"{}")["message"]


async def test_discovery_lists_eviction_and_budgets(kube_api: ApiServer):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{kube_api.url}/api/v1") as resp:
            core = {r["name"]: r for r in (await resp.json())["resources"]}
        async with http.get(f"{kube_api.url}/apis/policy/v1") as resp:
            policy = {r["name"] for r in (await resp.json())["resources"]}
    assert core["pods/eviction"]["verbs"] == ["create"]
    assert (core["pods/eviction"]["group"], core["pods/eviction"]["kind"]) == ("policy", "Eviction")
    assert policy == {"poddisruptionbudgets", "poddisruptionbudgets/status"}
