"""A Rollout's ReplicaSets: new/stable/other, revisions, bodies, views and scale patches.

Aspects: a reference-created ReplicaSet with the same template and another hash is found (adopted), never
replaced, also with injected ephemeral metadata and API-server defaulting; foreign-owned ones are not; with no
template match, status.currentPodHash is trusted only while observedGeneration is current; the highest
revision wins among duplicates; stable by hash; others by name; revision parsing and numbering;
the exact new ReplicaSet body, found again on the next cycle; syncing an existing new ReplicaSet (copied
annotations, revision bump with history, minReadySeconds); the ReplicaSetView; scale and scale-down-deadline
patches; hypothesis: nothing raises on JSON-like ReplicaSets and Rollouts.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statemachine import ownership, pod_templates, replicasets
from statemachine.snapshot import ReplicaSetView
from tests.statemachine.replicaset_cases import FOREIGN, HASH, NEW_TEMPLATE, TEMPLATE, UID, names, rollout, rs

# --- new, stable, other ------------------------------------------------------------------------------


def api_defaulted(pod_hash: str) -> dict[str, Any]:
    """A reference-created ReplicaSet as the API server returns it (template defaulted)."""
    item = rs(pod_hash)
    item["spec"]["template"] = {
        "metadata": {"creationTimestamp": None, "labels": {"app": "demo", HASH: pod_hash}},
        "spec": {"containers": [{"image": "nginx:1.25", "imagePullPolicy": "IfNotPresent", "name": "web",
                                 "resources": {}, "terminationMessagePath": "/dev/termination-log",
                                 "terminationMessagePolicy": "File"}],
                 "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                 "securityContext": {}, "terminationGracePeriodSeconds": 30},
    }
    return item


def with_ephemeral(item: dict[str, Any]) -> dict[str, Any]:
    item = copy.deepcopy(item)
    item["spec"]["template"]["metadata"]["labels"]["role"] = "canary"
    item["spec"]["template"]["metadata"]["annotations"] = {"injected": "yes"}
    item["metadata"]["annotations"][replicasets.EPHEMERAL_METADATA_ANNOTATION] = \
        '{"labels":{"role":"canary"},"annotations":{"injected":"yes"}}'
    return item


@pytest.mark.parametrize(("items", "expected"), [
    pytest.param([api_defaulted("7bb4fbc896")], "demo-7bb4fbc896", id="reference-rs-other-hash-adopted"),
    pytest.param([rs("old", template=NEW_TEMPLATE, revision="1"), rs("7bb4fbc896", revision="2")],
                 "demo-7bb4fbc896", id="among-older-revisions"),
    pytest.param([with_ephemeral(rs("7bb4fbc896"))], "demo-7bb4fbc896", id="ephemeral-metadata-ignored"),
    pytest.param([rs("7bb4fbc896", owner=None)], "demo-7bb4fbc896", id="controller-less-adoptable"),
    pytest.param([rs("a", revision="3"), rs("b", revision="5"), rs("c", revision="4")], "demo-b",
                 id="highest-revision-wins"),
    pytest.param([rs("b", created="2026-11-02T00:00:00Z"), rs("a", created="2026-11-01T00:00:00Z")], "demo-a",
                 id="same-revision-oldest-wins"),
    pytest.param([rs("a", revision="x"), rs("b", revision="1")], "demo-b", id="unparsable-revision-last"),
    pytest.param([rs("7bb4fbc896", owner=FOREIGN)], None, id="foreign-owned-not-adopted"),
    pytest.param([rs("7bb4fbc896", template=NEW_TEMPLATE)], None, id="template-differs"),
    pytest.param([], None, id="none"),
])
def test_find_new_replicaset(items: list[dict[str, Any]], expected: str | None) -> None:
    found = replicasets.find_new_replicaset(rollout(), items)
    assert (found["metadata"]["name"] if found is not None else None) == expected


def test_reference_rs_is_adopted_never_replaced() -> None:
    """Taking over from the reference: its ReplicaSet keeps serving though our hash for it differs."""
    reference = api_defaulted("7bb4fbc896")
    ours = pod_templates.pod_template_hash(TEMPLATE)
    assert ours != "7bb4fbc896"
    found = replicasets.find_new_replicaset(rollout(), [reference])
    assert found is reference
    assert ownership.adoption_patch(rollout(), reference) is None
    assert replicasets.replicaset_view(reference).hash == "7bb4fbc896"


def unknown_default(pod_hash: str) -> dict[str, Any]:
    """A ReplicaSet whose template carries a default `normalise_template` does not know."""
    item = rs(pod_hash)
    item["spec"]["template"]["spec"]["enableServiceLinks"] = True
    return item


@pytest.mark.parametrize(("generation", "status", "expected"), [
    pytest.param(3, {"currentPodHash": "7bb4fbc896", "observedGeneration": "3"}, "demo-7bb4fbc896",
                 id="observed-generation-trusts-current-pod-hash"),
    pytest.param(4, {"currentPodHash": "7bb4fbc896", "observedGeneration": "3"}, None,
                 id="spec-changed-since"),
    pytest.param(3, {"currentPodHash": "other", "observedGeneration": "3"}, None, id="other-hash"),
    pytest.param(3, {"currentPodHash": "7bb4fbc896"}, None, id="never-observed"),
    pytest.param(None, {"currentPodHash": "7bb4fbc896", "observedGeneration": ""}, None, id="no-generation"),
    pytest.param(3, {"currentPodHash": "", "observedGeneration": "3"}, None, id="no-current-pod-hash"),
])
def test_find_new_falls_back_to_the_observed_current_pod_hash(generation: int | None, status: dict[str, Any],
                                                              expected: str | None) -> None:
    ro = rollout()
    ro["metadata"]["generation"] = generation
    ro["status"] = status
    items = [unknown_default("7bb4fbc896"), rs("x", template=NEW_TEMPLATE)]
    found = replicasets.find_new_replicaset(ro, items)
    assert (found["metadata"]["name"] if found is not None else None) == expected


def test_find_new_prefers_the_template_match_over_the_status() -> None:
    ro = rollout()
    ro["metadata"]["generation"] = 3
    ro["status"] = {"currentPodHash": "old", "observedGeneration": "3"}
    found = replicasets.find_new_replicaset(ro, [rs("old", template=NEW_TEMPLATE, revision="9"), rs("b")])
    assert found is not None and found["metadata"]["name"] == "demo-b"


def test_find_new_needs_a_hash_in_the_pod_template() -> None:
    item = rs("a", owner=None)
    del item["spec"]["template"]["metadata"]["labels"][HASH]
    assert replicasets.find_new_replicaset(rollout(), [item]) is None


def test_find_new_does_not_mutate() -> None:
    items = [with_ephemeral(rs("a")), api_defaulted("b")]
    before = copy.deepcopy(items)
    replicasets.find_new_replicaset(rollout(), items)
    assert items == before


@pytest.mark.parametrize(("stable", "items", "expected"), [
    pytest.param("a", [rs("a"), rs("b")], "demo-a", id="by-hash"),
    pytest.param("", [rs("a")], None, id="unset"),
    pytest.param("gone", [rs("a")], None, id="missing"),
    pytest.param("a", [rs("a", revision="1"), {**rs("a", revision="3"), "metadata": {
        **rs("a")["metadata"], "name": "demo-a-2", "annotations": {"rollout.argoproj.io/revision": "3"}}}],
        "demo-a-2", id="duplicate-highest-revision"),
    pytest.param("a", [rs("x", labels={"app": "demo"}, template={"metadata": {"labels": {"app": "demo"}}})],
                 None, id="template-label-only-other-hash"),
])
def test_find_stable_replicaset(stable: str, items: list[dict[str, Any]], expected: str | None) -> None:
    found = replicasets.find_stable_replicaset(stable, items)
    assert (found["metadata"]["name"] if found is not None else None) == expected


def test_other_replicasets_by_name() -> None:
    items = [rs("a"), rs("b"), rs("c"), rs("d")]
    assert names(replicasets.other_replicasets(items, new=items[1], stable=items[3])) == ["demo-a", "demo-c"]
    assert names(replicasets.other_replicasets(items, new=None, stable=None)) == names(items)
    assert names(replicasets.other_replicasets(items, new=items[0], stable=items[0])) == ["demo-b", "demo-c",
                                                                                         "demo-d"]


# --- revisions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param("7", 7, id="number"),
    pytest.param(None, 0, id="absent"),
    pytest.param("x7", None, id="garbage"),
    pytest.param("", None, id="empty"),
    pytest.param("-2", -2, id="negative"),
    pytest.param("+3", 3, id="plus-sign"),
    pytest.param("+-3", None, id="two-signs"),
    pytest.param("٣", None, id="non-ascii-digit"),
])
def test_revision(value: str | None, expected: int | None) -> None:
    assert replicasets.revision_of(rs("a", revision=value)) == expected


@pytest.mark.parametrize(("items", "expected"), [
    pytest.param([], 1, id="first"),
    pytest.param([rs("o1", template=NEW_TEMPLATE, revision="1"),
                  rs("o2", template=NEW_TEMPLATE, revision="2")], 3, id="after-old-revisions"),
    pytest.param([rs("o1", template=NEW_TEMPLATE, revision="1"), rs("n", revision="2")], 2,
                 id="new-rs-excluded"),
    pytest.param([rs("n", revision="1"), rs("o", template=NEW_TEMPLATE, revision="4")], 5,
                 id="rollback-to-older-rs"),
    pytest.param([rs("o", template=NEW_TEMPLATE, revision="oops"),
                  rs("p", template=NEW_TEMPLATE, revision="2")], 3, id="unparsable-skipped"),
    pytest.param([rs("f", template=NEW_TEMPLATE, revision="9", owner=FOREIGN)], 1, id="foreign-ignored"),
])
def test_next_revision(items: list[dict[str, Any]], expected: int) -> None:
    assert replicasets.next_revision(rollout(), items) == expected


# --- bodies ------------------------------------------------------------------------------------------


def test_new_replicaset_body_exact() -> None:
    ro = rollout(annotations={"rollout.argoproj.io/revision": "3", "team": "web",
                              "kubectl.kubernetes.io/last-applied-configuration": "{}",
                              "rollout.argoproj.io/revision-history": "1",
                              "rollout.argoproj.io/desired-replicas": "9"},
                 selector={"matchLabels": {"app": "demo"},
                           "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]},
                 minReadySeconds=10)
    assert replicasets.new_replicaset_body(ro, "5d8f4c", 1, 4) == {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "demo-5d8f4c",
            "namespace": "default",
            "labels": {"app": "demo", HASH: "5d8f4c"},
            "annotations": {"team": "web", "rollout.argoproj.io/revision": "4",
                            "rollout.argoproj.io/desired-replicas": "5"},
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "demo",
                                 "uid": UID, "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": {
            "replicas": 1,
            "minReadySeconds": 10,
            "selector": {"matchLabels": {"app": "demo", HASH: "5d8f4c"},
                         "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]},
            "template": {"metadata": {"labels": {"app": "demo", HASH: "5d8f4c"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}},
        },
    }


def test_new_replicaset_body_defaults_and_no_mutation() -> None:
    ro = rollout(replicas=None, template={"spec": {"containers": [{"name": "c", "image": "i"}]}})
    before = copy.deepcopy(ro)
    body = replicasets.new_replicaset_body(ro, "h", 0, 1)
    assert ro == before
    assert body["metadata"]["annotations"] == {"rollout.argoproj.io/revision": "1",
                                               "rollout.argoproj.io/desired-replicas": "1"}
    assert body["spec"] == {"replicas": 0, "selector": {"matchLabels": {"app": "demo", HASH: "h"}},
                            "template": {"metadata": {"labels": {HASH: "h"}},
                                         "spec": {"containers": [{"name": "c", "image": "i"}]}}}
    assert body["metadata"]["labels"] == {HASH: "h"}


def test_created_body_is_found_again() -> None:
    """What we create is our own new ReplicaSet on the next cycle, and needs no adoption."""
    ro = rollout()
    pod_hash = pod_templates.pod_template_hash(TEMPLATE)
    body = replicasets.new_replicaset_body(ro, pod_hash, 5, 1)
    assert replicasets.find_new_replicaset(ro, [body]) is body
    assert ownership.adoption_patch(ro, body) is None
    assert replicasets.next_revision(ro, [body]) == 1


@pytest.mark.parametrize(("ro", "item", "revision", "expected"), [
    pytest.param(rollout(), rs("a", revision="4"), 4, None, id="up-to-date"),
    pytest.param(rollout(), rs("a", revision="2"), 5,
                 {"metadata": {"annotations": {"rollout.argoproj.io/revision": "5",
                                               "rollout.argoproj.io/revision-history": "2"}}},
                 id="rollback-bumps-revision"),
    pytest.param(rollout(), rs("a", revision="3", annotations={"rollout.argoproj.io/revision-history": "1"}),
                 5,
                 {"metadata": {"annotations": {"rollout.argoproj.io/revision": "5",
                                               "rollout.argoproj.io/revision-history": "1,3"}}},
                 id="history-appended"),
    pytest.param(rollout(), rs("a", revision="6"), 5, None, id="never-lowered"),
    pytest.param(rollout(), rs("a", revision=None), 2,
                 {"metadata": {"annotations": {"rollout.argoproj.io/revision": "2"}}}, id="no-revision-yet"),
    pytest.param(rollout(), rs("a", revision=""), 2,
                 {"metadata": {"annotations": {"rollout.argoproj.io/revision": "2"}}}, id="empty-revision"),
    pytest.param(rollout(), rs("a", revision="x"), 2, None, id="unparsable-left-alone"),
    pytest.param(rollout(annotations={"team": "web", "rollout.argoproj.io/revision": "9"}),
                 rs("a", revision="4"), 4, {"metadata": {"annotations": {"team": "web"}}},
                 id="copies-annotations-without-history"),
    pytest.param(rollout(minReadySeconds=10), rs("a", revision="4"), 4, {"spec": {"minReadySeconds": 10}},
                 id="min-ready-seconds"),
])
def test_sync_new_replicaset_patch(ro: dict[str, Any], item: dict[str, Any], revision: int,
                                   expected: dict[str, Any] | None) -> None:
    assert replicasets.sync_new_replicaset_patch(ro, item, revision) == expected


def test_desired_pod_hash_uses_collision_count() -> None:
    ro = rollout()
    assert replicasets.desired_pod_hash(ro) == pod_templates.pod_template_hash(TEMPLATE)
    ro["status"] = {"collisionCount": 2}
    assert replicasets.desired_pod_hash(ro) == pod_templates.pod_template_hash(TEMPLATE, 2)
    assert replicasets.desired_pod_hash(ro) != pod_templates.pod_template_hash(TEMPLATE)


# --- views and patches -------------------------------------------------------------------------------


@pytest.mark.parametrize(("item", "expected"), [
    pytest.param(rs("a", revision="3"), ReplicaSetView("demo-a", "a", 5, 5, 5, 5, 3, "2026-11-01T00:00:00Z"),
                 id="full"),
    pytest.param({"metadata": {"name": "n"}, "spec": {"replicas": 2}}, ReplicaSetView("n", "", 2),
                 id="no-status"),
    pytest.param({"metadata": {"name": "n"}, "spec": {}, "status": {"replicas": 0}},
                 ReplicaSetView("n", "", 1, replicas=0), id="nil-replicas-is-one"),
    pytest.param({"metadata": {"labels": "x", "annotations": {"rollout.argoproj.io/revision": "-4"}},
                  "spec": {"replicas": True}, "status": {"replicas": "3", "availableReplicas": None}},
                 ReplicaSetView("", "", 1), id="garbage"),
])
def test_replicaset_view(item: dict[str, Any], expected: ReplicaSetView) -> None:
    assert replicasets.replicaset_view(item) == expected


@pytest.mark.parametrize(("item", "replicas", "desired", "expected"), [
    pytest.param(rs("a"), 3, None, {"spec": {"replicas": 3}}, id="resize"),
    pytest.param(rs("a"), 5, None, None, id="unchanged"),
    pytest.param(rs("a"), 5, 5, {"spec": {"replicas": 5},
                                 "metadata": {"annotations": {"rollout.argoproj.io/desired-replicas": "5"}}},
                 id="desired-annotation-missing"),
    pytest.param(rs("a", annotations={"rollout.argoproj.io/desired-replicas": "5"}), 5, 5, None,
                 id="desired-annotation-current"),
    pytest.param(rs("a", annotations={"scale-down-deadline": "2026-11-26T12:00:30Z"}), 0, None,
                 {"spec": {"replicas": 0}, "metadata": {"annotations": {"scale-down-deadline": None}}},
                 id="to-zero-drops-deadline"),
    pytest.param(rs("a", annotations={"scale-down-deadline": "2026-11-26T12:00:30Z"}), 2, None,
                 {"spec": {"replicas": 2}}, id="partial-keeps-deadline"),
])
def test_scale_patch(item: dict[str, Any], replicas: int, desired: int | None,
                     expected: dict[str, Any] | None) -> None:
    assert replicasets.scale_patch(item, replicas, desired_replicas=desired) == expected


@pytest.mark.parametrize(("annotations", "deadline", "expected"), [
    pytest.param({}, "2026-11-26T12:00:30Z",
                 {"metadata": {"annotations": {"scale-down-deadline": "2026-11-26T12:00:30Z"}}}, id="set"),
    pytest.param({"scale-down-deadline": "2026-11-26T12:00:30Z"}, "2026-11-26T12:00:30Z", None, id="already"),
    pytest.param({"scale-down-deadline": "2026-11-26T12:00:30Z"}, "2026-11-26T12:01:00Z",
                 {"metadata": {"annotations": {"scale-down-deadline": "2026-11-26T12:01:00Z"}}}, id="moved"),
    pytest.param({"scale-down-deadline": "2026-11-26T12:00:30Z"}, None,
                 {"metadata": {"annotations": {"scale-down-deadline": None}}}, id="remove"),
    pytest.param({}, None, None, id="nothing-to-remove"),
])
def test_scale_down_patch(annotations: dict[str, str], deadline: str | None,
                          expected: dict[str, Any] | None) -> None:
    assert replicasets.scale_down_patch(rs("a", annotations=annotations), deadline_iso=deadline) == expected


def test_scale_down_deadline_round_trip() -> None:
    now = datetime(2026, 11, 26, 12, 0, 0, 500000, tzinfo=UTC)
    iso = replicasets.scale_down_deadline_iso(now, 30)
    assert iso == "2026-11-26T12:00:30Z"
    patch = replicasets.scale_down_patch(rs("a"), deadline_iso=iso)
    assert patch is not None
    annotated = rs("a", annotations=patch["metadata"]["annotations"])
    assert replicasets.scale_down_deadline(annotated) == datetime(2026, 11, 26, 12, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize("value", [pytest.param("", id="empty"), pytest.param("soon", id="garbage")])
def test_scale_down_deadline_unreadable(value: str) -> None:
    assert replicasets.scale_down_deadline(rs("a", annotations={"scale-down-deadline": value})) is None
    assert replicasets.scale_down_deadline(rs("a")) is None


@pytest.mark.parametrize("annotation", [
    pytest.param("{not json", id="unparsable"),
    pytest.param('["role"]', id="not-an-object"),
])
def test_live_template_keeps_metadata_on_bad_annotation(annotation: str) -> None:
    item = with_ephemeral(rs("a"))
    item["metadata"]["annotations"][replicasets.EPHEMERAL_METADATA_ANNOTATION] = annotation
    assert replicasets.live_template(item) == item["spec"]["template"]


def test_live_template_strips_only_injected_keys() -> None:
    assert replicasets.live_template(with_ephemeral(rs("a"))) == {
        "metadata": {"labels": {"app": "demo", HASH: "a"}, "annotations": {}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
    }


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["metadata", "spec", "status", "labels", "annotations", "ownerReferences", "template",
                         "replicas", "uid", "controller", "name", HASH, "rollout.argoproj.io/revision"]),
        inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(items=st.lists(st.dictionaries(st.sampled_from(["metadata", "spec", "status"]), JSON, max_size=3),
                      max_size=3),
       ro=st.dictionaries(st.sampled_from(["metadata", "spec", "status"]), JSON, max_size=3))
def test_nothing_raises_on_json_like_replicasets(items: list[dict[str, Any]], ro: dict[str, Any]) -> None:
    owned = ownership.owned_replicasets(ro, items)
    assert all(any(o is i for i in items) for o in owned)
    new = replicasets.find_new_replicaset(ro, items)
    assert new is None or any(new is o for o in owned)
    assert replicasets.next_revision(ro, items) >= 1
    for item in items:
        view = replicasets.replicaset_view(item)
        assert view.revision >= 0
        assert isinstance(replicasets.live_template(item), dict)
        assert replicasets.scale_down_patch(item, deadline_iso="2026-11-26T12:00:30Z") is not None or \
            replicasets.scale_down_deadline(item) is not None
        assert replicasets.scale_patch(item, 0) == replicasets.scale_patch(copy.deepcopy(item), 0)
        if any(o is item for o in owned):
            ownership.adoption_patch(ro, item)
