"""Storage API: create/get/list, resourceVersion and generation rules, conflicts, status isolation, patches,
finalizers, cascade deletion, namespaces, CRD registration, subscriptions and history compaction."""

from __future__ import annotations

import asyncio

import pytest

from sandbox.apiserver import storage as storage_mod
from sandbox.apiserver.patching import JSON_PATCH, STRATEGIC_PATCH
from sandbox.apiserver.storage import ApiError, Storage
from tests.sandbox.polling import DEADLINE


def rollout(name: str = "r1", **spec: object) -> dict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": 1, **spec},
        "status": {"phase": "ignored"},
    }


def test_create_assigns_metadata_and_drops_status_for_status_subresource():
    s = Storage()
    created = s.create("rollouts.argoproj.io", rollout())
    meta = created["metadata"]
    assert meta["generation"] == 1
    assert meta["resourceVersion"] == s.resource_version
    assert len(meta["uid"]) == 36
    assert meta["creationTimestamp"].endswith("Z")
    assert "status" not in created


def test_create_twice_is_409_already_exists():
    s = Storage()
    s.create("configmaps", {"metadata": {"name": "c"}})
    with pytest.raises(ApiError) as err:
        s.create("configmaps", {"metadata": {"name": "c"}})
    assert (err.value.code, err.value.reason, err.value.message) == (
        409,
        "AlreadyExists",
        'configmaps "c" already exists',
    )


def test_generate_name_and_missing_name():
    s = Storage()
    made = s.create("pods", {"metadata": {"generateName": "web-"}})
    assert made["metadata"]["name"].startswith("web-")
    assert len(made["metadata"]["name"]) == len("web-") + 5
    with pytest.raises(ApiError) as err:
        s.create("pods", {"metadata": {}})
    assert err.value.code == 422


def test_create_in_missing_namespace_is_404():
    s = Storage()
    with pytest.raises(ApiError) as err:
        s.create("configmaps", {"metadata": {"name": "c", "namespace": "nope"}})
    assert (err.value.code, err.value.message) == (404, 'namespaces "nope" not found')


