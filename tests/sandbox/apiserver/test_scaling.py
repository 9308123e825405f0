"""The scale subresource through kubernetes-asyncio: read, patch and replace for ReplicaSets and Rollouts,
the RV precondition, invalid replicas, discovery entries, CRD-declared scale paths, 404 where not served."""

from __future__ import annotations

import json

import aiohttp
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

MERGE = "application/merge-patch+json"
RS = {
    "metadata": {"name": "rs"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "a", "b": "c"}}},
}


async def test_replica_set_scale_read_patch_replace(api_client, kube_api):
    apps = client.AppsV1Api(api_client)
    await apps.create_namespaced_replica_set("default", RS)
    scale = await apps.read_namespaced_replica_set_scale("rs", "default")
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (2, 0, "app=a,b=c")
    patched = await apps.patch_namespaced_replica_set_scale("rs", "default", {"spec": {"replicas": 5}})
    assert patched.spec.replicas == 5
    patched.spec.replicas = 1
    replaced = await apps.replace_namespaced_replica_set_scale("rs", "default", patched)
    assert replaced.spec.replicas == 1
    stored = kube_api.storage.get("replicasets.apps", "default", "rs")
    assert stored is not None and (stored["spec"]["replicas"], stored["metadata"]["generation"]) == (1, 3)
    with pytest.raises(ApiException) as err:
        await apps.replace_namespaced_replica_set_scale("rs", "default", patched)
    assert err.value.status == 409


async def test_rollout_scale_uses_argo_paths(api_client, kube_api):
    co = client.CustomObjectsApi(api_client)
    ro = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r"}}
    ro["spec"] = {"replicas": 3}
    await co.create_namespaced_custom_object("argoproj.io", "v1alpha1", "default", "rollouts", ro)
    kube_api.storage.merge_patch("rollouts.argoproj.io", "default", "r",
                                 {"status": {"HPAReplicas": 3, "selector": "app=r"}}, subresource="status")
    scale = await co.get_namespaced_custom_object_scale("argoproj.io", "v1alpha1", "default", "rollouts", "r")
    assert (scale["spec"], scale["status"]) == ({"replicas": 3}, {"replicas": 3, "selector": "app=r"})
    await co.patch_namespaced_custom_object_scale(
        "argoproj.io", "v1alpha1", "default", "rollouts", "r", {"spec": {"replicas": 6}}, _content_type=MERGE
    )
    stored = kube_api.storage.get("rollouts.argoproj.io", "default", "r")
    assert stored is not None and stored["spec"]["replicas"] == 6


@pytest.mark.parametrize("replicas", [pytest.param(-1, id="negative"), pytest.param("2", id="string")])
async def test_invalid_replicas_is_422(api_client, replicas):
    apps = client.AppsV1Api(api_client)
    await apps.create_namespaced_replica_set("default", RS)
    with pytest.raises(ApiException) as err:
        await apps.patch_namespaced_replica_set_scale(
            "rs", "default", {"spec": {"replicas": replicas}}, _content_type=MERGE
        )
    body = json.loads(err.value.body)
    assert (err.value.status, body["reason"], body["message"]) == (
        422, "Invalid",
        f'Scale.autoscaling "rs" is invalid: spec.replicas: Invalid value: {replicas!r}: must be >= 0')


async def test_scale_from_crd_and_not_served(api_client, kube_api):
    crd = {
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {
                "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"}}}],
        },
    }
    kube_api.storage.create("customresourcedefinitions.apiextensions.k8s.io", crd)
    kube_api.storage.create("widgets.example.com", {"metadata": {"name": "w"}, "spec": {"size": 2}})
    co = client.CustomObjectsApi(api_client)
    scale = await co.get_namespaced_custom_object_scale("example.com", "v1", "default", "widgets", "w")
    assert scale["spec"] == {"replicas": 2}
    kube_api.storage.create("services", {"metadata": {"name": "s"}})
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{kube_api.url}/api/v1/namespaces/default/services/s/scale") as resp:
            assert resp.status == 404
