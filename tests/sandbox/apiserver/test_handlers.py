"""Bad requests over raw HTTP, the way a buggy client would send them: every one is answered with a
Kubernetes Status whose code, reason and message say what is wrong (never an emulator 500).

Covers: unknown resources and groups, empty and unparsable bodies, a body that is not an object, metadata
that is not an object, a name that differs from the URL, patch bodies of the wrong shape for their media type,
an unsupported patch media type, DeleteOptions that are not JSON or have malformed preconditions; then
semantic errors: a bad watch timeout (and 0 meaning the server default), a patch that leaves no object, a
stale uid precondition, the scale of a missing object, malformed CRDs, and an emulator bug (500 Status).
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from sandbox.apiserver import handlers
from sandbox.apiserver.server import ApiServer
from tests.sandbox.polling import DEADLINE

CM = "/api/v1/namespaces/default/configmaps"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
JSON = "application/json"
UNKNOWN = "the server could not find the requested resource"


@pytest.mark.parametrize(("method", "path", "body", "content_type", "code", "message"), [
    pytest.param("GET", "/apis/example.com/v1/namespaces/default/widgets", None, None, 404, UNKNOWN,
                 id="unknown-group"),
    pytest.param("GET", "/api/v1/namespaces/default/gizmos", None, None, 404, UNKNOWN, id="unknown-resource"),
    pytest.param("GET", "/apis/apps/v2/namespaces/default/replicasets", None, None, 404, UNKNOWN,
                 id="unknown-version"),
    pytest.param("POST", CM, b"", JSON, 400, "the body of the request was empty", id="empty-body"),
    pytest.param("POST", CM, b"[1, 2]", JSON, 400, "the body of the request must be a JSON object",
                 id="list-body"),
    pytest.param("POST", CM, b'{"metadata": "c"}', JSON, 400, "metadata must be an object",
                 id="metadata-not-an-object"),
    pytest.param("PUT", f"{CM}/c", b'{"metadata": {"name": "d"}}', JSON, 400,
                 "the name of the object (d) does not match the name on the URL (c)", id="name-mismatch"),
    pytest.param("PATCH", f"{CM}/c", b"[1]", MERGE, 400,
                 "json: cannot unmarshal array into Go value of type map[string]interface {}",
                 id="merge-patch-list"),
    pytest.param("PATCH", f"{CM}/c", b'{"data": {}}', JSON_PATCH, 400,
                 "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
                 id="json-patch-object"),
    pytest.param("PATCH", f"{CM}/c", b'[{"op": "add"}]', JSON_PATCH, 400,
                 "invalid JSON patch operation: {'op': 'add'}", id="json-patch-op-without-path"),
    pytest.param("PATCH", f"{CM}/c", b'[{"op": "remove", "path": "/data/x"}]', JSON_PATCH, 422,
                 "the server rejected our request due to an error in our request: "
                 "jsonpatch: path /data/x does not exist", id="json-patch-missing-path"),
    pytest.param("PATCH", f"{CM}/c", b"{}", "text/plain", 415,
                 "the body of the request was in an unknown format - accepted media types include: "
                 "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                 id="unsupported-media-type"),
    pytest.param("DELETE", f"{CM}/c", b"{oops", JSON, 400,
                 "DeleteOptions: the body of the request is not JSON: "
                 "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
                 id="delete-options-not-json"),
    pytest.param("DELETE", f"{CM}/c", b'{"preconditions": "1"}', JSON, 400,
                 "DeleteOptions: preconditions must be an object, got '1'",
                 id="delete-preconditions-not-object"),
])
async def test_bad_requests_get_a_status_naming_the_problem(kube_api, method, path, body, content_type, code,
                                                            message):
    kube_api.storage.create("configmaps", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    before = kube_api.storage.get("configmaps", "default", "c")
    headers = {"Content-Type": content_type} if content_type else {}
    async with aiohttp.ClientSession() as http:
        async with http.request(method, kube_api.url + path, data=body, headers=headers) as resp:
            answer = json.loads(await resp.read())
    assert (resp.status, answer["kind"], answer["code"], answer["message"]) == (code, "Status", code, message)
    assert kube_api.storage.get("configmaps", "default", "c") == before


async def test_unparsable_body_names_the_format_problem(kube_api):
    async with aiohttp.ClientSession() as http:
        async with http.post(kube_api.url + CM, data=b"{oops", headers={"Content-Type": JSON}) as resp:
            answer = await resp.json()
    assert (resp.status, answer["reason"]) == (400, "BadRequest")
    assert answer["message"].startswith("the body of the request was in an unknown format: ")


CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
CRD_INVALID = 'CustomResourceDefinition.apiextensions.k8s.io "w.example.com" is invalid: '
BAD_NAME_CRD = (b'{"metadata": {"name": "w.example.com"}, "spec": {"group": "example.com", '
                b'"names": {"plural": "widgets", "kind": "Widget"}, "versions": [{"name": "v1"}]}}')


@pytest.mark.parametrize(("method", "path", "body", "content_type", "code", "message"), [
    pytest.param("GET", f"{CM}?watch=true&timeoutSeconds=soon", None, None, 400,
                 "invalid timeoutSeconds: 'soon'", id="watch-timeout-not-a-number"),
    pytest.param("PATCH", f"{CM}/c", b'[{"op": "replace", "path": "", "value": [1]}]', JSON_PATCH, 400,
                 "the patch did not produce an object", id="patch-replaces-object-by-list"),
    pytest.param("DELETE", f"{CM}/c", b'{"preconditions": {"uid": "other"}}', JSON, 409,
                 'Operation cannot be fulfilled on configmaps "c": Precondition failed: UID in precondition: '
                 "other, UID in object meta: {uid}", id="delete-uid-precondition"),
    pytest.param("GET", "/apis/apps/v1/namespaces/default/replicasets/none/scale", None, None, 404,
                 'replicasets.apps "none" not found', id="scale-of-missing-object"),
    pytest.param("POST", CRDS, b'{"metadata": {"name": "w.example.com"}, "spec": {"group": "example.com"}}',
                 JSON, 422, CRD_INVALID + "spec: Required value: group, names and versions",
                 id="crd-without-names"),
    pytest.param("POST", CRDS, BAD_NAME_CRD, JSON, 422,
                 CRD_INVALID + 'metadata.name: Invalid value: "w.example.com": must be spec.names.plural+"."'
                 "+spec.group", id="crd-name-mismatch"),
])
async def test_semantic_errors_get_a_status_naming_the_problem(kube_api, method, path, body, content_type,
                                                               code, message):
    made = kube_api.storage.create("configmaps", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    headers = {"Content-Type": content_type} if content_type else {}
    async with aiohttp.ClientSession() as http:
        async with http.request(method, kube_api.url + path, data=body, headers=headers) as resp:
            answer = json.loads(await resp.read())
    expected = (code, "Status", code, message.replace("{uid}", made["metadata"]["uid"]))
    assert (resp.status, answer["kind"], answer["code"], answer["message"]) == expected
    assert kube_api.storage.get("configmaps", "default", "c") == made


async def test_zero_watch_timeout_means_the_server_default():
    server = ApiServer(watch_timeout=0.2)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}{CM}?watch=true&timeoutSeconds=0&resourceVersion=1") as resp:
                assert (resp.status, await asyncio.wait_for(resp.read(), DEADLINE)) == (200, b"")
    finally:
        await server.stop()


async def test_an_emulator_bug_is_a_500_status(kube_api, monkeypatch, caplog):
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(handlers, "serve_resource", broken)
    async with aiohttp.ClientSession() as http:
        async with http.get(kube_api.url + CM) as resp:
            answer = await resp.json()
    assert (resp.status, answer["reason"], answer["message"]) == (500, "InternalError",
                                                                  "emulator error: RuntimeError('boom')")
    assert "emulator failure" in caplog.text
