"""The namespace and controller indexes: what each files an object under (malformed objects under nothing),
that `in_namespace` gives exactly what the old filtered scan of `list()` gave, in the same order, that
`informers.build` gives every namespaced store the namespace index and AnalysisRuns the controller index,
and that the per-Rollout readers (ReplicaSets, Services, Ingresses, analysis, `_by_name`) never walk the
whole store."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from kubernetes_asyncio import client

from service import analysis_observing, ingress_sync, reconciling, replicaset_sync, service_release
from service.kube import caches, indexes, informers
from statemachine import ingress_checks, models


def obj(name: str, namespace: str | None = "team", **metadata: Any) -> caches.RawObject:
    meta: dict[str, Any] = {"name": name, **metadata}
    if namespace is not None:
        meta["namespace"] = namespace
    return {"metadata": meta}


def owned(name: str, namespace: str, uid: str, *, controller: bool = True) -> caches.RawObject:
    ref = {"kind": "Rollout", "name": "ro", "uid": uid, "controller": controller}
    return obj(name, namespace, ownerReferences=[ref])


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(obj("a"), ["team"], id="namespaced"),
        pytest.param(obj("a", None), [], id="cluster-scoped"),
        pytest.param(obj("a", ""), [], id="empty-namespace"),
        pytest.param({"metadata": {"name": "a", "namespace": 3}}, [], id="namespace-not-a-string"),
        pytest.param({"metadata": "x"}, [], id="metadata-not-a-map"),
        pytest.param({}, [], id="empty"),
    ],
)
def test_namespaces(given: caches.RawObject, expected: list[str]) -> None:
    assert indexes.namespaces(given) == expected


@pytest.mark.parametrize(
    ("refs", "expected"),
    [
        pytest.param([{"uid": "u1", "controller": True}], ["u1"], id="controller"),
        pytest.param([{"uid": "u1"}, {"uid": "u2", "controller": True}], ["u2"], id="only-the-controller"),
        pytest.param([{"uid": "u1", "controller": False}], [], id="owner-not-controller"),
        pytest.param([{"uid": "", "controller": True}, "junk", None], [], id="junk"),
        pytest.param("x", [], id="refs-not-a-list"),
        pytest.param(None, [], id="no-refs"),
    ],
)
def test_controller_uids(refs: Any, expected: list[str]) -> None:
    assert indexes.controller_uids(obj("run", ownerReferences=refs)) == expected


def test_with_namespace_adds_the_namespace_index_and_keeps_the_rest() -> None:
    merged = indexes.with_namespace(indexes.REPLICA_SET_INDEXERS)
    assert set(merged) == {indexes.BY_OWNER, indexes.BY_CONTROLLER, indexes.BY_ORPHAN_NAMESPACE,
                           indexes.BY_NAMESPACE}
    assert set(indexes.with_namespace()) == {indexes.BY_NAMESPACE}
    assert set(indexes.ANALYSIS_RUN_INDEXERS) == {indexes.BY_CONTROLLER}


def test_in_namespace_is_the_filtered_scan_in_key_order() -> None:
    store = caches.Store(indexes.with_namespace())
    for name, namespace in [("b", "team"), ("a", "other"), ("c", "team"), ("a", "team"), ("z", None)]:
        store.upsert(obj(name, namespace))
    for namespace in ("team", "other", "none"):
        scanned = [o for o in store.list() if o["metadata"].get("namespace") == namespace]
        assert indexes.in_namespace(store, namespace) == scanned
    assert [o["metadata"]["name"] for o in indexes.in_namespace(store, "team")] == ["a", "b", "c"]


def test_namespace_index_follows_moves_and_deletes() -> None:
    store = caches.Store(indexes.with_namespace(indexes.ANALYSIS_RUN_INDEXERS))
    store.upsert(owned("run", "team", "u1"))
    store.upsert(owned("run", "team", "u2"))  # the controller changed: filed under the new uid only
    assert store.index_keys(indexes.BY_CONTROLLER, "u1") == set()
    assert store.index_keys(indexes.BY_CONTROLLER, "u2") == {"team/run"}
    store.remove("team/run")
    assert store.index_values(indexes.BY_NAMESPACE) == []
    assert store.index_values(indexes.BY_CONTROLLER) == []


async def test_build_indexes_every_namespaced_store() -> None:
    async with client.ApiClient(client.Configuration(host="http://127.0.0.1:9")) as api:  # never started
        group = informers.build(api, lambda key: None, target_group_binding_api_version="elbv2.k8s.aws/v1")
    cluster_scoped = group.cluster_analysis_templates
    for reflector in group.all:
        if reflector is not cluster_scoped:
            assert reflector.store.index_values(indexes.BY_NAMESPACE) == [], reflector.resource.name
    assert group.analysis_runs.store.index_values(indexes.BY_CONTROLLER) == []
    assert group.replica_sets.store.index_values(indexes.BY_OWNER) == []
    assert group.replica_sets.store.index_values(indexes.BY_ORPHAN_NAMESPACE) == []
    assert group.services.store.index_values(indexes.BY_MANAGED_BY) == []
    assert group.ingresses.store.index_values(indexes.BY_BOOKKEEPING) == []


class CountingStore(caches.Store):
    """A store that counts whole-store reads: a per-Rollout lookup must make none."""

    def __init__(self, indexers: Any = None) -> None:
        super().__init__(indexes.with_namespace(indexers))
        self.listed = 0

    def list(self) -> list[caches.RawObject]:
        self.listed += 1
        return super().list()


def filled(indexers: Any = None) -> CountingStore:
    store = CountingStore(indexers)
    for namespace in ("team", "other"):
        for name in ("a", "b"):
            store.upsert(obj(name, namespace, annotations={ingress_checks.MANAGED_BY_ANNOTATION: "ro"}))
    return store


def test_per_rollout_readers_use_the_indexes_not_list() -> None:
    services, ingresses = filled(indexes.SERVICE_INDEXERS), filled(indexes.INGRESS_INDEXERS)
    replica_sets = filled(indexes.REPLICA_SET_INDEXERS)
    runs, templates = CountingStore(indexes.ANALYSIS_RUN_INDEXERS), filled()
    runs.upsert(owned("mine", "team", "u1"))
    runs.upsert(owned("owner-only", "team", "u1", controller=False))
    runs.upsert(owned("elsewhere", "other", "u1"))  # a uid is unique; a namespace mismatch still drops it
    runs.upsert(owned("theirs", "team", "u2"))
    group: Any = SimpleNamespace(
        services=SimpleNamespace(store=services), ingresses=SimpleNamespace(store=ingresses),
        replica_sets=SimpleNamespace(store=replica_sets), analysis_runs=SimpleNamespace(store=runs),
        analysis_templates=SimpleNamespace(store=templates),
        cluster_analysis_templates=SimpleNamespace(store=caches.Store()))

    assert service_release.managed(group.services, "team", "ro") == ["a", "b"]
    sync = replicaset_sync.ReplicaSetSync(writer=cast(Any, None), reflector=group.replica_sets, deadline=1.0)
    rollout = {"metadata": {"namespace": "team", "name": "ro", "uid": "u1"}}
    assert [rs["metadata"]["name"] for rs in sync._candidates(rollout, "team")] == ["a", "b"]
    reconciler: Any = SimpleNamespace(informers=group)
    by_name = reconciling.Reconciler._by_name(reconciler, "ingresses", "team")
    assert sorted(by_name) == ["a", "b"]
    assert all(o["metadata"]["namespace"] == "team" for o in by_name.values())
    ingress = ingress_sync.IngressSync(writer=cast(Any, None), reflector=group.ingresses,
                                       recorder=cast(Any, None), classes=["alb"], deadline=1.0)
    assert ingress.listing("team", "ro") == []
    observed = analysis_observing.observe(group, models.Rollout(namespace="team", name="ro", uid="u1"))
    assert [run.name for run in observed["analysis_runs"]] == ["mine"]
    assert sorted(observed["analysis_templates"]) == ["a", "b"]
    assert (services.listed, ingresses.listed, replica_sets.listed, runs.listed, templates.listed) == (
        0, 0, 0, 0, 0)
