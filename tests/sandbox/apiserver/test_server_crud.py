"""Emulator verbs through kubernetes-asyncio over HTTP.

Covers: create (201, metadata, 409 AlreadyExists, generateName, namespace mismatch, dryRun), get (404 Status),
list (collection RV, label/field selectors, all namespaces), replace (409 on stale RV, 422 without RV
for CRs),
each patch type (415 for CR strategic, 400 for a JSON patch that is an object, 422 for a failed op),
RV-in-patch precondition, status subresource isolation, generation rules, finalizers, cascade deletion,
delete preconditions, deletecollection, CRD registration.
"""

from __future__ import annotations

import json

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
G, V, PLURAL = "argoproj.io", "v1alpha1", "rollouts"


def rollout(name: str = "r1", replicas: int = 1) -> dict:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {"replicas": replicas},
    }


def status_of(exc: ApiException) -> dict:
    return json.loads(exc.body)


async def test_create_answers_201_with_server_metadata(api_client):
    co = client.CustomObjectsApi(api_client)
    made = await co.create_namespaced_custom_object(G, V, "default", PLURAL, rollout())
    meta = made["metadata"]
    assert (meta["namespace"], meta["generation"]) == ("default", 1)
    assert meta["uid"] and meta["creationTimestamp"] and meta["resourceVersion"]


async def test_create_existing_is_409_already_exists_status(api_client):
    core = client.CoreV1Api(api_client)
    await core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    with pytest.raises(ApiException) as err:
        await core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    assert err.value.status == 409
    assert status_of(err.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'configmaps "c" already exists',
        "reason": "AlreadyExists",
        "code": 409,
        "details": {"name": "c", "kind": "configmaps"},
    }


async def test_generate_name_and_dry_run(api_client):
    core = client.CoreV1Api(api_client)
    made = await core.create_namespaced_config_map("default", {"metadata": {"generateName": "cm-"}})
    assert made.metadata.name.startswith("cm-") and len(made.metadata.name) == 8
    await core.create_namespaced_config_map("default", {"metadata": {"name": "dry"}}, dry_run="All")
    listed = await core.list_namespaced_config_map("default")
    assert [i.metadata.name for i in listed.items] == [made.metadata.name]


async def test_namespace_mismatch_is_400(api_client):
    core = client.CoreV1Api(api_client)
    with pytest.raises(ApiException) as err:
        await core.create_namespaced_config_map("default", {"metadata": {"name": "c", "namespace": "other"}})
    assert err.value.status == 400
    assert status_of(err.value)["message"] == (
        "the namespace of the provided object does not match the namespace sent on the request"
    )


async def test_get_missing_is_404_not_found_status(api_client):
    co = client.CustomObjectsApi(api_client)
    with pytest.raises(ApiException) as err:
        await co.get_namespaced_custom_object(G, V, "default", PLURAL, "nope")
    body = status_of(err.value)
    assert (err.value.status, body["reason"]) == (404, "NotFound")
    assert body["message"] == 'rollouts.argoproj.io "nope" not found'
    assert body["details"] == {"name": "nope", "group": "argoproj.io", "kind": "rollouts"}


async def test_unknown_resource_path_is_404(api_client):
    with pytest.raises(ApiException) as err:
        co = client.CustomObjectsApi(api_client)
        await co.list_namespaced_custom_object("x.io", "v1", "default", "things")
    assert err.value.status == 404


async def test_list_has_collection_rv_and_selectors(api_client, kube_api):
    core = client.CoreV1Api(api_client)
    await core.create_namespace({"metadata": {"name": "other"}})
    for ns, name, app in [("default", "a", "x"), ("default", "b", "y"), ("other", "c", "x")]:
        await core.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": {"app": app}}})
    listed = await core.list_namespaced_config_map("default", label_selector="app=x")
    assert [i.metadata.name for i in listed.items] == ["a"]
    assert listed.metadata.resource_version == kube_api.storage.resource_version
    everywhere = await core.list_config_map_for_all_namespaces(label_selector="app in (x)")
    assert [i.metadata.name for i in everywhere.items] == ["a", "c"]
    by_field = await core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=other")
    assert [i.metadata.name for i in by_field.items] == ["c"]
    with pytest.raises(ApiException) as err:
        await core.list_namespaced_config_map("default", label_selector="app in x")
    assert err.value.status == 400


