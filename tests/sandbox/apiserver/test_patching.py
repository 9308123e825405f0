"""Patch algorithms: RFC 7386 merge patch (the RFC's own examples), RFC 6902 JSON patch (every op, pointer
escapes, failures as 400/422) and strategic merge (merge keys per field, `$patch` directives,
`$setElementOrder`, `$deleteFromPrimitiveList`, `$retainKeys`, merged finalizers), and media-type dispatch.
"""

from __future__ import annotations

import pytest

from sandbox.apiserver import patching
from sandbox.apiserver.errors import ApiError


@pytest.mark.parametrize(("target", "patch", "result"), [
    pytest.param({"a": "b"}, {"a": "c"}, {"a": "c"}, id="replace-value"),
    pytest.param({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}, id="add-key"),
    pytest.param({"a": "b"}, {"a": None}, {}, id="null-deletes"),
    pytest.param({"a": ["b"]}, {"a": "c"}, {"a": "c"}, id="list-to-scalar"),
    pytest.param({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}, id="scalar-to-list"),
    pytest.param({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}, id="nested"),
    pytest.param({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}, id="lists-replace"),
    pytest.param({"e": None}, {"a": 1}, {"e": None, "a": 1}, id="existing-null-kept"),
    pytest.param({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}, id="null-inside-new-object"),
])
def test_merge_patch_rfc7386_examples(target, patch, result):
    assert patching.merge_patch(target, patch) == result


DOC = {"a": {"b": [1, 2]}, "m~n": 1, "x/y": 2}


@pytest.mark.parametrize(("ops", "result"), [
    pytest.param([{"op": "add", "path": "/a/b/1", "value": 9}], {**DOC, "a": {"b": [1, 9, 2]}}, id="index"),
    pytest.param([{"op": "add", "path": "/a/b/-", "value": 3}], {**DOC, "a": {"b": [1, 2, 3]}}, id="at-end"),
    pytest.param([{"op": "add", "path": "/c", "value": {}}], {**DOC, "c": {}}, id="add-key"),
    pytest.param([{"op": "remove", "path": "/m~0n"}], {"a": {"b": [1, 2]}, "x/y": 2}, id="escaped-tilde"),
    pytest.param([{"op": "replace", "path": "/x~1y", "value": 5}], {**DOC, "x/y": 5}, id="escaped-slash"),
    pytest.param([{"op": "move", "from": "/a/b", "path": "/b"}], {**DOC, "a": {}, "b": [1, 2]}, id="move"),
    pytest.param([{"op": "copy", "from": "/a/b/0", "path": "/z"}], {**DOC, "z": 1}, id="copy"),
    pytest.param([{"op": "test", "path": "/a/b", "value": [1, 2]}], DOC, id="test-passes"),
    pytest.param([{"op": "replace", "path": "", "value": {"new": 1}}], {"new": 1}, id="replace-root"),
])
def test_json_patch_ops(ops, result):
    assert patching.json_patch(DOC, ops) == result


@pytest.mark.parametrize(("ops", "code"), [
    pytest.param({"op": "add"}, 400, id="object-not-list"),
    pytest.param([{"path": "/a"}], 400, id="missing-op"),
    pytest.param([{"op": "add", "path": "/a"}], 400, id="missing-value"),
    pytest.param([{"op": "frob", "path": "/a"}], 400, id="unknown-op"),
    pytest.param([{"op": "add", "path": "a", "value": 1}], 400, id="pointer-without-slash"),
    pytest.param([{"op": "remove", "path": "/nope"}], 422, id="remove-missing"),
    pytest.param([{"op": "replace", "path": "/nope", "value": 1}], 422, id="replace-missing"),
    pytest.param([{"op": "add", "path": "/a/b/7", "value": 1}], 422, id="index-out-of-range"),
    pytest.param([{"op": "add", "path": "/q/r", "value": 1}], 422, id="parent-missing"),
    pytest.param([{"op": "test", "path": "/m~0n", "value": 2}], 422, id="test-fails"),
    pytest.param([{"op": "remove", "path": ""}], 400, id="remove-root"),
])
def test_json_patch_failures(ops, code):
    with pytest.raises(ApiError) as err:
        patching.json_patch(DOC, ops)
    assert err.value.code == code


