"""The per-reconcile reads of issue 13: the ReplicaSet claim, `_by_name`, the managed Services and the
bookkept Ingresses read indexes, give exactly what the namespace scans gave (same objects, same order) in a
namespace of hundreds of unrelated objects, and never walk that namespace."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any, cast

import pytest

from service import ingress_sync, reconciling, replicaset_sync, service_release
from service.alb import bookkeeping
from service.kube import caches, indexes, views
from statemachine import ingress_checks, ownership, services

NS = "team"
UID = "uid-ro"
SELECTOR = {"matchLabels": {"app": "demo"}}
MANY = 500


class CountingStore(caches.Store):
    """Counts the reads that walk a whole store or namespace: a per-Rollout read must make none."""

    def __init__(self, indexers: Any = None) -> None:
        super().__init__(indexes.with_namespace(indexers))
        self.walks = 0

    def list(self) -> list[caches.RawObject]:
        self.walks += 1
        return super().list()

    def index_keys(self, index: str, value: str) -> set[caches.ObjectKey]:
        self.walks += index == indexes.BY_NAMESPACE
        return super().index_keys(index, value)


def meta(name: str, namespace: str = NS, **fields: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, **fields}}


def rollout() -> dict[str, Any]:
    return {"metadata": {"name": "ro", "namespace": NS, "uid": UID},
            "spec": {"selector": SELECTOR, "template": {"metadata": {"labels": {"app": "demo"}}}}}


def ref(uid: Any, *, controller: Any = True) -> dict[str, Any]:
    return {"kind": "Rollout", "name": "x", "uid": uid, "controller": controller}


def replica_set(name: str, namespace: str = NS, *, refs: Any = None, app: str = "demo",
                deleting: bool = False) -> caches.RawObject:
    fields: dict[str, Any] = {"labels": {"app": app, "rollouts-pod-template-hash": name}}
    if refs is not None:
        fields["ownerReferences"] = refs
    if deleting:
        fields["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return meta(name, namespace, **fields)


def replica_sets() -> CountingStore:
    """Ours (matching and not), adoptable, being deleted, foreign, odd refs, another namespace; shuffled."""
    rng = random.Random(13)
    made = [replica_set(f"other-{i:03}", refs=[ref(f"uid-{i}")], app=rng.choice(["demo", "x"]))
            for i in range(MANY)]
    made += [replica_set(f"free-{i:03}", app="x") for i in range(50)]
    made += [
        replica_set("ours-a", refs=[ref(UID)]),
        replica_set("ours-relabelled", refs=[ref(UID)], app="x"),  # selector no longer matches: left
        replica_set("ours-with-owner", refs=[{"uid": "u9"}, ref(UID)]),
        replica_set("adoptable", refs=[]),
        replica_set("adoptable-owner-only", refs=[ref(UID, controller=False)]),
        replica_set("adoptable-junk-refs", refs=["junk", None]),
        replica_set("adoptable-refs-not-a-list", refs="x"),
        replica_set("deleting", deleting=True),
        replica_set("controller-without-uid", refs=[ref("")]),
        replica_set("adoptable-flag-not-true", refs=[ref(UID, controller="true")]),
        replica_set("ours-elsewhere", "other", refs=[ref(UID)]),
        replica_set("adoptable-elsewhere", "other"),
    ]
    rng.shuffle(made)
    store = CountingStore(indexes.REPLICA_SET_INDEXERS)
    for rs in made:
        store.upsert(rs)
    return store


def test_claim_candidates_give_what_the_namespace_scan_gave() -> None:
    store = replica_sets()
    before = ownership.owned_replicasets(rollout(), indexes.in_namespace(store, NS))
    store.walks = 0
    sync = replicaset_sync.ReplicaSetSync(writer=cast(Any, None), reflector=cast(Any, SimpleNamespace(
        store=store)), deadline=1.0)
    after = ownership.owned_replicasets(rollout(), sync._candidates(rollout(), NS))
    assert [id(rs) for rs in after] == [id(rs) for rs in before]
    assert [rs["metadata"]["name"] for rs in after] == [
        "adoptable", "adoptable-flag-not-true", "adoptable-junk-refs", "adoptable-owner-only",
        "adoptable-refs-not-a-list", "ours-a", "ours-with-owner"]
    assert store.walks == 0
    assert sync._candidates({"metadata": {}}, NS) == sync._candidates({"metadata": {"uid": "none"}}, NS)


class AdoptingWriter:
    """Answers an adoption patch with the patched ReplicaSet (no resourceVersion: nothing to wait for)."""

    def __init__(self, store: caches.Store) -> None:
        self.store = store
        self.patched: list[str] = []

    async def patch_replicaset(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.patched.append(name)
        current = self.store.get(f"{namespace}/{name}") or {}
        return {**current, "metadata": {**current["metadata"], **patch["metadata"]}}


async def test_claim_adopts_the_same_replicasets_without_walking_the_namespace() -> None:
    store = replica_sets()
    expected = [rs["metadata"]["name"] for rs in
                ownership.owned_replicasets(rollout(), indexes.in_namespace(store, NS))]
    store.walks = 0
    writer = AdoptingWriter(store)
    reflector = cast(Any, SimpleNamespace(store=store, resource=SimpleNamespace(name="replicasets")))
    sync = replicaset_sync.ReplicaSetSync(writer=cast(Any, writer), reflector=reflector, deadline=1.0)
    owned = await sync.claim(rollout(), NS, create=False)
    assert owned.new is None
    claimed = sorted(rs["metadata"]["name"] for rs in (*owned.others, owned.stable) if rs is not None)
    assert claimed == sorted(expected)
    assert writer.patched == [name for name in expected if name.startswith("adoptable")]
    assert store.walks == 0


def services_store() -> CountingStore:
    rng = random.Random(7)
    store = CountingStore(indexes.SERVICE_INDEXERS)
    for i in range(MANY):
        annotations = rng.choice([{}, {ingress_checks.MANAGED_BY_ANNOTATION: f"ro-{i}"}, None])
        store.upsert(meta(f"svc-{i:03}", annotations=annotations))
    for name, namespace, value in [("stable", NS, "ro"), ("canary", NS, "ro"), ("elsewhere", "other", "ro"),
                                   ("number", NS, 5), ("empty", NS, ""), ("prefix", NS, "ro-")]:
        store.upsert(meta(name, namespace, annotations={ingress_checks.MANAGED_BY_ANNOTATION: value}))
    return store


@pytest.mark.parametrize("rollout_name", ["ro", "5", "", "ro-7", "nobody"])
@pytest.mark.parametrize("keep", [(), ("stable",)])
def test_managed_services_are_what_the_scan_found(rollout_name: str, keep: tuple[str, ...]) -> None:
    store = services_store()
    before = services.to_release(indexes.in_namespace(store, NS), NS, rollout_name, keep)
    store.walks = 0
    reflector = cast(Any, SimpleNamespace(store=store))
    after = services.to_release(service_release._annotated(reflector, NS, rollout_name), NS, rollout_name,
                                keep)
    assert [id(svc) for svc in after] == [id(svc) for svc in before]
    if not keep:
        assert service_release.managed(reflector, NS, rollout_name) == [s["metadata"]["name"] for s in before]
    assert store.walks == 0


def test_managed_services_follow_the_annotation() -> None:
    store = services_store()
    reflector = cast(Any, SimpleNamespace(store=store))
    assert service_release.managed(reflector, NS, "ro") == ["canary", "stable"]
    store.upsert(meta("stable", annotations={}))  # released
    store.upsert(meta("svc-000", annotations={ingress_checks.MANAGED_BY_ANNOTATION: "ro"}))  # adopted
    assert service_release.managed(reflector, NS, "ro") == ["canary", "svc-000"]
    store.remove(f"{NS}/canary")
    assert service_release.managed(reflector, NS, "ro") == ["svc-000"]


def old_listing(store: caches.Store, namespace: str, rollout_name: str) -> list[str]:
    """`IngressSync.listing` as it was: a scan of the namespace parsing every annotation."""
    found = []
    for ingress in indexes.in_namespace(store, namespace):
        metadata = ingress.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        try:
            managed = bookkeeping.parse(annotations.get(bookkeeping.KEY))
        except bookkeeping.BookkeepingError:
            continue
        if rollout_name in managed:
            found.append(str(metadata.get("name", "")))
    return found


ODD_BOOKKEEPING = ['{"ro": ["a"]', "[]", '"ro"', "null", '{"ro": null}', '{"ro": 3}', '{"ro": [1]}',
                   '{"ro": [], "x": 3}', "{", "1e999", "[" * 5000, '{"ro": ["a"], "ro-1": []}', ""]


def ingresses_store() -> CountingStore:
    rng = random.Random(11)
    store = CountingStore(indexes.INGRESS_INDEXERS)
    for i in range(MANY):
        value = rng.choice([None, f'{{"ro-{i}": ["k"]}}', '{"other": []}', *ODD_BOOKKEEPING])
        annotations = {} if value is None else {bookkeeping.KEY: value}
        store.upsert(meta(f"ing-{i:03}", annotations=annotations))
    store.upsert(meta("app", annotations={bookkeeping.KEY: '{"ro": ["a"], "ro-b": []}'}))
    store.upsert(meta("app", "other", annotations={bookkeeping.KEY: '{"ro": ["a"]}'}))
    return store


@pytest.mark.parametrize("rollout_name", ["ro", "ro-1", "ro-b", "other", "x", "nobody"])
def test_listing_is_what_the_scan_found(rollout_name: str) -> None:
    store = ingresses_store()
    before = old_listing(store, NS, rollout_name)
    store.walks = 0
    sync = ingress_sync.IngressSync(writer=cast(Any, None), reflector=cast(Any, SimpleNamespace(store=store)),
                                    recorder=cast(Any, None), classes=["alb"], deadline=1.0)
    assert sync.listing(NS, rollout_name) == before
    assert store.walks == 0
    if rollout_name == "ro":
        assert "app" in before


@pytest.mark.parametrize("value", [*ODD_BOOKKEEPING, 7, None, ["x"], "{" * 100000])
def test_bookkept_rollouts_never_raises(value: Any) -> None:
    indexes.bookkept_rollouts(meta("app", annotations={bookkeeping.KEY: value}))


NO_NAMESPACE = {"name": "app", "annotations": {bookkeeping.KEY: '{"ro": []}',
                                            ingress_checks.MANAGED_BY_ANNOTATION: "ro"}}


@pytest.mark.parametrize("given", [{}, {"metadata": "x"}, {"metadata": {"annotations": "x"}},
                                   {"metadata": NO_NAMESPACE}])
def test_odd_objects_are_filed_under_nothing(given: caches.RawObject) -> None:
    assert indexes.bookkept_rollouts(given) == []
    assert indexes.managing_rollouts(given) == []
    assert indexes.orphan_namespaces(given) == []


def test_by_name_is_the_old_dict_without_the_copy() -> None:
    store = services_store()
    store.upsert(meta("svc-001", "other"))
    old = {str(o["metadata"]["name"]): o for o in indexes.in_namespace(store, NS)}
    store.walks = 0
    view = reconciling.Reconciler._by_name(cast(Any, SimpleNamespace(informers=SimpleNamespace(
        services=SimpleNamespace(store=store)))), "services", NS)
    assert isinstance(view, views.ByName)
    for name in ("stable", "svc-001", "elsewhere", "", "nope", "team/stable"):
        assert (name in view) == (name in old)
        assert view.get(name) is old.get(name)
    assert view["stable"] is old["stable"]
    with pytest.raises(KeyError):
        view["elsewhere"]
    assert 3 not in view
    assert store.walks == 0  # lookups only: validation never iterates
    assert list(view) == list(old)
    assert len(view) == len(old)
    assert dict(view) == old
    assert views.ByName(store, "") == {} and "" not in views.ByName(store, "")


def test_by_name_reads_the_store_as_it_is_now() -> None:
    store = caches.Store(indexes.with_namespace())
    view = views.ByName(store, NS)
    assert "a" not in view and len(view) == 0
    store.upsert(meta("a"))
    assert view["a"] is store.get(f"{NS}/a") and list(view) == ["a"]
    store.remove(f"{NS}/a")
    assert "a" not in view
