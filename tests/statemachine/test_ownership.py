"""Ownership and adoption of ReplicaSets: controller references, selectors, the adoption patch.

Aspects: ownership by controller ownerReference and uid (kind Rollout), the selector still matching; every
selector operator, an empty or malformed selector matching nothing; adoptability (controller-less, same
namespace, not being deleted), foreign owners (another Rollout of the same name, a Deployment) left alone;
the exact adoption patch (our ownerReference, other owners kept, the hash label when missing, uid and
resourceVersion preconditions, never spec); None when already ours; ValueError for a foreign ReplicaSet.
"""

from __future__ import annotations

from typing import Any

import pytest

from statemachine import ownership
from tests.statemachine.replicaset_cases import (
    DEPLOYMENT,
    FOREIGN,
    HASH,
    NON_CONTROLLER,
    OURS,
    names,
    rollout,
    rs,
)

# --- ownership and adoption --------------------------------------------------------------------------


@pytest.mark.parametrize(("candidate", "expected"), [
    pytest.param(rs("a"), True, id="controlled-by-us"),
    pytest.param(rs("a", labels={"app": "other", HASH: "a"}), False,
                 id="ours-but-selector-no-longer-matches"),
    pytest.param(rs("a", owner=None), True, id="controller-less-matching-adoptable"),
    pytest.param(rs("a", owner=NON_CONTROLLER), True, id="only-non-controller-owner-adoptable"),
    pytest.param(rs("a", owner=None, labels={"app": "other"}), False, id="controller-less-not-matching"),
    pytest.param(rs("a", owner=FOREIGN), False, id="other-rollout-with-same-name"),
    pytest.param(rs("a", owner=DEPLOYMENT), False, id="deployment-owned"),
    pytest.param(rs("a", owner={**OURS, "controller": False}), True,
                 id="our-ref-without-controller-adoptable"),
    pytest.param(rs("a", owner=None, deletionTimestamp="2026-11-01T00:00:00Z"), False, id="being-deleted"),
    pytest.param(rs("a", owner=None, namespace="other"), False, id="other-namespace"),
])
def test_owned_replicasets(candidate: dict[str, Any], expected: bool) -> None:
    assert ownership.owned_replicasets(rollout(), [candidate]) == ([candidate] if expected else [])


def test_owned_keeps_input_order_and_drops_foreign() -> None:
    items = [rs("b"), rs("x", owner=FOREIGN), rs("a", owner=None), rs("c")]
    assert names(ownership.owned_replicasets(rollout(), items)) == ["demo-b", "demo-a", "demo-c"]


def test_rollout_without_uid_owns_nothing() -> None:
    ro = rollout()
    ro["metadata"]["uid"] = ""
    assert not ownership.is_owned(ro, rs("a", owner={**OURS, "uid": ""}))


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    pytest.param({"matchLabels": {"app": "demo"}}, {"app": "demo", "x": "1"}, True, id="match-labels"),
    pytest.param({"matchLabels": {"app": "demo"}}, {"app": "web"}, False, id="match-labels-differ"),
    pytest.param({"matchExpressions": [{"key": "app", "operator": "In", "values": ["demo", "web"]}]},
                 {"app": "web"}, True, id="in"),
    pytest.param({"matchExpressions": [{"key": "app", "operator": "In", "values": ["demo"]}]}, {}, False,
                 id="in-missing-key"),
    pytest.param({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["demo"]}]}, {}, True,
                 id="not-in-missing-key"),
    pytest.param({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["demo"]}]},
                 {"app": "demo"}, False, id="not-in"),
    pytest.param({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, {"app": ""}, True,
                 id="exists"),
    pytest.param({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, {"app": "x"}, False,
                 id="does-not-exist"),
    pytest.param({"matchExpressions": [{"key": "app", "operator": "Near"}]}, {"app": "x"}, False,
                 id="unknown-operator"),
    pytest.param({"matchLabels": {"app": "demo"}, "matchExpressions": [{"key": "t", "operator": "Exists"}]},
                 {"app": "demo"}, False, id="both-must-hold"),
    pytest.param({}, {"app": "demo"}, False, id="empty-selector-matches-nothing"),
    pytest.param({"matchLabels": "app=demo"}, {"app": "demo"}, False, id="malformed"),
    pytest.param({"matchExpressions": ["app"]}, {"app": "demo"}, False, id="malformed-expression"),
])
def test_selector_matches(selector: dict[str, Any], labels: dict[str, str], expected: bool) -> None:
    assert ownership.selector_matches(selector, labels) is expected


def test_adoption_patch_controller_less_exact() -> None:
    candidate = rs("7bb4fbc896", owner=NON_CONTROLLER)
    assert ownership.adoption_patch(rollout(), candidate) == {"metadata": {
        "ownerReferences": [NON_CONTROLLER, OURS], "uid": "rs-7bb4fbc896", "resourceVersion": "42",
    }}


def test_adoption_patch_adds_missing_hash_label_from_template() -> None:
    candidate = rs("7bb4fbc896", owner=None, labels={"app": "demo"})
    assert ownership.adoption_patch(rollout(), candidate) == {"metadata": {
        "labels": {HASH: "7bb4fbc896"}, "ownerReferences": [OURS], "uid": "rs-7bb4fbc896",
        "resourceVersion": "42",
    }}


def test_adoption_patch_replaces_our_non_controller_reference() -> None:
    candidate = rs("a", owner={**OURS, "controller": False})
    assert ownership.adoption_patch(rollout(), candidate) == {"metadata": {
        "ownerReferences": [OURS], "uid": "rs-a", "resourceVersion": "42"}}


def test_adoption_patch_owned_without_label_only_labels() -> None:
    candidate = rs("a", labels={"app": "demo"})
    assert ownership.adoption_patch(rollout(), candidate) == {"metadata": {
        "labels": {HASH: "a"}, "uid": "rs-a", "resourceVersion": "42"}}


@pytest.mark.parametrize("candidate", [
    pytest.param(rs("a"), id="already-ours"),
    pytest.param(rs("a", revision=None), id="already-ours-without-revision"),
])
def test_adoption_patch_none_when_already_ours(candidate: dict[str, Any]) -> None:
    assert ownership.adoption_patch(rollout(), candidate) is None


@pytest.mark.parametrize("candidate", [
    pytest.param(rs("a", owner=FOREIGN), id="foreign-rollout"),
    pytest.param(rs("a", owner=DEPLOYMENT), id="deployment"),
    pytest.param(rs("a", owner=None, labels={"app": "other"}), id="selector-mismatch"),
])
def test_adoption_patch_refuses_foreign(candidate: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"^ReplicaSet 'demo-a' cannot be adopted$"):
        ownership.adoption_patch(rollout(), candidate)


def test_adoption_patch_never_touches_spec() -> None:
    candidate = rs("7bb4fbc896", owner=None, labels={"app": "demo"})
    patch = ownership.adoption_patch(rollout(), candidate)
    assert patch is not None and set(patch) == {"metadata"}
