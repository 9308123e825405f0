"""OpenAPI documents and server-side field validation, over HTTP as kubectl reads and uses them.

Covers: `/openapi/v3` listing every served group-version with a hashed URL that serves its document; a
document's PATCH operations (group-version-kind, `fieldValidation`, strategic merge only for built-ins), kind
schemas from the upstream models (descriptions, patch merge keys, `$ref`s that resolve), custom kinds from a
stored CRD's schema (and a new hash once it is stored) or preserving unknown fields without one; `/openapi/v2`
as JSON and 406 for its protobuf form; `fieldValidation=Strict` (400 on create, 422 on patch, worded as a real
server), `Warn` (Warning headers), none (unchecked); and the unknown-field walk (lists, maps, preserved and
embedded objects, strategic merge directives).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from sandbox.apiserver import schemas, validation

JSON = "application/json"
DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
    "spec": {"replicass": 1, "selector": {"matchLabels": {"app": "d"}}, "template": {
        "metadata": {"labels": {"app": "d"}},
        "spec": {"containers": [{"name": "c", "image": "nginx", "imagee": "x"}]}}},
}
WIDGETS = {
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "properties": {"spec": {"type": "object", "properties": {
                     "color": {"type": "string"},
                     "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}}}]},
}


async def fetch(url: str, *, accept: str = "application/json") -> tuple[int, Any, dict[str, str]]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Accept": accept}) as resp:
            return resp.status, await resp.json(content_type=None), dict(resp.headers)


async def send(method: str, url: str, body: Any, content_type: str = JSON) -> tuple[int, Any, str]:
    headers = {"Content-Type": content_type}
    async with aiohttp.ClientSession() as http:
        async with http.request(method, url, data=json.dumps(body), headers=headers) as resp:
            return resp.status, await resp.json(), resp.headers.get("Warning", "")


async def group_version(kube_api, path: str) -> dict[str, Any]:
    _, root, _ = await fetch(f"{kube_api.url}/openapi/v3")
    status, doc, _ = await fetch(kube_api.url + root["paths"][path]["serverRelativeURL"])
    assert status == 200 and isinstance(doc, dict)
    return doc


async def test_v3_root_and_a_built_in_document(kube_api):
    status, root, headers = await fetch(f"{kube_api.url}/openapi/v3")
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert {"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/argoproj.io/v1alpha1"} <= set(root["paths"])
    assert root["paths"]["apis/apps/v1"]["serverRelativeURL"].startswith("/openapi/v3/apis/apps/v1?hash=")
    doc = await group_version(kube_api, "apis/apps/v1")
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    gvk = {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert patch["x-kubernetes-group-version-kind"] == gvk
    assert "fieldValidation" in [p["name"] for p in patch["parameters"] if p["in"] == "query"]
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    known = doc["components"]["schemas"]
    deployment = known["v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment",
                                                               "version": "v1"}]
    spec = schemas.resolve(deployment["properties"]["spec"], known)
    assert spec["properties"]["replicas"]["type"] == "integer"
    assert spec["properties"]["replicas"]["description"].startswith("Number of desired pods.")
    pod = schemas.resolve(schemas.resolve(spec["properties"]["template"], known)["properties"]["spec"], known)
    containers = pod["properties"]["containers"]
    assert (containers["x-kubernetes-patch-merge-key"], containers["x-kubernetes-patch-strategy"]) == (
        "name", "merge")
    for schema in known.values():  # every reference resolves within the document
        for ref in json.dumps(schema).split('"$ref": "')[1:]:
            assert ref.split('"')[0].removeprefix(schemas.REF_PREFIX) in known


async def test_custom_kinds_with_and_without_a_crd(kube_api):
    argo = await group_version(kube_api, "apis/argoproj.io/v1alpha1")
    rollout = argo["components"]["schemas"]["argoproj.io.v1alpha1.Rollout"]
    assert rollout["properties"]["spec"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    patch = argo["paths"]["/apis/argoproj.io/v1alpha1/namespaces/{namespace}/rollouts/{name}"]["patch"]
    assert set(patch["requestBody"]["content"]) == {
        "application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"}
    _, before, _ = await fetch(f"{kube_api.url}/openapi/v3")
    kube_api.storage.create("customresourcedefinitions.apiextensions.k8s.io", WIDGETS)
    _, after, _ = await fetch(f"{kube_api.url}/openapi/v3")
    assert "apis/example.com/v1" in after["paths"] and "apis/example.com/v1" not in before["paths"]
    assert after["paths"]["api/v1"] == before["paths"]["api/v1"]
    widgets = await group_version(kube_api, "apis/example.com/v1")
    widget = widgets["components"]["schemas"]["example.com.v1.Widget"]
    assert set(widget["properties"]) == {"apiVersion", "kind", "metadata", "spec"}
    assert widget["properties"]["spec"]["properties"]["color"] == {"type": "string"}


async def test_v2_json_and_no_protobuf(kube_api):
    status, doc, _ = await fetch(f"{kube_api.url}/openapi/v2")
    assert (status, doc["swagger"]) == (200, "2.0")
    assert doc["definitions"]["v1.Deployment"]["properties"]["spec"]["allOf"] == [
        {"$ref": "#/definitions/v1.DeploymentSpec"}]
    status, body, _ = await fetch(f"{kube_api.url}/openapi/v2",
                                  accept="application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
    assert (status, body["reason"]) == (406, "NotAcceptable")


async def test_strict_warn_and_unchecked_creates(kube_api):
    url = f"{kube_api.url}/apis/apps/v1/namespaces/default/deployments"
    status, body, _ = await send("POST", url + "?fieldValidation=Strict", DEPLOYMENT)
    assert (status, body["reason"], body["message"]) == (400, "BadRequest", (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "spec.replicass", unknown field "spec.template.spec.containers[0].imagee"'))
    status, _, warning = await send("POST", url + "?fieldValidation=Warn", DEPLOYMENT)
    assert (status, warning) == (201, (
        '299 - "unknown field \\"spec.replicass\\"", '
        '299 - "unknown field \\"spec.template.spec.containers[0].imagee\\""'))
    other = {**DEPLOYMENT, "metadata": {"name": "e"}}
    assert (await send("POST", url, other))[::2] == (201, "")


async def test_strict_patches(kube_api):
    kube_api.storage.create("services", {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}})
    url = f"{kube_api.url}/api/v1/namespaces/default/services/s?fieldValidation=Strict"
    smp = "application/strategic-merge-patch+json"
    fine = {"spec": {"$setElementOrder/ports": [{"port": 81}], "ports": [{"port": 81}]}}
    assert (await send("PATCH", url, fine, smp))[0] == 200
    status, body, _ = await send("PATCH", url, {"spec": {"portz": [1, "a"], "type": None}}, smp)
    cause = ('Invalid value: "map[spec:map[portz:[1 a] type:<nil>]]": strict decoding error: '
             'unknown field "spec.portz"')
    assert (status, body["reason"], body["message"], body["details"]["causes"]) == (422, "Invalid", (
        f"patch: {cause}"), [{"reason": "FieldValueInvalid", "message": cause, "field": "patch"}])
    missing = f"{kube_api.url}/api/v1/namespaces/default/services/nope?fieldValidation=Strict"
    assert (await send("PATCH", missing, {"spec": {"portz": 1}}, smp))[0] == 404


async def test_strict_custom_resources(kube_api):
    kube_api.storage.create("customresourcedefinitions.apiextensions.k8s.io", WIDGETS)
    url = f"{kube_api.url}/apis/example.com/v1/namespaces/default/widgets?fieldValidation=Strict"
    good = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"color": "red", "extra": {"any": {"thing": 1}}}}
    assert (await send("POST", url, good))[0] == 201
    bad = {**good, "metadata": {"name": "x", "labelz": {}}, "spec": {"colour": "red"}}
    status, body, _ = await send("POST", url, bad)
    assert (status, body["message"]) == (400, 'Widget in version "v1" cannot be handled as a Widget: '
                                              'strict decoding error: unknown field "metadata.labelz", '
                                              'unknown field "spec.colour"')
    rollouts = f"{kube_api.url}/apis/argoproj.io/v1alpha1/namespaces/default/rollouts?fieldValidation=Strict"
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r"},
               "spec": {"anything": {"goes": True}}}
    assert (await send("POST", rollouts, rollout))[0] == 201
    status, body, _ = await send("POST", rollouts, {**rollout, "metadata": {"name": "q"}, "sepc": {}})
    assert (status, body["message"].rsplit(": ", 1)[1]) == (400, 'unknown field "sepc"')


@pytest.mark.parametrize(("value", "schema", "found"), [
    pytest.param({"a": [{"b": 1, "c": 2}]}, {"properties": {"a": {"items": {"properties": {"b": {}}}}}},
                 ["a[0].c"], id="list-items"),
    pytest.param({"m": {"x": {"k": 1, "z": 2}}},
                 {"properties": {"m": {"additionalProperties": {"properties": {"k": {}}}}}}, ["m.x.z"],
                 id="map"),
    pytest.param({"p": {"q": {"r": 1}}},
                 {"properties": {"p": {"x-kubernetes-preserve-unknown-fields": True}}}, [], id="preserved"),
    pytest.param({"o": {"kind": "K", "metadata": {}, "y": 1}},
                 {"properties": {"o": {"type": "object", "x-kubernetes-embedded-resource": True,
                                       "properties": {}}}}, ["o.y"], id="embedded"),
    pytest.param({"o": {"gone": 1}}, {"properties": {"o": {"type": "object"}}}, ["o.gone"],
                 id="no-properties"),
    pytest.param({"o": {"any": 1}}, {"properties": {"o": {}}}, [], id="untyped"),
    pytest.param({"$patch": "replace", "a": None}, {"properties": {"a": {"properties": {}}}}, [],
                 id="directives"),
])
def test_unknown_fields(value, schema, found):
    assert validation.unknown_fields(value, schema, {}) == found
