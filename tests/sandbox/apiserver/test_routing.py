"""Resource URL routing over raw HTTP: verbs per method, namespaced vs cluster paths, subresources, and the
404/405 Status answers for paths and methods a real API server would refuse."""

from __future__ import annotations

import aiohttp
import pytest

from sandbox.apiserver import routing


@pytest.mark.parametrize(("method", "path", "code"), [
    pytest.param("GET", "/api/v1/pods", 200, id="cluster-wide-list-of-namespaced"),
    pytest.param("GET", "/api/v1/namespaces/default", 200, id="namespace-object"),
    pytest.param("GET", "/api/v1/namespaces/default/status", 200, id="namespace-status"),
    pytest.param("GET", "/api/v1/pods/x", 404, id="namespaced-name-without-namespace"),
    pytest.param("GET", "/api/v1/namespaces/default/namespaces", 404, id="cluster-scoped-under-namespace"),
    pytest.param("GET", "/api/v1/namespaces/default/configmaps/c/status", 404, id="no-status-subresource"),
    pytest.param("GET", "/api/v1/namespaces/default/pods/p/log", 404, id="unserved-subresource"),
    pytest.param("GET", "/api/v1/namespaces/default/pods/p/status/x", 404, id="too-deep"),
    pytest.param("POST", "/api/v1/pods", 405, id="create-without-namespace"),
    pytest.param("POST", "/api/v1/namespaces/default/pods/p", 405, id="post-to-object"),
    pytest.param("PUT", "/api/v1/namespaces/default/pods", 405, id="put-to-collection"),
    pytest.param("PATCH", "/api/v1/namespaces/default/pods", 405, id="patch-to-collection"),
])
async def test_route_answers(kube_api, method, path, code):
    async with aiohttp.ClientSession() as http:
        async with http.request(method, kube_api.url + path, json={"metadata": {"name": "p"}}) as resp:
            body = await resp.json()
    assert resp.status == code
    if code != 200:
        assert body["kind"] == "Status" and body["code"] == code


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param("True", True, id="python-capitalised"),
    pytest.param("true", True, id="lower"),
    pytest.param("1", True, id="one"),
    pytest.param("false", False, id="false"),
    pytest.param(None, False, id="absent"),
])
def test_is_true_matches_go_parse_bool(value, expected):
    assert routing.is_true(value) is expected


async def test_unsupported_patch_media_type_is_415(kube_api):
    kube_api.storage.create("configmaps", {"metadata": {"name": "c"}})
    async with aiohttp.ClientSession() as http:
        url = f"{kube_api.url}/api/v1/namespaces/default/configmaps/c"
        headers = {"Content-Type": "application/apply-patch+yaml"}
        async with http.patch(url, data=b"{}", headers=headers) as resp:
            body = await resp.json()
    assert (resp.status, body["reason"]) == (415, "UnsupportedMediaType")