def test_returned_objects_are_copies():
    s = Storage()
    made = s.create("configmaps", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    made["data"]["a"] = "changed"
    got = s.get("configmaps", "default", "c")
    assert got is not None
    got["data"]["a"] = "changed"
    assert s.list("configmaps")[0]["data"] == {"a": "1"}


def test_replace_stale_rv_is_409_and_current_rv_works():
    s = Storage()
    made = s.create("rollouts.argoproj.io", rollout())
    updated = s.replace("rollouts.argoproj.io", {**made, "spec": {"replicas": 2}})
    assert updated["metadata"]["generation"] == 2
    with pytest.raises(ApiError) as err:
        s.replace("rollouts.argoproj.io", {**made, "spec": {"replicas": 3}})
    assert err.value.code == 409
    assert err.value.message == (
        'Operation cannot be fulfilled on rollouts.argoproj.io "r1": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


def test_replace_custom_resource_without_rv_is_422():
    s = Storage()
    s.create("rollouts.argoproj.io", rollout())
    with pytest.raises(ApiError) as err:
        s.replace("rollouts.argoproj.io", rollout())
    assert err.value.code == 422


def test_status_subresource_isolation_and_generation():
    s = Storage()
    s.create("rollouts.argoproj.io", rollout())
    after_status = s.merge_patch(
        "rollouts.argoproj.io", "default", "r1", {"status": {"phase": "Healthy"}, "spec": {"replicas": 9}},
        subresource="status",
    )
    assert after_status["spec"]["replicas"] == 1
    assert after_status["status"] == {"phase": "Healthy"}
    assert after_status["metadata"]["generation"] == 1
    after_main = s.merge_patch(
        "rollouts.argoproj.io", "default", "r1", {"status": {"phase": "X"}, "spec": {"replicas": 4}}
    )
    assert after_main["status"] == {"phase": "Healthy"}
    assert after_main["metadata"]["generation"] == 2
    labelled = s.merge_patch("rollouts.argoproj.io", "default", "r1", {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["generation"] == 2


def test_noop_update_keeps_rv():
    s = Storage()
    made = s.create("configmaps", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    same = s.merge_patch("configmaps", "default", "c", {"data": {"a": "1"}})
    assert same["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]


def test_rv_in_patch_is_precondition():
    s = Storage()
    made = s.create("configmaps", {"metadata": {"name": "c"}})
    rv = made["metadata"]["resourceVersion"]
    s.merge_patch("configmaps", "default", "c", {"metadata": {"resourceVersion": rv}, "data": {"x": "1"}})
    with pytest.raises(ApiError) as err:
        s.merge_patch("configmaps", "default", "c", {"metadata": {"resourceVersion": rv}, "data": {"x": "2"}})
    assert err.value.code == 409


def test_json_and_strategic_patch_and_415_for_custom():
    s = Storage()
    s.create("pods", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x"}]}})
    smp = s.patch("pods", "default", "p", {"spec": {"containers": [{"name": "b", "image": "y"}]}},
                  content_type=STRATEGIC_PATCH)
    assert [c["name"] for c in smp["spec"]["containers"]] == ["a", "b"]
    op = {"op": "replace", "path": "/spec/containers/0/image", "value": "z"}
    jp = s.patch("pods", "default", "p", [op], content_type=JSON_PATCH)
    assert jp["spec"]["containers"][0]["image"] == "z"
    s.create("rollouts.argoproj.io", rollout())
    with pytest.raises(ApiError) as err:
        s.patch("rollouts.argoproj.io", "default", "r1", {"spec": {}}, content_type=STRATEGIC_PATCH)
    assert err.value.code == 415


def test_finalizers_delay_deletion_until_removed():
    s = Storage()
    s.create("configmaps", {"metadata": {"name": "c", "finalizers": ["x/y"]}})
    marked = s.delete("configmaps", "default", "c")
    assert marked is not None and "deletionTimestamp" in marked["metadata"]
    assert s.get("configmaps", "default", "c") is not None
    s.merge_patch("configmaps", "default", "c", {"metadata": {"finalizers": None}})
    assert s.get("configmaps", "default", "c") is None
    assert s.delete("configmaps", "default", "c") is None


def test_delete_preconditions():
    s = Storage()
    s.create("configmaps", {"metadata": {"name": "c"}})
    with pytest.raises(ApiError) as err:
        s.delete("configmaps", "default", "c", resource_version="1")
    assert err.value.code == 409


def owned(name: str, owner: dict) -> dict:
    ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"], "controller": True}
    return {"metadata": {"name": name, "ownerReferences": [ref]}}


@pytest.mark.parametrize(("propagation", "survives"), [
    pytest.param("Background", False, id="background-cascades"),
    pytest.param("Orphan", True, id="orphan-keeps-dependents"),
])
def test_cascade_delete(propagation, survives):
    s = Storage()
    rs = s.create("replicasets.apps", {"metadata": {"name": "rs"}, "spec": {"replicas": 1}})
    s.create("pods", owned("p1", rs))
    s.delete("replicasets.apps", "default", "rs", propagation=propagation)
    pod = s.get("pods", "default", "p1")
    assert (pod is not None) == survives
    if pod is not None:
        assert pod["metadata"]["ownerReferences"] == []


def test_namespace_delete_removes_contents():
    s = Storage()
    s.create("namespaces", {"metadata": {"name": "team"}})
    s.create("configmaps", {"metadata": {"name": "c", "namespace": "team"}})
    s.delete("namespaces", None, "team")
    assert s.list("configmaps", "team") == []


def test_crd_registers_and_unregisters_resource():
    s = Storage()
    crd = {
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}}}],
        },
    }
    s.create("customresourcedefinitions.apiextensions.k8s.io", crd)
    info = s.registry.get("widgets.example.com")
    assert (info.kind, info.status, info.custom, info.short_names) == ("Widget", True, True, ("wd",))
    s.create("widgets.example.com", {"metadata": {"name": "w"}})
    s.delete("customresourcedefinitions.apiextensions.k8s.io", None, "widgets.example.com")
    with pytest.raises(ApiError) as err:
        s.get("widgets.example.com", "default", "w")
    assert err.value.code == 404


def test_list_selectors():
    s = Storage()
    s.create("configmaps", {"metadata": {"name": "a", "labels": {"app": "x", "tier": "web"}}})
    s.create("configmaps", {"metadata": {"name": "b", "labels": {"app": "y"}}})
    names = lambda items: [i["metadata"]["name"] for i in items]  # noqa: E731
    assert names(s.list("configmaps", label_selector="app in (x, z),tier")) == ["a"]
    assert names(s.list("configmaps", label_selector="app!=x")) == ["b"]
    assert names(s.list("configmaps", label_selector="!tier")) == ["b"]
    assert names(s.list("configmaps", field_selector="metadata.name=b")) == ["b"]
    with pytest.raises(ApiError) as err:
        s.list("configmaps", label_selector="a b c")
    assert err.value.code == 400


async def test_subscribe_sees_live_events_and_close_ends_it():
    s = Storage()
    sub = s.subscribe("configmaps")
    everything = s.subscribe()
    s.create("configmaps", {"metadata": {"name": "c"}})
    s.merge_patch("configmaps", "default", "c", {"data": {"a": "1"}})
    s.create("services", {"metadata": {"name": "svc"}})
    s.delete("configmaps", "default", "c")
    sub.close()
    got = [(e.type, e.object["metadata"]["name"]) async for e in sub]
    assert got == [("ADDED", "c"), ("MODIFIED", "c"), ("DELETED", "c")]
    first = await asyncio.wait_for(anext(everything), DEADLINE)
    assert (first.type, first.resource) == ("ADDED", "configmaps")
    assert everything.pending() == 3
    everything.close()


def test_history_replay_and_compaction():
    s = Storage()
    start = int(s.resource_version)
    s.create("configmaps", {"metadata": {"name": "c"}})
    assert [e.type for e in s.events_since("configmaps", start)] == ["ADDED"]
    s.compact()
    with pytest.raises(ApiError) as err:
        s.events_since("configmaps", start)
    assert (err.value.code, err.value.reason) == (410, "Expired")
    assert err.value.message == f"too old resource version: {start} ({s.resource_version})"
    assert s.events_since("configmaps", int(s.resource_version)) == []


def test_unknown_resource_key_is_404_naming_it():
    with pytest.raises(ApiError) as err:
        Storage().list("gizmos")
    assert (err.value.code, err.value.reason, err.value.message) == (
        404, "NotFound", "the server could not find the requested resource (gizmos)")


def test_module_exports_contract_names():
    assert {"ApiError", "Storage", "Subscription", "WatchEvent"} <= set(storage_mod.__all__)