async def test_replace_stale_rv_is_409_conflict(api_client):
    co = client.CustomObjectsApi(api_client)
    made = await co.create_namespaced_custom_object(G, V, "default", PLURAL, rollout())
    made["spec"]["replicas"] = 2
    replaced = await co.replace_namespaced_custom_object(G, V, "default", PLURAL, "r1", made)
    assert replaced["metadata"]["generation"] == 2
    made["spec"]["replicas"] = 3
    with pytest.raises(ApiException) as err:
        await co.replace_namespaced_custom_object(G, V, "default", PLURAL, "r1", made)
    body = status_of(err.value)
    assert (err.value.status, body["reason"]) == (409, "Conflict")
    assert body["message"] == (
        'Operation cannot be fulfilled on rollouts.argoproj.io "r1": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


async def test_replace_custom_resource_without_rv_is_422(api_client):
    co = client.CustomObjectsApi(api_client)
    await co.create_namespaced_custom_object(G, V, "default", PLURAL, rollout())
    with pytest.raises(ApiException) as err:
        await co.replace_namespaced_custom_object(G, V, "default", PLURAL, "r1", rollout())
    assert (err.value.status, status_of(err.value)["reason"]) == (422, "Invalid")


async def test_patch_types_on_builtin_kind(api_client):
    core = client.CoreV1Api(api_client)
    ports = [{"port": 80, "name": "http"}]
    svc = {"metadata": {"name": "s"}, "spec": {"selector": {"app": "a"}, "ports": ports}}
    await core.create_namespaced_service("default", svc)
    more = {"spec": {"ports": [{"port": 81, "name": "alt"}]}}
    smp = await core.patch_namespaced_service("s", "default", more)
    assert [p.port for p in smp.spec.ports] == [80, 81]
    merged = await core.patch_namespaced_service(
        "s", "default", {"spec": {"ports": [{"port": 82, "name": "x"}]}}, _content_type=MERGE
    )
    assert [p.port for p in merged.spec.ports] == [82]
    jp = await core.patch_namespaced_service(
        "s", "default", [{"op": "replace", "path": "/spec/selector/app", "value": "b"}]
    )
    assert jp.spec.selector == {"app": "b"}


async def test_patch_custom_resource_types(api_client):
    co = client.CustomObjectsApi(api_client)
    await co.create_namespaced_custom_object(G, V, "default", PLURAL, rollout())
    merged = await co.patch_namespaced_custom_object(
        G, V, "default", PLURAL, "r1", {"spec": {"paused": True}}, _content_type=MERGE
    )
    assert merged["spec"] == {"replicas": 1, "paused": True}
    jp = await co.patch_namespaced_custom_object(
        G, V, "default", PLURAL, "r1", [{"op": "remove", "path": "/spec/paused"}]
    )
    assert jp["spec"] == {"replicas": 1}
    with pytest.raises(ApiException) as err:
        await co.patch_namespaced_custom_object(
            G, V, "default", PLURAL, "r1", {"spec": {}}, _content_type=STRATEGIC
        )
    assert (err.value.status, status_of(err.value)["reason"]) == (415, "UnsupportedMediaType")
    # The client's default Content-Type for a dict is json-patch: the real server rejects that with 400.
    with pytest.raises(ApiException) as err:
        await co.patch_namespaced_custom_object(G, V, "default", PLURAL, "r1", {"spec": {}})
    message = status_of(err.value)["message"]
    assert message == "json: cannot unmarshal object into Go value of type jsonpatch.Patch"


async def test_failed_json_patch_operation_is_422(api_client):
    co = client.CustomObjectsApi(api_client)
    await co.create_namespaced_custom_object(G, V, "default", PLURAL, rollout())
    with pytest.raises(ApiException) as err:
        ops = [{"op": "remove", "path": "/spec/x"}]
        await co.patch_namespaced_custom_object(G, V, "default", PLURAL, "r1", ops)
    assert err.value.status == 422


async def test_rv_in_patch_is_a_precondition(api_client):
    co = client.CustomObjectsApi(api_client)
    made = await co.create_namespaced_custom_object(G, V, "default", PLURAL, rollout())
    rv = made["metadata"]["resourceVersion"]
    body = {"metadata": {"resourceVersion": rv}, "spec": {"replicas": 2}}
    ok = await co.patch_namespaced_custom_object(G, V, "default", PLURAL, "r1", body, _content_type=MERGE)
    assert ok["metadata"]["resourceVersion"] != rv
    with pytest.raises(ApiException) as err:
        await co.patch_namespaced_custom_object(G, V, "default", PLURAL, "r1", body, _content_type=MERGE)
    assert (err.value.status, status_of(err.value)["reason"]) == (409, "Conflict")


async def test_status_subresource_isolation_and_generation(api_client):
    co = client.CustomObjectsApi(api_client)
    with_status = {**rollout(), "status": {"a": 1}}
    made = await co.create_namespaced_custom_object(G, V, "default", PLURAL, with_status)
    assert "status" not in made
    st = await co.patch_namespaced_custom_object_status(
        G, V, "default", PLURAL, "r1", {"status": {"phase": "Healthy"}, "spec": {"replicas": 7}},
        _content_type=MERGE,
    )
    assert (st["spec"]["replicas"], st["metadata"]["generation"]) == (1, 1)
    assert st["status"] == {"phase": "Healthy"}
    main = await co.patch_namespaced_custom_object(
        G, V, "default", PLURAL, "r1", {"status": {"phase": "X"}, "spec": {"replicas": 3}},
        _content_type=MERGE,
    )
    assert (main["status"], main["metadata"]["generation"]) == ({"phase": "Healthy"}, 2)
    labelled = await co.patch_namespaced_custom_object(
        G, V, "default", PLURAL, "r1", {"metadata": {"labels": {"a": "b"}}}, _content_type=MERGE
    )
    assert labelled["metadata"]["generation"] == 2
    labelled["status"] = {"phase": "Degraded"}
    put = await co.replace_namespaced_custom_object_status(G, V, "default", PLURAL, "r1", labelled)
    assert (put["status"], put["metadata"]["generation"]) == ({"phase": "Degraded"}, 2)
    same = await co.patch_namespaced_custom_object_status(
        G, V, "default", PLURAL, "r1", {"status": {"phase": "Degraded"}}, _content_type=MERGE
    )
    assert same["metadata"]["resourceVersion"] == put["metadata"]["resourceVersion"]


async def test_typed_status_patch_on_ingress(api_client):
    net = client.NetworkingV1Api(api_client)
    ing = {"metadata": {"name": "i"}, "spec": {"ingressClassName": "alb"}}
    await net.create_namespaced_ingress("default", ing)
    lb = {"status": {"loadBalancer": {"ingress": [{"hostname": "x.elb.amazonaws.com"}]}}}
    patched = await net.patch_namespaced_ingress_status("i", "default", lb, _content_type=MERGE)
    assert patched.status.load_balancer.ingress[0].hostname == "x.elb.amazonaws.com"
    assert patched.metadata.generation == 1


async def test_finalizers_then_removal(api_client):
    core = client.CoreV1Api(api_client)
    held_cm = {"metadata": {"name": "c", "finalizers": ["x.io/hold"]}}
    await core.create_namespaced_config_map("default", held_cm)
    await core.delete_namespaced_config_map("c", "default")
    held = await core.read_namespaced_config_map("c", "default")
    assert held.metadata.deletion_timestamp is not None
    release = {"metadata": {"finalizers": None}}
    await core.patch_namespaced_config_map("c", "default", release, _content_type=MERGE)
    with pytest.raises(ApiException) as err:
        await core.read_namespaced_config_map("c", "default")
    assert err.value.status == 404


async def test_cascade_deletion_through_owner_references(api_client):
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    rs = await apps.create_namespaced_replica_set(
        "default",
        {
            "metadata": {"name": "rs"},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}}},
        },
    )
    ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": rs.metadata.uid}
    dependent = {"metadata": {"name": "dep", "ownerReferences": [ref]}}
    await core.create_namespaced_config_map("default", dependent)
    await apps.delete_namespaced_replica_set("rs", "default")
    assert (await core.list_namespaced_config_map("default")).items == []


