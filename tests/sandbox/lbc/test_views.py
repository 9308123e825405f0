"""The LBC's ClusterView answers the same from the storage's own indexes (`Lookups`, what the simulator uses)
as from lists indexed on first use: a Service by name, a Service's EndpointSlices (by label, sorted, and only
its namespace's), Endpoints by name, and nothing for what does not exist; the storage hands out its stored
objects, not copies."""

from __future__ import annotations

from sandbox.apiserver.storage import Storage
from sandbox.lbc import building
from tests.sandbox.lbc import manifests
from tests.sandbox.lbc.manifests import SLICES


def _storage() -> Storage:
    storage = Storage()
    storage.create("namespaces", {"metadata": {"name": "other"}})
    manifests.backend_pair(storage, stable=["10.0.1.1", "10.0.1.2"], canary=["10.0.2.1"])
    second = manifests.endpoint_slice("stable", ["10.0.1.3"])
    second["metadata"]["name"] = "stable-a-second-slice"
    storage.create(SLICES, second)
    storage.create("services", manifests.service("stable", namespace="other"))
    storage.create(SLICES, manifests.endpoint_slice("stable", ["10.9.9.9"], namespace="other"))
    storage.create("endpoints", {"metadata": {"name": "legacy", "namespace": "default"},
                                 "subsets": [{"addresses": [{"ip": "10.0.3.1"}], "ports": [{"port": 80}]}]})
    return storage


def test_lookups_answer_as_the_lists_do() -> None:
    storage = _storage()
    listed = building.ClusterView(services=storage.peek("services"), endpoint_slices=storage.peek(SLICES),
                                  endpoints=storage.peek("endpoints"))
    looked_up = building.ClusterView(lookups=building.Lookups(one=storage.peek_one,
                                                              labelled=storage.peek_labelled))
    for namespace, name in (("default", "stable"), ("default", "canary"), ("other", "stable"),
                            ("default", "legacy"), ("default", "missing"), ("nowhere", "stable")):
        assert looked_up.service(namespace, name) == listed.service(namespace, name)
        assert looked_up.slices_of(namespace, name) == listed.slices_of(namespace, name)
        assert looked_up.endpoints_of(namespace, name) == listed.endpoints_of(namespace, name)
    assert [s["metadata"]["name"] for s in looked_up.slices_of("default", "stable")] == [
        "stable-a-second-slice", "stable-slice"]
    assert building.service_targets(looked_up, "default", "stable", 80) == (
        ("10.0.1.1", 8080), ("10.0.1.2", 8080), ("10.0.1.3", 8080))
    assert looked_up.service("default", "stable") is storage.peek_one("services", "default", "stable")
