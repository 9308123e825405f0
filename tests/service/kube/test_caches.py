"""Store: keys, managedFields trimmed on insert without touching the caller's dict, ADDED/MODIFIED by cache
state, remove, replace (implied deletes, updates, recreations, no event for an unchanged object), named
indexes kept right across updates and deletes, unknown index names, objects without a name."""

from __future__ import annotations

from typing import Any

import pytest

from service.kube import caches


def obj(
    name: str, *, ns: str | None = "default", rv: str = "1", uid: str = "u-1", **extra: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "resourceVersion": rv, "uid": uid}
    if ns is not None:
        meta["namespace"] = ns
    meta.update(extra.pop("meta", {}))
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, **extra}


def by_color(o: caches.RawObject) -> list[str]:
    color = o.get("spec", {}).get("color")
    return [color] if color else []


@pytest.mark.parametrize(
    ("given", "key"),
    [
        pytest.param(obj("a"), "default/a", id="namespaced"),
        pytest.param(obj("n1", ns=None), "n1", id="cluster-scoped"),
        pytest.param(obj("n1", ns=""), "n1", id="empty-namespace"),
    ],
)
def test_object_key(given: dict[str, Any], key: str) -> None:
    assert caches.object_key(given) == key


@pytest.mark.parametrize(
    "given",
    [
        pytest.param({}, id="no-metadata"),
        pytest.param({"metadata": "x"}, id="metadata-not-a-map"),
        pytest.param({"metadata": {"name": ""}}, id="empty-name"),
    ],
)
def test_object_key_needs_a_name(given: dict[str, Any]) -> None:
    with pytest.raises(KeyError):
        caches.object_key(given)


def test_accessors_default_to_empty() -> None:
    assert (caches.resource_version_of({}), caches.uid_of({"metadata": {"uid": 3}})) == ("", "")


def test_managed_fields_trimmed_on_insert_and_caller_untouched() -> None:
    store = caches.Store()
    given = obj("a", meta={"managedFields": [{"manager": "kubectl"}], "labels": {"x": "y"}})
    change = store.upsert(given)
    assert change == caches.Change("ADDED", None, store.get("default/a"))
    cached = store.get("default/a")
    assert cached is not None
    assert "managedFields" not in cached["metadata"]
    assert cached["metadata"]["labels"] == {"x": "y"}
    assert given["metadata"]["managedFields"] == [{"manager": "kubectl"}]


def test_object_without_managed_fields_is_stored_as_is() -> None:
    given = obj("a")
    assert caches.trimmed(given) is given


def test_upsert_reports_modified_with_the_old_object() -> None:
    store = caches.Store()
    store.upsert(obj("a", rv="1"))
    first = store.get("default/a")
    change = store.upsert(obj("a", rv="2"))
    assert (change.type, change.old, change.new) == ("MODIFIED", first, store.get("default/a"))
    assert caches.resource_version_of(store.get("default/a") or {}) == "2"


def test_reads() -> None:
    store = caches.Store()
    for name in ("b", "a"):
        store.upsert(obj(name))
    assert store.keys() == ["default/a", "default/b"]
    assert [caches.object_key(o) for o in store.list()] == ["default/a", "default/b"]
    assert list(store) == ["default/a", "default/b"]
    assert len(store) == 2
    assert "default/a" in store
    assert store.get("default/zz") is None


def test_remove() -> None:
    store = caches.Store()
    store.upsert(obj("a"))
    cached = store.get("default/a")
    assert store.remove("default/a") is cached
    assert store.remove("default/a") is None
    assert len(store) == 0


def test_replace_reports_implied_changes() -> None:
    store = caches.Store()
    for o in (obj("same", rv="1", uid="s"), obj("changed", rv="1", uid="c"), obj("gone", rv="1", uid="g"),
              obj("recreated", rv="1", uid="r-old")):
        store.upsert(o)
    before: dict[str, Any] = {key: store.get(key) for key in store.keys()}
    changes = store.replace([
        obj("same", rv="1", uid="s"),
        obj("changed", rv="5", uid="c"),
        obj("recreated", rv="6", uid="r-new"),
        obj("new", rv="7", uid="n", meta={"managedFields": []}),
    ])
    seen = [(c.type, caches.object_key(c.new or c.old or {})) for c in changes]
    assert seen == [
        ("DELETED", "default/gone"),
        ("MODIFIED", "default/changed"),
        ("ADDED", "default/new"),
        ("DELETED", "default/recreated"),
        ("ADDED", "default/recreated"),
    ]
    assert changes[0].old is before["default/gone"]
    assert changes[1].old is before["default/changed"]
    assert changes[3].old is before["default/recreated"]
    assert store.keys() == ["default/changed", "default/new", "default/recreated", "default/same"]
    assert store.get("default/same") is before["default/same"]
    assert "managedFields" not in (store.get("default/new") or {})["metadata"]


def test_replace_with_nothing_empties_the_store() -> None:
    store = caches.Store()
    store.upsert(obj("a"))
    assert [c.type for c in store.replace([])] == ["DELETED"]
    assert len(store) == 0


def test_indexes_follow_updates_and_deletes() -> None:
    store = caches.Store({"color": by_color})
    store.upsert(obj("a", spec={"color": "red"}))
    store.upsert(obj("b", spec={"color": "red"}))
    assert store.index_keys("color", "red") == {"default/a", "default/b"}
    store.upsert(obj("a", rv="2", spec={"color": "blue"}))
    assert store.index_keys("color", "red") == {"default/b"}
    assert [caches.object_key(o) for o in store.by_index("color", "blue")] == ["default/a"]
    store.remove("default/b")
    assert store.index_keys("color", "red") == set()
    assert store.index_values("color") == ["blue"]
    store.replace([obj("c", spec={"color": "green"})])
    assert store.index_values("color") == ["green"]
    assert store.by_index("color", "blue") == []


def test_index_keys_is_a_copy() -> None:
    store = caches.Store({"color": by_color})
    store.upsert(obj("a", spec={"color": "red"}))
    store.index_keys("color", "red").clear()
    assert store.index_keys("color", "red") == {"default/a"}


def test_unknown_index_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        caches.Store().by_index("nope", "x")


def test_object_without_a_name_is_refused() -> None:
    store = caches.Store()
    with pytest.raises(KeyError):
        store.upsert({"metadata": {}})
    assert len(store) == 0
