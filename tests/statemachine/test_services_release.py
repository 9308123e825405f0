"""Which Services a Rollout names and which it releases, and the release merge patch.

Aspects: the named Services are canary, stable, ping and pong (empty names dropped, none without a canary);
only Services of the namespace whose managed-by annotation names the Rollout are released, `keep` excepted,
never one annotated for another Rollout or not at all, odd shapes ignored, sorted by name; the patch removes
the annotation and the pod-hash selector key with `null`, keeps the other selector keys, leaves out a selector
key that is absent and carries the resourceVersion as its precondition.
"""

from __future__ import annotations

from typing import Any

import pytest

from statemachine import parsing, services
from tests.statemachine.conftest import merge, rollout_dict

MANAGED_BY = "argo-rollouts.argoproj.io/managed-by-rollouts"
HASH = "rollouts-pod-template-hash"


def svc(name: str, owner: str | None = "demo", *, namespace: str = "default", pod_hash: str | None = "abc",
        version: str = "7") -> dict[str, Any]:
    selector = {"app": "demo", **({HASH: pod_hash} if pod_hash else {})}
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "resourceVersion": version,
                                "annotations": {"team": "a", **({MANAGED_BY: owner} if owner else {})}}
    return {"metadata": metadata, "spec": {"selector": selector, "ports": [{"port": 80}]}}


@pytest.mark.parametrize(("canary", "expected"), [
    pytest.param({}, {"canary", "stable"}, id="canary-and-stable"),
    pytest.param({"pingPong": {"pingService": "ping", "pongService": "pong"}},
                 {"canary", "stable", "ping", "pong"}, id="ping-pong-too"),
    pytest.param({"canaryService": ""}, {"stable"}, id="empty-name-dropped"),
])
def test_named_services(canary: dict[str, Any], expected: set[str]) -> None:
    rollout = parsing.parse_rollout(rollout_dict(**canary))
    assert services.named_services(rollout) == frozenset(expected)


def test_named_services_without_a_canary_is_empty() -> None:
    raw = rollout_dict()
    raw["spec"]["strategy"] = {}
    assert services.named_services(parsing.parse_rollout(raw)) == frozenset()


def test_to_release_picks_only_ours_in_the_namespace() -> None:
    listed = [
        svc("b"), svc("a"), svc("kept"),
        svc("other", owner="another"),
        svc("plain", owner=None),
        svc("elsewhere", namespace="other-ns"),
        {"metadata": "odd"}, {"spec": {}},
    ]
    found = services.to_release(listed, "default", "demo", keep={"kept"})
    assert [s["metadata"]["name"] for s in found] == ["a", "b"]


def test_release_patch_removes_annotation_and_hash_only() -> None:
    current = svc("canary")
    patch = services.release_patch(current)
    assert patch == {"metadata": {"annotations": {MANAGED_BY: None}, "resourceVersion": "7"},
                     "spec": {"selector": {HASH: None}}}
    after = merge(current, patch)
    assert after["spec"]["selector"] == {"app": "demo"}
    assert after["metadata"]["annotations"] == {"team": "a"}


def test_release_patch_without_a_hash_selector_only_drops_the_annotation() -> None:
    patch = services.release_patch(svc("canary", pod_hash=None, version=""))
    assert patch == {"metadata": {"annotations": {MANAGED_BY: None}}}
