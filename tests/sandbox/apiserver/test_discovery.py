"""Emulator discovery and client configuration.

Covers: `/version`, `/api`, `/apis` (groups with preferred versions), `/apis/<group>`, resource lists with
verbs, namespaced, kind, shortNames, categories, `/status` and `/scale` entries, a CRD appearing in discovery
once created, 404 Status for an unknown OpenAPI group-version and unknown paths, 405 for writes to
discovery, and kubeconfig files loaded by kubernetes-asyncio's own loader.
"""

from __future__ import annotations

import aiohttp
import pytest
from kubernetes_asyncio import client, config

from sandbox.apiserver.kubeconfig import write_kubeconfig


async def get_json(url: str) -> tuple[int, str, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            return resp.status, resp.headers["Content-Type"], await resp.json()


async def test_version_and_core_versions(api_client, kube_api):
    version = await client.VersionApi(api_client).get_code()
    assert (version.major, version.minor) == ("1", "32")
    versions = await client.CoreApi(api_client).get_api_versions()
    assert versions.versions == ["v1"]


async def test_group_list_and_group(kube_api):
    status, content_type, groups = await get_json(f"{kube_api.url}/apis")
    assert (status, content_type, groups["kind"]) == (200, "application/json", "APIGroupList")
    by_name = {g["name"]: g for g in groups["groups"]}
    preferred = by_name["argoproj.io"]["preferredVersion"]
    assert preferred == {"groupVersion": "argoproj.io/v1alpha1", "version": "v1alpha1"}
    assert {"apps", "networking.k8s.io", "discovery.k8s.io", "coordination.k8s.io", "elbv2.k8s.aws",
            "apiextensions.k8s.io"} <= set(by_name)
    _, _, group = await get_json(f"{kube_api.url}/apis/elbv2.k8s.aws")
    assert (group["kind"], group["name"], group["versions"]) == (
        "APIGroup", "elbv2.k8s.aws", [{"groupVersion": "elbv2.k8s.aws/v1beta1", "version": "v1beta1"}],
    )


async def test_resource_lists(kube_api):
    _, _, core = await get_json(f"{kube_api.url}/api/v1")
    names = {r["name"]: r for r in core["resources"]}
    assert names["pods"] == {
        "name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "shortNames": ["po"], "categories": ["all"],
    }
    assert "categories" not in names["configmaps"]
    assert names["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert names["namespaces"]["namespaced"] is False
    assert "endpoints/status" not in names
    _, _, argo = await get_json(f"{kube_api.url}/apis/argoproj.io/v1alpha1")
    assert [(r["name"], r.get("shortNames")) for r in argo["resources"]] == [
        ("analysisruns", ["ar"]), ("analysistemplates", ["at"]),
        ("clusteranalysistemplates", ["cat"]), ("rollouts", ["ro"]), ("rollouts/status", None),
        ("rollouts/scale", None),
    ]
    scale = argo["resources"][5]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")


async def test_crd_appears_in_discovery(api_client, kube_api):
    crd = {
        "metadata": {"name": "things.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster",
                 "names": {"plural": "things", "kind": "Thing", "shortNames": ["th"]},
                 "versions": [{"name": "v2", "served": True, "storage": True}]},
    }
    await client.ApiextensionsV1Api(api_client).create_custom_resource_definition(crd)
    _, _, resources = await get_json(f"{kube_api.url}/apis/example.com/v2")
    assert resources["resources"] == [{
        "name": "things", "singularName": "thing", "namespaced": False, "kind": "Thing",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "shortNames": ["th"],
    }]


@pytest.mark.parametrize("path", [
    pytest.param("/openapi/v3/apis/nope.io/v1", id="openapi"),
    pytest.param("/apis/nope.io", id="unknown-group"),
    pytest.param("/apis/apps/v9", id="unknown-version"),
    pytest.param("/healthz/x", id="unknown-path"),
])
async def test_unknown_paths_are_404_status(kube_api, path):
    status, _, body = await get_json(kube_api.url + path)
    assert (status, body["kind"], body["reason"]) == (404, "Status", "NotFound")


async def test_write_to_discovery_is_405(kube_api):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{kube_api.url}/apis", json={}) as resp:
            assert (resp.status, (await resp.json())["reason"]) == (405, "MethodNotAllowed")


async def test_kubeconfig_loads_with_kubernetes_asyncio(kube_api, tmp_path):
    path = write_kubeconfig(tmp_path / "sub" / "kubeconfig", kube_api.url, namespace="team")
    api = await config.new_client_from_config(config_file=str(path))
    async with api:
        namespaces = await client.CoreV1Api(api).list_namespace()
    assert "default" in [n.metadata.name for n in namespaces.items]
    assert "namespace: team" in path.read_text()