POD = {
    "metadata": {"finalizers": ["a"], "labels": {"x": "1"}},
    "spec": {
        "containers": [
            {"name": "app", "image": "v1", "env": [{"name": "A", "value": "1"}],
             "ports": [{"containerPort": 80, "name": "http"}]},
            {"name": "side", "image": "s"},
        ],
    },
    "status": {"conditions": [{"type": "Ready", "status": "False"}]},
}


@pytest.mark.parametrize(("patch", "check"), [
    pytest.param(
        {"spec": {"containers": [{"name": "app", "image": "v2", "env": [{"name": "B", "value": "2"}]}]}},
        lambda r: (
            r["spec"]["containers"][0]["image"],
            [e["name"] for e in r["spec"]["containers"][0]["env"]],
            len(r["spec"]["containers"]),
        ) == ("v2", ["A", "B"], 2),
        id="containers-and-env-merge-by-name",
    ),
    pytest.param(
        {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 80, "name": "web"}]}]}},
        lambda r: r["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "name": "web"}],
        id="container-ports-merge-by-containerPort",
    ),
    pytest.param(
        {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}},
        lambda r: [c["name"] for c in r["spec"]["containers"]] == ["app"],
        id="patch-delete-list-item",
    ),
    pytest.param(
        {"spec": {"containers": [{"name": "only"}, {"$patch": "replace"}]}},
        lambda r: r["spec"]["containers"] == [{"name": "only"}],
        id="patch-replace-list",
    ),
    pytest.param(
        {"spec": {"$patch": "replace", "containers": []}},
        lambda r: r["spec"] == {"containers": []},
        id="patch-replace-map",
    ),
    pytest.param(
        {"metadata": {"labels": {"$patch": "delete"}}},
        lambda r: "labels" not in r["metadata"],
        id="patch-delete-map",
    ),
    pytest.param(
        {"metadata": {"finalizers": ["b"]}},
        lambda r: r["metadata"]["finalizers"] == ["a", "b"],
        id="finalizers-union",
    ),
    pytest.param(
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
        lambda r: r["metadata"]["finalizers"] == [],
        id="delete-from-primitive-list",
    ),
    pytest.param(
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
        lambda r: r["status"]["conditions"] == [{"type": "Ready", "status": "True"}],
        id="conditions-merge-by-type",
    ),
    pytest.param(
        {"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
                  "containers": [{"name": "app", "image": "v3"}]}},
        lambda r: [c["image"] for c in r["spec"]["containers"]] == ["v3", "s"],
        id="set-element-order-ignored",
    ),
    pytest.param(
        {"metadata": {"$retainKeys": ["labels"], "labels": {"y": "2"}}},
        lambda r: r["metadata"] == {"labels": {"x": "1", "y": "2"}},
        id="retain-keys",
    ),
])
def test_strategic_merge(patch, check):
    assert check(patching.strategic_merge(POD, patch))


def test_strategic_merge_service_ports_by_port_and_lists_without_key_replace():
    svc = {"spec": {"ports": [{"port": 80, "name": "a"}], "externalIPs": ["1.1.1.1"]}}
    merged = patching.strategic_merge(svc, {"spec": {"ports": [{"port": 81}], "externalIPs": ["2.2.2.2"]}})
    assert merged["spec"] == {"ports": [{"port": 80, "name": "a"}, {"port": 81}], "externalIPs": ["2.2.2.2"]}


@pytest.mark.parametrize("patch", [
    pytest.param({"spec": {"containers": [{"image": "no-name"}]}}, id="missing-merge-key"),
    pytest.param([{"op": "add"}], id="list-body"),
])
def test_strategic_merge_rejects(patch):
    with pytest.raises(ApiError) as err:
        patching.strategic_merge(POD, patch)
    assert err.value.code == 400


@pytest.mark.parametrize(("content_type", "patch", "code"), [
    pytest.param(patching.MERGE_PATCH, [1], 400, id="merge-list-body"),
    pytest.param("application/apply-patch+yaml", {}, 415, id="server-side-apply"),
    pytest.param("application/json", {}, 415, id="plain-json"),
])
def test_apply_patch_dispatch_errors(content_type, patch, code):
    with pytest.raises(ApiError) as err:
        patching.apply_patch({}, patch, content_type)
    assert err.value.code == code
