"""Key fan-out: a Rollout enqueues itself; an Ingress, Service, EndpointSlice or TargetGroupBinding enqueues
the Rollouts that name it (old and new side both, so a move reaches both Rollouts); a ReplicaSet enqueues its
owning Rollout (and nothing for other owners); every key once, sorted; odd objects enqueue nothing."""

from __future__ import annotations

from typing import Any

import pytest

from service.kube import caches, enqueuing, indexes


def meta(name: str, ns: str = "team", **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": ns, **extra}


def rollout(name: str, ingress: str, stable: str = "stable", canary: str = "canary") -> dict[str, Any]:
    canary_spec = {"stableService": stable, "canaryService": canary,
                   "trafficRouting": {"alb": {"ingress": ingress}}}
    return {"metadata": meta(name), "spec": {"strategy": {"canary": canary_spec}}}


@pytest.fixture
def sent() -> list[str]:
    return []


@pytest.fixture
def fanout(sent: list[str]) -> enqueuing.Fanout:
    store = caches.Store(indexes.ROLLOUT_INDEXERS)
    store.upsert(rollout("one", "ing-1", stable="s-1"))
    store.upsert(rollout("two", "ing-2", stable="s-2"))
    store.upsert(rollout("three", "ing-2", stable="s-2"))
    return enqueuing.Fanout(store, sent.append)


def test_rollout_enqueues_itself(fanout: enqueuing.Fanout, sent: list[str]) -> None:
    fanout.on_rollout("MODIFIED", {"metadata": meta("x")}, {"metadata": meta("x")})
    fanout.on_rollout("DELETED", {"metadata": {}}, None)
    assert sent == ["team/x"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(None, {"metadata": meta("ing-2")}, ["team/three", "team/two"], id="shared-ingress"),
        pytest.param({"metadata": meta("ing-1")}, None, ["team/one"], id="deleted"),
        pytest.param({"metadata": meta("ing-1", "other")}, None, [], id="other-namespace"),
        pytest.param({"metadata": {}}, None, [], id="no-name"),
    ],
)
def test_ingress(fanout: enqueuing.Fanout, sent: list[str], old: Any, new: Any, expected: list[str]) -> None:
    fanout.on_ingress("ADDED" if old is None else "DELETED", old, new)
    assert sent == expected


def test_service_enqueues_every_rollout_naming_it(fanout: enqueuing.Fanout, sent: list[str]) -> None:
    fanout.on_service("MODIFIED", {"metadata": meta("canary")}, {"metadata": meta("canary")})
    assert sent == ["team/one", "team/three", "team/two"]


def test_endpoint_slice_moving_between_services_reaches_both(
    fanout: enqueuing.Fanout, sent: list[str]
) -> None:
    def slice_of(service: str) -> dict[str, Any]:
        return {"metadata": meta("slice", labels={indexes.SERVICE_NAME_LABEL: service})}

    fanout.on_endpoint_slice("MODIFIED", slice_of("s-1"), slice_of("s-2"))
    assert sent == ["team/one", "team/three", "team/two"]


def test_target_group_binding(fanout: enqueuing.Fanout, sent: list[str]) -> None:
    binding = {"metadata": meta("tgb"), "spec": {"serviceRef": {"name": "s-1", "port": 80}}}
    fanout.on_target_group_binding("ADDED", None, binding)
    fanout.on_target_group_binding("ADDED", None, {"metadata": meta("tgb"), "spec": None})
    assert sent == ["team/one"]


@pytest.mark.parametrize(
    ("refs", "expected"),
    [
        pytest.param([{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "one", "uid": "u"}],
                     ["team/one"], id="rollout-owner"),
        pytest.param([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u"}], [],
                     id="deployment-owner"),
        pytest.param([{"apiVersion": "example.com/v1", "kind": "Rollout", "name": "x"}], [],
                     id="other-group"),
        pytest.param([{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout"}, "junk"], [], id="junk"),
        pytest.param("junk", [], id="not-a-list"),
    ],
)
def test_replica_set(fanout: enqueuing.Fanout, sent: list[str], refs: Any, expected: list[str]) -> None:
    fanout.on_replica_set("ADDED", None, {"metadata": meta("one-abc", ownerReferences=refs)})
    assert sent == expected


def test_replica_set_without_metadata(fanout: enqueuing.Fanout, sent: list[str]) -> None:
    fanout.on_replica_set("ADDED", None, {"metadata": "junk"})
    assert sent == []
