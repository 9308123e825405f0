"""statemachine.workload_refs and the template rules of validation, without I/O.

Aspects: a Rollout without workloadRef comes back as it is (a stale workload-generation annotation dropped,
the input untouched); with a Deployment, the effective Rollout takes its pod template, its selector only when
the Rollout has none, and the generation annotation; the reference's InvalidSpec messages, byte for byte, for
a template that is not empty (labels or annotations; containers alone do not count), a missing Deployment,
an unsupported kind, another apps version and an API server without Deployments; the index key; what
status.workloadObservedGeneration becomes; the Deployment's replicas for scaleDown never / onsuccess /
progressively; the validation of the selector and the pod template (neither template nor workloadRef, no
containers, no selector, an empty selector, matchExpressions, a workloadRef with a template, a resolved
template without containers); the new ReplicaSet's status.currentPodHash fallback needs the workload
generation observed.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from statemachine import models, parsing, replicasets, status, validation, workload_refs
from statemachine.snapshot import ReplicaSetView, Snapshot

from .validation_cases import DELETE, apply, rollout_dict, run

REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
SHOWN_REF = 'v1alpha1.ObjectRef{APIVersion:"apps/v1", Kind:"Deployment", Name:"web", ScaleDown:""}'
PREFIX = 'The Rollout "demo" is invalid: '
ANNOTATION = workload_refs.WORKLOAD_GENERATION_ANNOTATION
TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:1"}]}}


def referencing(**ref: Any) -> dict[str, Any]:
    """The validation Rollout with a workloadRef instead of a template (and no selector)."""
    return apply(rollout_dict(), {"spec.template": DELETE, "spec.selector": DELETE,
                                  "spec.workloadRef": {**REF, **ref}})


def deployment(generation: int = 3, **spec: Any) -> dict[str, Any]:
    body = {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE, **spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "generation": generation}, "spec": body}


# --- resolve -----------------------------------------------------------------------------------------


def test_without_workload_ref_the_rollout_is_unchanged() -> None:
    raw = rollout_dict()
    resolution = workload_refs.resolve(raw, None)
    assert resolution.raw is raw
    assert (resolution.from_ref, resolution.problem, resolution.deployment) == (False, None, None)


def test_without_workload_ref_a_stale_generation_is_dropped() -> None:
    raw = apply(rollout_dict(), {"metadata.annotations": {ANNOTATION: "4", "keep": "me"}})
    before = copy.deepcopy(raw)
    resolution = workload_refs.resolve(raw, None)
    assert resolution.raw["metadata"]["annotations"] == {"keep": "me"}
    assert raw == before


def test_the_deployment_gives_template_selector_and_generation() -> None:
    raw = referencing()
    found = deployment()
    before = (copy.deepcopy(raw), copy.deepcopy(found))
    resolution = workload_refs.resolve(raw, found)
    assert resolution.problem is None
    assert resolution.from_ref
    assert resolution.deployment is found
    spec = resolution.raw["spec"]
    assert spec["template"] == TEMPLATE
    assert spec["template"] is not found["spec"]["template"]
    assert spec["selector"] == {"matchLabels": {"app": "web"}}
    assert spec["workloadRef"] == REF
    assert spec["strategy"] == raw["spec"]["strategy"]
    assert resolution.raw["metadata"]["annotations"][ANNOTATION] == "3"
    assert (raw, found) == before


def test_the_rollouts_own_selector_is_kept() -> None:
    raw = apply(referencing(), {"spec.selector": {"matchLabels": {"app": "web", "tier": "front"}}})
    resolution = workload_refs.resolve(raw, deployment())
    assert resolution.raw["spec"]["selector"] == {"matchLabels": {"app": "web", "tier": "front"}}


def test_a_template_of_containers_alone_counts_as_empty() -> None:
    raw = apply(referencing(), {"spec.template": {"spec": {"containers": [{"name": "x", "image": "x"}]}}})
    resolution = workload_refs.resolve(raw, deployment())
    assert resolution.problem is None
    assert resolution.raw["spec"]["template"] == TEMPLATE


@pytest.mark.parametrize(("changes", "found", "served", "detail"), [
    pytest.param({"spec.template": {"metadata": {"labels": {"app": "web"}}}}, deployment(), True,
                 "template must be empty for workload reference rollout", id="template-labels"),
    pytest.param({"spec.template": {"metadata": {"annotations": {"a": "b"}}}}, deployment(), True,
                 "template must be empty for workload reference rollout", id="template-annotations"),
    pytest.param({}, None, True, 'deployments.apps "default/web" not found', id="not-found"),
    pytest.param({"spec.workloadRef.kind": "StatefulSet"}, None, True,
                 "workload of type apps/StatefulSet is not supported", id="statefulset"),
    pytest.param({"spec.workloadRef.apiVersion": "v1", "spec.workloadRef.kind": "ConfigMap"}, None, True,
                 "workload of type /ConfigMap is not supported", id="core-kind"),
    pytest.param({"spec.workloadRef.apiVersion": "apps/v1beta1"}, deployment(), True,
                 "the server could not find the requested resource", id="other-version"),
    pytest.param({}, None, False, "the server could not find the requested resource", id="not-served"),
])
def test_reference_messages(changes: dict[str, Any], found: dict[str, Any] | None, served: bool,
                            detail: str) -> None:
    raw = apply(referencing(), changes)
    resolution = workload_refs.resolve(raw, found, served=served)
    ref = raw["spec"]["workloadRef"]
    shown = (f'v1alpha1.ObjectRef{{APIVersion:"{ref["apiVersion"]}", Kind:"{ref["kind"]}", Name:"web", '
             'ScaleDown:""}')
    assert resolution.problem == f"{PREFIX}spec.workloadRef: Invalid value: {shown}: {detail}"
    assert resolution.raw is raw
    assert not resolution.from_ref


@pytest.mark.parametrize("kind", ["apps/ReplicaSet", "/PodTemplate"])
def test_kinds_only_the_reference_resolves_are_refused_by_name(kind: str) -> None:
    group, _, name = kind.partition("/")
    raw = apply(referencing(), {"spec.workloadRef.apiVersion": f"{group}/v1" if group else "v1",
                                "spec.workloadRef.kind": name})
    problem = workload_refs.resolve(raw, None).problem or ""
    assert problem.endswith(f"workload of type {kind} is not supported by alb-rollouts yet "
                            "(only apps/Deployment)")


def test_the_object_ref_shows_scale_down_and_quotes_like_go() -> None:
    shown = workload_refs.object_ref({**REF, "name": 'we"b', "scaleDown": "onsuccess"})
    assert shown == ('v1alpha1.ObjectRef{APIVersion:"apps/v1", Kind:"Deployment", Name:"we\\"b", '
                     'ScaleDown:"onsuccess"}')
    assert workload_refs.object_ref(REF) == SHOWN_REF


@pytest.mark.parametrize(("ref", "key"), [
    pytest.param(REF, "default/web", id="deployment"),
    pytest.param({**REF, "apiVersion": "apps/v1beta1"}, "default/web", id="any-apps-version"),
    pytest.param({**REF, "kind": "ReplicaSet"}, None, id="replicaset"),
    pytest.param({**REF, "apiVersion": "v1"}, None, id="core-group"),
    pytest.param({**REF, "name": ""}, None, id="no-name"),
    pytest.param(None, None, id="none"),
])
def test_referenced(ref: dict[str, Any] | None, key: str | None) -> None:
    raw = rollout_dict() if ref is None else apply(rollout_dict(), {"spec.workloadRef": ref})
    assert workload_refs.referenced(raw) == key


# --- status.workloadObservedGeneration ---------------------------------------------------------------


@pytest.mark.parametrize(("resolved", "annotation", "current", "expected"), [
    pytest.param(True, "3", "", "3", id="first"),
    pytest.param(True, "4", "3", "4", id="new-generation"),
    pytest.param(True, "3", "3", "3", id="unchanged"),
    pytest.param(True, "03", "3", "3", id="same-number-kept"),
    pytest.param(False, "3", "3", "", id="not-resolved"),
])
def test_observed_generation(resolved: bool, annotation: str, current: str, expected: str) -> None:
    raw = apply(referencing(), {"metadata.annotations": {ANNOTATION: annotation},
                                "spec.template": TEMPLATE,
                                "status": {"workloadObservedGeneration": current}})
    rollout = models.parse_rollout(raw, template_resolved=resolved)
    assert workload_refs.observed_generation(rollout) == expected
    fields = status.status_fields(rollout.status)
    assert fields.get("workloadObservedGeneration", "") == current


# --- scaleDown ---------------------------------------------------------------------------------------


def _snapshot(scale_down: str, *, phase: str = "Progressing", revision: str = "1", ready: int = 0,
              new_revision: int = 1, new_replicas: int = 3, stable: str = "",
              resolved: bool = True) -> Snapshot:
    raw = apply(referencing(scaleDown=scale_down), {
        "spec.replicas": 3, "spec.template": TEMPLATE,
        "metadata.annotations": {"rollout.argoproj.io/revision": revision},
        "status": {"phase": phase, "readyReplicas": ready, "currentPodHash": "h1", "stableRS": stable}})
    rollout = models.parse_rollout(raw, template_resolved=resolved)
    new_rs = ReplicaSetView("demo-h1", "h1", new_replicas, ready, ready, revision=new_revision)
    return Snapshot(rollout=rollout, new_rs=new_rs, template_hash="h1")


@pytest.mark.parametrize(("snapshot", "planned", "current", "expected"), [
    pytest.param(_snapshot("never", phase="Healthy", stable="h1"), None, 2, None, id="never"),
    pytest.param(_snapshot("", phase="Healthy", stable="h1"), None, 2, None, id="unset-is-never"),
    pytest.param(_snapshot("OnSuccess", phase="Healthy", stable="h1"), None, 2, None, id="case-sensitive"),
    pytest.param(_snapshot("onsuccess", phase="Healthy", stable="h1"), None, 2, 0, id="onsuccess-healthy"),
    pytest.param(_snapshot("onsuccess", phase="Healthy", stable="h1"), None, 0, None, id="onsuccess-done"),
    pytest.param(_snapshot("onsuccess", phase="Progressing", ready=3), None, 2, None,
                 id="onsuccess-not-yet-healthy"),
    pytest.param(_snapshot("onsuccess", phase="Healthy", stable="h1", revision="2"), None, 2, None,
                 id="onsuccess-later-revision"),
    pytest.param(_snapshot("onsuccess", phase="Healthy", stable="h0"), None, 2, None,
                 id="onsuccess-not-promoted"),
    pytest.param(_snapshot("onsuccess", phase="Healthy", stable="h1", resolved=False), None, 2, None,
                 id="not-resolved"),
    pytest.param(_snapshot("progressively", ready=0, new_replicas=0), 3, 3, None,
                 id="progressively-none-ready"),
    pytest.param(_snapshot("progressively", ready=1), None, 3, 2, id="progressively-one-ready"),
    pytest.param(_snapshot("progressively", ready=2), None, 2, 1, id="progressively-two-ready"),
    pytest.param(_snapshot("progressively", ready=2), None, 1, None, id="progressively-already-there"),
    pytest.param(_snapshot("progressively", ready=5), None, 1, 0, id="progressively-never-negative"),
    pytest.param(_snapshot("progressively", ready=0, new_replicas=3), 1, 0, 3,
                 id="progressively-shrinking-rollout-scales-it-back-up"),
    pytest.param(_snapshot("progressively", phase="Healthy", ready=3, stable="h1"), None, 1, 0,
                 id="progressively-healthy"),
    pytest.param(_snapshot("progressively", ready=1, new_revision=2), None, 3, None,
                 id="progressively-later-revision"),
])
def test_deployment_scale(snapshot: Snapshot, planned: int | None, current: int,
                          expected: int | None) -> None:
    assert workload_refs.deployment_scale(snapshot, planned=planned, current=current) == expected


def test_deployment_fields() -> None:
    assert workload_refs.deployment_replicas(deployment(replicas=5)) == 5
    assert workload_refs.deployment_replicas({"spec": {}}) == 1
    assert workload_refs.deployment_generation(deployment(generation=7)) == "7"
    assert workload_refs.deployment_generation({}) == "0"


# --- validation of the selector and the template -----------------------------------------------------


@pytest.mark.parametrize(("changes", "message"), [
    pytest.param({"spec.template": DELETE},
                 "spec.template.metadata.labels: Invalid value: map[string]string(nil): "
                 "`selector` does not match template `labels`", id="neither-template-nor-workload-ref"),
    pytest.param({"spec.template.spec": DELETE}, "spec.template.spec.containers: Required value",
                 id="no-containers"),
    pytest.param({"spec.template.spec.containers": []}, "spec.template.spec.containers: Required value",
                 id="empty-containers"),
    pytest.param({"spec.template.metadata.labels": {"app": "other", "b": "x\n"}},
                 'spec.template.metadata.labels: Invalid value: '
                 'map[string]string{"app":"other", "b":"x\\n"}: `selector` does not match template `labels`',
                 id="labels-mismatch"),
    pytest.param({"spec.template.metadata.labels": {}},
                 "spec.template.metadata.labels: Invalid value: map[string]string{}: "
                 "`selector` does not match template `labels`", id="empty-labels"),
    pytest.param({"spec.selector": DELETE},
                 "spec.selector: Required value: Rollout has missing field '.spec.selector'",
                 id="no-selector"),
    pytest.param({"spec.selector": {}},
                 "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
                 "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: "
                 "empty selector is invalid for deployment",
                 id="empty-selector"),
    pytest.param({"spec.selector": {"matchLabels": {}, "matchExpressions": []}},
                 "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{}, "
                 "MatchExpressions:[]v1.LabelSelectorRequirement{}}: "
                 "empty selector is invalid for deployment",
                 id="empty-selector-lists"),
    pytest.param({"spec.selector": {"matchExpressions": [{"key": "app", "operator": "NotIn",
                                                          "values": ["demo"]}]}},
                 "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"demo\"}: "
                 "`selector` does not match template `labels`", id="expression-mismatch"),
    pytest.param({"spec.selector": {"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["demo", "x"]}, {"key": "app", "operator": "Exists"},
        {"key": "tier", "operator": "DoesNotExist"}]}}, None, id="expressions-match"),
    pytest.param({"spec.replicas": -1, "spec.template": DELETE},
                 "spec.replicas: Invalid value: -1: must be greater than or equal to 0", id="replicas-first"),
    pytest.param({"spec.template": DELETE, "spec.strategy": {}},
                 "spec.template.metadata.labels: Invalid value: map[string]string(nil): "
                 "`selector` does not match template `labels`", id="template-before-strategy"),
])
def test_template_messages(changes: dict[str, Any], message: str | None) -> None:
    assert run(changes) == (None if message is None else PREFIX + message)


def test_unresolved_workload_ref_needs_neither_selector_nor_template() -> None:
    assert validation.validate(parsing.parse_rollout(referencing()), ingresses=None, services=None) is None


def test_unresolved_workload_ref_with_a_template_is_the_lint_message() -> None:
    raw = apply(referencing(), {"spec.template": {"metadata": {"labels": {"app": "web"}}}})
    assert validation.validate(parsing.parse_rollout(raw)) == (
        PREFIX + "spec.template: Internal error: template must be empty for workload reference rollout")


def test_a_resolved_template_is_validated() -> None:
    empty = {"metadata": {"labels": {"app": "web"}}, "spec": {}}
    resolved = workload_refs.resolve(referencing(), deployment(template=empty))
    rollout = models.parse_rollout(resolved.raw, template_resolved=resolved.from_ref)
    assert rollout.template_resolved and rollout.has_selector
    assert validation.validate(rollout) == PREFIX + "spec.template.spec.containers: Required value"
    good = workload_refs.resolve(referencing(), deployment())
    assert validation.validate(models.parse_rollout(good.raw, template_resolved=True)) is None


def test_a_resolved_template_must_match_the_rollouts_selector() -> None:
    raw = apply(referencing(), {"spec.selector": {"matchLabels": {"app": "other"}}})
    resolved = workload_refs.resolve(raw, deployment())
    rollout = models.parse_rollout(resolved.raw, template_resolved=True)
    assert validation.validate(rollout) == (PREFIX + 'spec.template.metadata.labels: Invalid value: '
                                            'map[string]string{"app":"web"}: `selector` does not match '
                                            'template `labels`')


def test_empty_template() -> None:
    assert validation.empty_template(None)
    assert validation.empty_template({"spec": {"containers": [{"name": "x"}]}})
    assert validation.empty_template({"metadata": {"labels": {}, "annotations": {}}})
    assert not validation.empty_template({"metadata": {"labels": {"a": "b"}}})
    assert not validation.empty_template({"metadata": {"annotations": {"a": "b"}}})


# --- the new ReplicaSet of a resolved Rollout --------------------------------------------------------


@pytest.mark.parametrize(("observed", "found"), [
    pytest.param("3", True, id="status-saw-this-generation"),
    pytest.param("2", False, id="new-deployment-generation"),
    pytest.param(None, False, id="never-observed"),
])
def test_the_current_hash_fallback_needs_the_workload_generation_observed(observed: str | None,
                                                                        found: bool) -> None:
    """A template no ReplicaSet matches falls back on status.currentPodHash only when the status saw this
    spec: with a workloadRef, also this Deployment generation (else a new Deployment image found the old
    ReplicaSet and no update started)."""
    raw = apply(referencing(), {"metadata.uid": "u1", "metadata.generation": 1,
                                "status": {"observedGeneration": "1", "currentPodHash": "old"}})
    if observed is not None:
        raw["status"]["workloadObservedGeneration"] = observed
    effective = workload_refs.resolve(raw, deployment(generation=3)).raw
    owner = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "demo", "uid": "u1",
             "controller": True}
    old_template = apply(TEMPLATE, {"metadata.labels.rollouts-pod-template-hash": "old",
                                    "spec.containers": [{"name": "web", "image": "web:0"}]})
    rs = {"metadata": {"name": "demo-old", "namespace": "default", "ownerReferences": [owner],
                       "labels": {"app": "web", "rollouts-pod-template-hash": "old"}},
          "spec": {"replicas": 2, "template": old_template}}
    new = replicasets.find_new_replicaset(effective, [rs])
    assert (new is rs) is found
