"""Storage indexes: namespace, label, owner and uid indexes stay current through every write, and lists that
use them answer exactly what a scan would (same objects, same order, copies that cannot change the store)."""

from __future__ import annotations

from typing import Any

from sandbox.apiserver import selectors
from sandbox.apiserver.storage import Storage


def pod(name: str, ns: str = "default", owner: str | None = None, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels}
    if owner is not None:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": owner, "controller": True}
        ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": []}}


def scan(s: Storage, namespace: str | None, label_selector: str | None) -> list[str]:
    """What a whole-store scan answers: the reference the indexed list must agree with."""
    match = selectors.label_matcher(label_selector)
    return [
        f"{p['metadata']['namespace']}/{p['metadata']['name']}"
        for p in sorted(s.list("pods"), key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"]))
        if (namespace is None or p["metadata"]["namespace"] == namespace) and match(p)
    ]


def names(objs: list[dict[str, Any]]) -> list[str]:
    return [f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in objs]


def test_equality_pairs_are_what_a_selector_requires_outright() -> None:
    pairs = selectors.equality_pairs("a=1,b==2,c in (3),d in (4,5),e!=6,f,!g")
    assert pairs == [("a", "1"), ("b", "2"), ("c", "3")]
    assert selectors.equality_pairs(None) == []
    assert selectors.equality_pairs("x notin (1)") == []


def test_indexed_lists_agree_with_a_scan_through_creates_relabels_and_deletes() -> None:
    s = Storage()
    s.create("namespaces", {"metadata": {"name": "other"}})
    for i in range(12):
        s.create("pods", pod(f"p{i:02d}", "other" if i % 3 == 0 else "default", app=f"a{i % 4}", tier="web"))
    s.merge_patch("pods", "default", "p01", {"metadata": {"labels": {"app": "a3", "tier": None}}})
    s.delete("pods", "default", "p02")
    queries = [None, "app=a1", "app=a3", "app=a3,tier=web", "tier in (web)", "app!=a1", "app", "app=zz"]
    for namespace in (None, "default", "other"):
        for query in queries:
            assert names(s.list("pods", namespace, query)) == scan(s, namespace, query), (namespace, query)
    assert names(s.list("pods", "default", "app=a3")) == ["default/p01", "default/p07", "default/p11"]


def test_selected_takes_an_equality_map_and_an_empty_one_selects_nothing() -> None:
    s = Storage()
    s.create("pods", pod("a", app="x", hash="1"))
    s.create("pods", pod("b", app="x", hash="2"))
    assert names(s.selected("pods", "default", {"app": "x", "hash": "2"})) == ["default/b"]
    assert s.selected("pods", "default", {}) == []
    assert s.selected("pods", "kube-system", {"app": "x"}) == []


def test_owned_follows_owner_references_and_returns_copies() -> None:
    s = Storage()
    s.create("pods", pod("a", owner="u1"))
    s.create("pods", pod("b", owner="u1"))
    s.create("pods", pod("c", owner="u2"))
    owned = s.owned("pods", "u1")
    assert names(owned) == ["default/a", "default/b"]
    owned[0]["metadata"]["labels"]["mutated"] = "yes"
    assert "mutated" not in (s.get("pods", "default", "a") or {})["metadata"]["labels"]
    s.merge_patch("pods", "default", "a", {"metadata": {"ownerReferences": []}})
    assert names(s.owned("pods", "u1")) == ["default/b"]


def test_a_mutated_list_result_changes_neither_the_store_nor_the_index() -> None:
    s = Storage()
    s.create("pods", pod("a", app="x"))
    (listed,) = s.list("pods", "default", "app=x")
    listed["metadata"]["labels"]["app"] = "y"
    assert names(s.list("pods", "default", "app=x")) == ["default/a"]
    assert s.list("pods", "default", "app=y") == []


def test_uid_of_and_garbage_collection_use_the_uid_and_owner_indexes() -> None:
    s = Storage()
    rs = s.create("replicasets.apps", {"metadata": {"name": "rs"}, "spec": {"replicas": 0}})
    uid = rs["metadata"]["uid"]
    assert s.uid_of("replicasets.apps", "default", "rs") == uid
    assert s.uid_of("replicasets.apps", "default", "missing") is None
    s.create("pods", pod("child", owner=uid))
    s.create("pods", pod("stranger", owner="nobody"))
    s.delete("replicasets.apps", "default", "rs")
    assert names(s.list("pods")) == ["default/stranger"]


def test_deleting_a_namespace_removes_its_objects_from_every_index() -> None:
    s = Storage()
    s.create("namespaces", {"metadata": {"name": "gone"}})
    s.create("pods", pod("a", "gone", app="x"))
    s.create("pods", pod("b", app="x"))
    s.delete("namespaces", None, "gone")
    assert names(s.list("pods", None, "app=x")) == ["default/b"]
    assert s.list("pods", "gone") == []


def test_peek_answers_the_stored_objects_in_list_order_without_copying() -> None:
    s = Storage()
    for ns in ("x", "y"):
        s.create("namespaces", {"metadata": {"name": ns}})
    for name, ns in (("b", "x"), ("a", "y"), ("c", "x")):
        s.create("pods", pod(name, ns))
    assert names(s.peek("pods")) == names(s.list("pods")) == ["x/b", "x/c", "y/a"]
    assert names(s.peek("pods", "x")) == ["x/b", "x/c"]
    first = s.peek("pods", "x")[0]
    assert first is s.peek("pods", "x")[0]  # the stored object itself: nothing copied
    assert s.peek("services") == []
