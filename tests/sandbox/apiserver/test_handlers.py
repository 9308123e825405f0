"""Bad requests over raw HTTP, the way a buggy client would send them: every one is answered with a
Kubernetes Status whose code, reason and message say what is wrong (never an emulator 500).

Covers: unknown resources and groups, empty and unparsable bodies, a body that is not an object, metadata
that is not an object, a name that differs from the URL, patch bodies of the wrong shape for their media type,
an unsupported patch media type, and DeleteOptions that are not JSON or have malformed preconditions.
"""

from __future__ import annotations

import json

import aiohttp
import pytest

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