async def test_delete_precondition_and_missing(api_client):
    core = client.CoreV1Api(api_client)
    await core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    with pytest.raises(ApiException) as err:
        stale = {"preconditions": {"resourceVersion": "1"}}
        await core.delete_namespaced_config_map("c", "default", body=stale)
    assert err.value.status == 409
    await core.delete_namespaced_config_map("c", "default")
    with pytest.raises(ApiException) as err:
        await core.delete_namespaced_config_map("c", "default")
    assert err.value.status == 404


async def test_delete_collection_by_label(api_client):
    core = client.CoreV1Api(api_client)
    for name, app in [("a", "x"), ("b", "y")]:
        cm = {"metadata": {"name": name, "labels": {"app": app}}}
        await core.create_namespaced_config_map("default", cm)
    await core.delete_collection_namespaced_config_map("default", label_selector="app=x")
    assert [i.metadata.name for i in (await core.list_namespaced_config_map("default")).items] == ["b"]


async def test_crd_registers_resource(api_client):
    ext, co = client.ApiextensionsV1Api(api_client), client.CustomObjectsApi(api_client)
    crd = {
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object"}}}],
        },
    }
    made = await ext.create_custom_resource_definition(crd)
    assert [c.type for c in made.status.conditions] == ["NamesAccepted", "Established"]
    widget = {"metadata": {"name": "w"}}
    w = await co.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget)
    assert (w["kind"], w["apiVersion"]) == ("Widget", "example.com/v1")
    await co.patch_namespaced_custom_object_status(
        "example.com", "v1", "default", "widgets", "w", {"status": {"ok": True}}, _content_type=MERGE
    )
    await ext.delete_custom_resource_definition("widgets.example.com")
    with pytest.raises(ApiException) as err:
        await co.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert err.value.status == 404


async def test_dry_run_patch_replace_delete_change_nothing(api_client, kube_api):
    core = client.CoreV1Api(api_client)
    made = await core.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    patched = await core.patch_namespaced_config_map(
        "c", "default", {"data": {"a": "2"}}, dry_run="All", _content_type=MERGE
    )
    assert patched.data == {"a": "2"}
    made.data = {"a": "3"}
    replaced = await core.replace_namespaced_config_map("c", "default", made, dry_run="All")
    assert replaced.data == {"a": "3"}
    await core.delete_namespaced_config_map("c", "default", dry_run="All")
    stored = kube_api.storage.get("configmaps", "default", "c")
    assert stored is not None
    assert stored["data"] == {"a": "1"}
    assert stored["metadata"]["resourceVersion"] == made.metadata.resource_version
