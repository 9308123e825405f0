"""Ephemeral pod metadata (statemachine.pod_metadata), the injected anti-affinity (statemachine.anti_affinity)
and the new ReplicaSet's body and collision helpers in statemachine.replicasets.

Aspects: the annotation as Go's json.Marshal writes it; parsing the annotation as Go decodes it; which role
each ReplicaSet takes (fully rolled out or mid-update, others lose theirs, nothing when unconfigured); the
metadata merge patch injects, removes only what was injected, and skips a desired "" on an absent key; the
ReplicaSet patch and the created body; pod patches and controller ownership; the affinity term exactly as
the reference builds it (preferred/required, appended to the template's, none without a stable ReplicaSet
or for the stable one itself); when the term needs an update; sync_new_replicaset_patch renews it only
with another change or a stale term; collisions (foreign owner, other template, ours) and the bumped
collisionCount with its resourceVersion precondition. Blue-green: preview/active metadata take the
canary/stable roles, its antiAffinity is read from blueGreen. No input is mutated.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from statemachine import anti_affinity, pod_metadata, pod_templates, replicasets
from statemachine.pod_metadata import PodMetadata

HASH = "rollouts-pod-template-hash"
ANNOTATION = "rollout.argoproj.io/ephemeral-metadata"
TEMPLATE: dict[str, Any] = {"metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "app", "image": "app:1"}]}}


def _rollout(*, canary_extra: dict[str, Any] | None = None, status: dict[str, Any] | None = None,
             template: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": "shop", "uid": "ro-uid", "resourceVersion": "7"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": copy.deepcopy(template or TEMPLATE),
                     "strategy": {"canary": {**(canary_extra or {})}}},
            "status": status or {}}


def _rs(pod_hash: str, *, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
        replicas: int = 1, uid: str | None = None) -> dict[str, Any]:
    return {"metadata": {"name": f"web-{pod_hash}", "namespace": "shop", "uid": uid or f"uid-{pod_hash}",
                         "labels": {"app": "web", HASH: pod_hash}, "annotations": dict(annotations or {}),
                         "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                              "name": "web", "uid": "ro-uid", "controller": True}]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web", HASH: pod_hash}},
                     "template": {"metadata": {"labels": {"app": "web", HASH: pod_hash, **(labels or {})}},
                                  "spec": copy.deepcopy(TEMPLATE["spec"])}}}


ROLES = {"canaryMetadata": {"labels": {"role": "canary"}}, "stableMetadata": {"labels": {"role": "stable"}}}
CANARY, STABLE = PodMetadata(labels={"role": "canary"}), PodMetadata(labels={"role": "stable"})


# --- the annotation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("metadata", "expected"), [
    pytest.param(PodMetadata(labels={"role": "canary"}), '{"labels":{"role":"canary"}}', id="labels"),
    pytest.param(PodMetadata(labels={"b": "2", "a": "1"}, annotations={"x": "y"}),
                 '{"labels":{"a":"1","b":"2"},"annotations":{"x":"y"}}', id="sorted-labels-first"),
    pytest.param(PodMetadata(), "{}", id="empty"),
    pytest.param(PodMetadata(annotations={"q": "<a&b>\u2028\"\\\n\x01é"}),
                 '{"annotations":{"q":"\\u003ca\\u0026b\\u003e\\u2028\\"\\\\\\n\\u0001é"}}', id="go-escapes"),
])
def test_annotation_is_written_as_go_marshals_it(metadata: PodMetadata, expected: str) -> None:
    assert metadata.to_json() == expected
    assert json.loads(expected) == {k: v for k, v in (("labels", dict(metadata.labels)),
                                                      ("annotations", dict(metadata.annotations))) if v}


@pytest.mark.parametrize(("annotation", "expected"), [
    pytest.param('{"labels":{"role":"canary"}}', CANARY, id="labels"),
    pytest.param('{"labels":null,"annotations":{"a":"b"}}', PodMetadata(annotations={"a": "b"}),
                 id="null-map"),
    pytest.param("{}", PodMetadata(), id="empty"),
    pytest.param("null", None, id="null"),
    pytest.param('{"labels":{"role":1}}', None, id="non-string-value"),
    pytest.param('["x"]', None, id="not-an-object"),
    pytest.param("{", None, id="unparsable"),
    pytest.param(None, None, id="absent"),
])
def test_existing_decodes_the_annotation_as_go_does(annotation: str | None, expected: Any) -> None:
    rs = _rs("h1", annotations={ANNOTATION: annotation} if annotation is not None else {})
    assert pod_metadata.existing(rs) == expected


def test_parse_keeps_string_values_and_reads_absent_as_none() -> None:
    assert pod_metadata.parse(None) is None
    assert pod_metadata.parse({}) == PodMetadata()
    parsed = pod_metadata.parse({"labels": {"a": "b", "n": 1}, "annotations": None})
    assert parsed == PodMetadata(labels={"a": "b"})


# --- roles ---------------------------------------------------------------------------------------------


def test_roles_mid_update_canary_and_stable_others_lose_theirs() -> None:
    new, stable, old = _rs("new"), _rs("stable"), _rs("old")
    ro = _rollout(canary_extra=ROLES, status={"stableRS": "stable"})
    assert pod_metadata.roles(ro, new=new, stable=stable, others=[old]) == [
        (new, CANARY), (stable, STABLE), (old, None)]


@pytest.mark.parametrize("stable_hash", ["", "new"], ids=["first-deploy", "promoted"])
def test_roles_fully_rolled_out_the_new_one_is_stable(stable_hash: str) -> None:
    new, old = _rs("new"), _rs("old")
    ro = _rollout(canary_extra=ROLES, status={"stableRS": stable_hash})
    assert pod_metadata.roles(ro, new=new, stable=new if stable_hash else None, others=[old]) == [
        (new, STABLE), (old, None)]


def test_roles_nothing_when_unconfigured_and_a_missing_role_is_none() -> None:
    new, stable = _rs("new"), _rs("stable")
    unconfigured = _rollout(status={"stableRS": "stable"})
    assert pod_metadata.roles(unconfigured, new=new, stable=stable, others=[]) == []
    ro = _rollout(canary_extra={"stableMetadata": ROLES["stableMetadata"]}, status={"stableRS": "stable"})
    assert pod_metadata.roles(ro, new=new, stable=stable, others=[]) == [(new, None), (stable, STABLE)]
    assert pod_metadata.roles(ro, new=None, stable=stable, others=[]) == [(stable, STABLE)]


# --- patches -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("metadata", "before", "desired", "expected"), [
    pytest.param({"labels": {"app": "web"}}, None, CANARY, {"labels": {"role": "canary"}}, id="inject"),
    pytest.param({"labels": {"role": "canary"}}, CANARY, STABLE, {"labels": {"role": "stable"}}, id="move"),
    pytest.param({"labels": {"role": "canary"}}, CANARY, CANARY, None, id="already"),
    pytest.param({"labels": {"role": "canary", "app": "web"}}, CANARY, None, {"labels": {"role": None}},
                 id="remove-injected"),
    pytest.param({"labels": {"app": "web"}}, PodMetadata(labels={"app": "x"}, annotations={"gone": "1"}),
                 None, {"labels": {"app": None}}, id="remove-only-present"),
    pytest.param({"labels": {"app": "web"}}, None, None, None, id="nothing"),
    pytest.param({}, None, PodMetadata(labels={"empty": ""}), None, id="empty-value-on-absent-key"),
    pytest.param({"labels": {"t": "a"}}, PodMetadata(labels={"t": "a"}, annotations={"n": "1"}),
                 PodMetadata(annotations={"m": "2"}), {"labels": {"t": None}, "annotations": {"m": "2"}},
                 id="labels-and-annotations"),
])
def test_sync(metadata: dict[str, Any], before: PodMetadata | None, desired: PodMetadata | None,
              expected: dict[str, Any] | None) -> None:
    kept = copy.deepcopy(metadata)
    assert pod_metadata.sync(metadata, before, desired) == expected
    assert metadata == kept


def test_replicaset_patch_records_what_it_injected() -> None:
    rs = _rs("new")
    assert pod_metadata.replicaset_patch(rs, CANARY) == {
        "metadata": {"annotations": {ANNOTATION: '{"labels":{"role":"canary"}}'}},
        "spec": {"template": {"metadata": {"labels": {"role": "canary"}}}}}
    synced = _rs("new", labels={"role": "canary"}, annotations={ANNOTATION: '{"labels":{"role":"canary"}}'})
    assert pod_metadata.replicaset_patch(synced, CANARY) is None
    assert pod_metadata.replicaset_patch(synced, STABLE) == {
        "metadata": {"annotations": {ANNOTATION: '{"labels":{"role":"stable"}}'}},
        "spec": {"template": {"metadata": {"labels": {"role": "stable"}}}}}
    assert pod_metadata.replicaset_patch(synced, None) == {
        "metadata": {"annotations": {ANNOTATION: None}},
        "spec": {"template": {"metadata": {"labels": {"role": None}}}}}


def test_replicaset_patch_none_when_unmodified_even_if_unrecorded() -> None:
    # SyncReplicaSetEphemeralPodMetadata writes the annotation only along with a template change
    rs = _rs("new", labels={"role": "canary"})
    assert pod_metadata.replicaset_patch(rs, CANARY) is None
    # a stale annotation the template no longer shows is not removed either
    stale = _rs("new", annotations={ANNOTATION: '{"labels":{"r":"x"}}'})
    assert pod_metadata.replicaset_patch(stale, None) is None


def test_pod_patch_and_controlled_by() -> None:
    rs = _rs("new")
    pod = {"metadata": {"name": "web-new-abcde", "labels": {"app": "web", "role": "canary"},
                        "ownerReferences": [{"kind": "ReplicaSet", "uid": "uid-new", "controller": True}]}}
    assert pod_metadata.controlled_by(pod, rs)
    assert not pod_metadata.controlled_by(pod, _rs("other"))
    owner_only = {"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "uid": "uid-new"}]}}
    assert not pod_metadata.controlled_by(owner_only, rs)
    assert pod_metadata.pod_patch(pod, CANARY, STABLE) == {"metadata": {"labels": {"role": "stable"}}}
    assert pod_metadata.pod_patch(pod, CANARY, CANARY) is None


def _blue_green(extra: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    ro = _rollout(status=status)
    ro["spec"]["strategy"] = {"blueGreen": {"activeService": "a", "previewService": "p", **extra}}
    return ro


BLUE_GREEN_ROLES = {"previewMetadata": {"labels": {"role": "canary"}},
                    "activeMetadata": {"labels": {"role": "stable"}}}


def test_blue_green_roles_preview_for_the_new_active_for_the_stable() -> None:
    new, stable, old = _rs("new"), _rs("stable"), _rs("old")
    ro = _blue_green(BLUE_GREEN_ROLES, {"stableRS": "stable"})
    assert pod_metadata.configured(ro)
    assert pod_metadata.roles(ro, new=new, stable=stable, others=[old]) == [
        (new, CANARY), (stable, STABLE), (old, None)]
    promoted = _blue_green(BLUE_GREEN_ROLES, {"stableRS": "new"})
    assert pod_metadata.roles(promoted, new=new, stable=new, others=[stable]) == [
        (new, STABLE), (stable, None)]
    assert pod_metadata.for_new(ro, has_stable=True) == CANARY
    assert pod_metadata.for_new(ro, has_stable=False) == STABLE
    assert not pod_metadata.configured(_blue_green({}, {"stableRS": "stable"}))
    assert pod_metadata.for_new(_blue_green({}, {}), has_stable=True) is None


# --- the new ReplicaSet's body ----------------------------------------------------------------------


@pytest.mark.parametrize(("has_stable", "role"), [(False, "stable"), (True, "canary")])
def test_new_replicaset_body_takes_the_role_metadata(has_stable: bool, role: str) -> None:
    ro = _rollout(canary_extra=ROLES)
    kept = copy.deepcopy(ro)
    body = replicasets.new_replicaset_body(ro, "h1", 0, 1, has_stable=has_stable)
    assert body["spec"]["template"]["metadata"]["labels"] == {"app": "web", HASH: "h1", "role": role}
    assert body["metadata"]["labels"] == {"app": "web", HASH: "h1"}
    assert body["metadata"]["annotations"][ANNOTATION] == f'{{"labels":{{"role":"{role}"}}}}'
    assert ro == kept
    # the Rollout's template still finds it: the injected label is not part of the template
    assert replicasets.find_new_replicaset(ro, [{**body, "metadata": {**body["metadata"], "uid": "x"}}])


def test_new_replicaset_body_without_ephemeral_metadata_is_unchanged() -> None:
    body = replicasets.new_replicaset_body(_rollout(), "h1", 0, 1, has_stable=True)
    assert ANNOTATION not in body["metadata"]["annotations"]
    assert body["spec"]["template"] == {"metadata": {"labels": {"app": "web", HASH: "h1"}},
                                        "spec": TEMPLATE["spec"]}


PREFERRED: dict[str, Any] = {
    "antiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 50}}}
REQUIRED: dict[str, Any] = {"antiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}
RULE: dict[str, Any] = {
    "labelSelector": {"matchExpressions": [{"key": HASH, "operator": "In", "values": ["stable1"]}]},
    "namespaces": ["shop"], "topologyKey": "kubernetes.io/hostname"}


def test_new_replicaset_body_injects_the_preferred_anti_affinity_term() -> None:
    ro = _rollout(canary_extra=PREFERRED, status={"stableRS": "stable1"})
    body = replicasets.new_replicaset_body(ro, "h1", 0, 2, has_stable=True)
    assert body["spec"]["template"]["spec"]["affinity"] == {
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 50, "podAffinityTerm": RULE}]}}
    assert "affinity" not in ro["spec"]["template"]["spec"]
    assert replicasets.find_new_replicaset(ro, [{**body, "metadata": {**body["metadata"], "uid": "x"}}])


def test_required_term_is_appended_to_the_templates_own() -> None:
    own = {"labelSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
           "topologyKey": "zone"}
    template = copy.deepcopy(TEMPLATE)
    required = "requiredDuringSchedulingIgnoredDuringExecution"
    template["spec"]["affinity"] = {"podAffinity": {required: [own]}, "podAntiAffinity": {required: [own]}}
    ro = _rollout(canary_extra=REQUIRED, status={"stableRS": "stable1"}, template=template)
    assert anti_affinity.replicaset_affinity(ro, "h1") == {
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [own]},
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [own, RULE]}}
    assert ro["spec"]["template"] == template


@pytest.mark.parametrize(("extra", "stable_hash", "pod_hash"), [
    pytest.param({}, "stable1", "h1", id="not-configured"),
    pytest.param(PREFERRED, "", "h1", id="no-stable"),
    pytest.param(PREFERRED, "h1", "h1", id="is-the-stable"),
    pytest.param({"antiAffinity": {}}, "stable1", "h1", id="neither-kind"),
])
def test_no_term_without_a_stable_to_avoid(extra: dict[str, Any], stable_hash: str, pod_hash: str) -> None:
    ro = _rollout(canary_extra=extra, status={"stableRS": stable_hash})
    assert anti_affinity.replicaset_affinity(ro, pod_hash) is None


def _with_term(stable_hash: str, kind: str = "preferred") -> dict[str, Any]:
    rule = copy.deepcopy(RULE)
    rule["labelSelector"]["matchExpressions"][0]["values"] = [stable_hash]
    if kind == "preferred":
        return {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 50, "podAffinityTerm": rule}]}}
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [rule]}}


@pytest.mark.parametrize(("extra", "affinity", "stable_hash", "expected"), [
    pytest.param(PREFERRED, _with_term("stable1"), "stable2", True, id="stable-moved"),
    pytest.param(PREFERRED, _with_term("stable1"), "stable1", False, id="current"),
    pytest.param(PREFERRED, _with_term("stable1"), "h1", False, id="now-the-stable"),
    pytest.param(PREFERRED, None, "stable2", False, id="no-term"),
    pytest.param(REQUIRED, _with_term("stable1", "required"), "stable2", True, id="required"),
    pytest.param(REQUIRED, _with_term("stable1"), "stable2", False, id="other-kind"),
    pytest.param({}, _with_term("stable1"), "stable2", False, id="not-configured"),
])
def test_needs_update(extra: dict[str, Any], affinity: dict[str, Any] | None, stable_hash: str,
                      expected: bool) -> None:
    ro = _rollout(canary_extra=extra, status={"stableRS": stable_hash})
    assert anti_affinity.needs_update(affinity, ro, "h1") is expected


def _synced_rs(affinity: dict[str, Any] | None, revision: str = "2") -> dict[str, Any]:
    rs = _rs("h1", annotations={"rollout.argoproj.io/revision": revision})
    if affinity is not None:
        rs["spec"]["template"]["spec"]["affinity"] = affinity
    return rs


def test_sync_patch_moves_a_stale_term_to_the_new_stable() -> None:
    ro = _rollout(canary_extra=PREFERRED, status={"stableRS": "stable2"})
    patch = replicasets.sync_new_replicaset_patch(ro, _synced_rs(_with_term("stable1")), 2)
    assert patch == {"spec": {"template": {"spec": {"affinity": _with_term("stable2")}}}}


def test_sync_patch_keeps_the_term_once_promoted_until_something_else_changes() -> None:
    ro = _rollout(canary_extra=PREFERRED, status={"stableRS": "h1"})
    assert replicasets.sync_new_replicaset_patch(ro, _synced_rs(_with_term("stable1")), 2) is None
    # a revision bump (or a copied annotation, or minReadySeconds) sets the affinity anew: the term goes
    patch = replicasets.sync_new_replicaset_patch(ro, _synced_rs(_with_term("stable1"), revision="1"), 2)
    assert patch == {"metadata": {"annotations": {"rollout.argoproj.io/revision": "2",
                                                  "rollout.argoproj.io/revision-history": "1"}},
                     "spec": {"template": {"spec": {"affinity": None}}}}


# --- collisions -------------------------------------------------------------------------------------


def test_is_collision() -> None:
    ro = _rollout(canary_extra=ROLES)
    pod_hash = pod_templates.pod_template_hash(TEMPLATE)
    ours = replicasets.new_replicaset_body(ro, pod_hash, 0, 1, has_stable=True)
    ours["metadata"]["uid"] = "rs-uid"
    assert not replicasets.is_collision(ro, ours)  # a lagging cache: our own, ephemeral labels aside
    foreign = copy.deepcopy(ours)
    foreign["metadata"]["ownerReferences"] = [{"kind": "Deployment", "uid": "d", "controller": True}]
    assert replicasets.is_collision(ro, foreign)
    orphan = copy.deepcopy(ours)
    del orphan["metadata"]["ownerReferences"]
    assert replicasets.is_collision(ro, orphan)
    other = copy.deepcopy(ours)
    other["spec"]["template"]["spec"]["containers"][0]["image"] = "app:0"
    assert replicasets.is_collision(ro, other)


def test_collision_status_patch() -> None:
    assert replicasets.collision_status_patch(_rollout()) == {
        "metadata": {"resourceVersion": "7"}, "status": {"collisionCount": 1}}
    ro = _rollout(status={"collisionCount": 2})
    del ro["metadata"]["resourceVersion"]
    assert replicasets.collision_status_patch(ro) == {"status": {"collisionCount": 3}}
    assert replicasets.desired_pod_hash(_rollout(status={"collisionCount": 1})) != \
        replicasets.desired_pod_hash(_rollout())


def test_blue_green_anti_affinity_is_read_from_its_own_strategy() -> None:
    ro = _blue_green(PREFERRED, {"stableRS": "stable1"})
    assert anti_affinity.strategy(ro) == PREFERRED["antiAffinity"]
    assert replicasets.new_replicaset_body(ro, "h1", 0, 2, has_stable=True)["spec"]["template"]["spec"][
        "affinity"] == {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 50, "podAffinityTerm": RULE}]}}
    assert anti_affinity.strategy(_blue_green({}, {"stableRS": "stable1"})) is None
