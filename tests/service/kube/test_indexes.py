"""Index functions: which Ingresses and Services a Rollout names (single and multi ingress, root service,
ping-pong), owner uids, the Service of an EndpointSlice and of a TargetGroupBinding; malformed objects are
filed under nothing instead of raising; the indexer tables wire the functions to their names."""

from __future__ import annotations

from typing import Any

import pytest

from service.kube import caches, indexes


def rollout(canary: Any, ns: str = "team") -> dict[str, Any]:
    return {"metadata": {"name": "ro", "namespace": ns}, "spec": {"strategy": {"canary": canary}}}


ALB = {"trafficRouting": {"alb": {"ingress": "ing", "rootService": "root"}}}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(rollout(ALB), ["team/ing"], id="single"),
        pytest.param(rollout({"trafficRouting": {"alb": {"ingresses": ["a", "b"]}}}), ["team/a", "team/b"],
                     id="multi"),
        pytest.param(rollout({"trafficRouting": {"alb": {"ingresses": ["a", 3, ""]}}}), ["team/a"],
                     id="multi-with-junk"),
        pytest.param(rollout({"trafficRouting": {"alb": {"ingresses": "a"}}}), [], id="ingresses-not-a-list"),
        pytest.param(rollout({"trafficRouting": {"nginx": {}}}), [], id="not-alb"),
        pytest.param(rollout(None), [], id="no-canary"),
        pytest.param({"spec": "x"}, [], id="spec-not-a-map"),
        pytest.param({}, [], id="empty"),
    ],
)
def test_rollout_ingresses(given: caches.RawObject, expected: list[str]) -> None:
    assert indexes.rollout_ingresses(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(rollout({"canaryService": "c", "stableService": "s", **ALB}),
                     ["team/c", "team/s", "team/root"], id="canary-stable-root"),
        pytest.param(rollout({"pingPong": {"pingService": "ping", "pongService": "pong"}, **ALB}),
                     ["team/root", "team/ping", "team/pong"], id="ping-pong"),
        pytest.param(rollout({"canaryService": 7, "pingPong": "x"}), [], id="junk"),
        pytest.param({}, [], id="empty"),
    ],
)
def test_rollout_services(given: caches.RawObject, expected: list[str]) -> None:
    assert indexes.rollout_services(given) == expected


@pytest.mark.parametrize(
    ("refs", "expected"),
    [
        pytest.param([{"uid": "u1", "controller": True}, {"uid": "u2"}], ["u1", "u2"], id="owners"),
        pytest.param([{"uid": ""}, "x", {"name": "no-uid"}], [], id="junk"),
        pytest.param("x", [], id="not-a-list"),
        pytest.param(None, [], id="none"),
    ],
)
def test_owner_uids(refs: Any, expected: list[str]) -> None:
    assert indexes.owner_uids({"metadata": {"name": "rs", "ownerReferences": refs}}) == expected


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        pytest.param({"kubernetes.io/service-name": "svc"}, ["team/svc"], id="labelled"),
        pytest.param({}, [], id="unlabelled"),
        pytest.param("x", [], id="labels-not-a-map"),
    ],
)
def test_endpoint_slice_services(labels: Any, expected: list[str]) -> None:
    given = {"metadata": {"name": "svc-abc", "namespace": "team", "labels": labels}}
    assert indexes.endpoint_slice_services(given) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"serviceRef": {"name": "svc", "port": 80}}, ["team/svc"], id="bound"),
        pytest.param({"serviceRef": None}, [], id="no-ref"),
        pytest.param(None, [], id="no-spec"),
    ],
)
def test_target_group_binding_services(spec: Any, expected: list[str]) -> None:
    given = {"metadata": {"name": "tgb", "namespace": "team"}, "spec": spec}
    assert indexes.target_group_binding_services(given) == expected


def test_indexer_tables_fill_a_store() -> None:
    store = caches.Store(indexes.ROLLOUT_INDEXERS)
    store.upsert(rollout({"canaryService": "c", "stableService": "s", **ALB}))
    assert store.index_keys(indexes.BY_INGRESS, "team/ing") == {"team/ro"}
    assert store.index_values(indexes.BY_SERVICE) == ["team/c", "team/root", "team/s"]
    assert set(indexes.REPLICA_SET_INDEXERS) == {indexes.BY_OWNER, indexes.BY_CONTROLLER,
                                                 indexes.BY_ORPHAN_NAMESPACE}
    assert set(indexes.ENDPOINT_SLICE_INDEXERS) == set(indexes.TARGET_GROUP_BINDING_INDEXERS) == {"service"}
