"""A Rollout's ReplicaSets: which are its own, which is new or stable, and the patches that manage them.

Room: plan (pure). Works on raw ReplicaSet and Rollout dicts (the API boundary) as the caches hold them;
returns new dicts and merge-patch bodies, never mutates its input, never reads a clock (deadlines come in
as strings) and never raises on a malformed object it can read. `service/` sends what these build.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from statemachine import models, pod_templates
from statemachine.snapshot import ReplicaSetView

__all__ = [
    "DESIRED_REPLICAS_ANNOTATION",
    "EPHEMERAL_METADATA_ANNOTATION",
    "REVISION_HISTORY_ANNOTATION",
    "SCALE_DOWN_DEADLINE_ANNOTATION",
    "adoption_patch",
    "controller_ref",
    "find_new_replicaset",
    "find_stable_replicaset",
    "is_adoptable",
    "is_owned",
    "live_template",
    "new_replicaset_body",
    "next_revision",
    "other_replicasets",
    "owned_replicasets",
    "replicaset_hash",
    "replicaset_view",
    "revision",
    "scale_down_deadline",
    "scale_down_deadline_iso",
    "scale_down_patch",
    "scale_patch",
    "selector_matches",
]

DESIRED_REPLICAS_ANNOTATION = "rollout.argoproj.io/desired-replicas"
REVISION_HISTORY_ANNOTATION = "rollout.argoproj.io/revision-history"
EPHEMERAL_METADATA_ANNOTATION = "rollout.argoproj.io/ephemeral-metadata"
SCALE_DOWN_DEADLINE_ANNOTATION = "scale-down-deadline"
ROLLOUT_API_VERSION = "argoproj.io/v1alpha1"
Raw = Mapping[str, Any]

# copyRolloutAnnotationsToReplicaSet skips these
_NOT_COPIED = frozenset({"kubectl.kubernetes.io/last-applied-configuration", models.REVISION_ANNOTATION,
                         REVISION_HISTORY_ANNOTATION, DESIRED_REPLICAS_ANNOTATION})


# --- reading raw objects -----------------------------------------------------------------------------


def _map(obj: Any, key: str) -> Raw:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _str(obj: Any, key: str) -> str:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, str) else ""


def _int(obj: Any, key: str, default: int) -> int:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _rollout_replicas(rollout: Raw) -> int:
    return _int(_map(rollout, "spec"), "replicas", 1)  # nil spec.replicas means 1


def replicaset_hash(rs: Raw) -> str:
    """The ReplicaSet's `rollouts-pod-template-hash` label, else its pod template's ("" when neither)."""
    label = _str(_map(_map(rs, "metadata"), "labels"), models.POD_TEMPLATE_HASH_LABEL)
    return label or _str(_map(_map(_map(_map(rs, "spec"), "template"), "metadata"), "labels"),
                         models.POD_TEMPLATE_HASH_LABEL)


def revision(rs: Raw) -> int | None:
    """The `rollout.argoproj.io/revision` annotation; 0 when absent, None when not a number (skipped)."""
    annotations = _map(_map(rs, "metadata"), "annotations")
    if models.REVISION_ANNOTATION not in annotations:
        return 0
    value = annotations[models.REVISION_ANNOTATION]
    text = value.strip() if isinstance(value, str) else ""
    return int(text) if text.lstrip("+-").isdigit() and text.isascii() else None


def replicaset_view(rs: Raw) -> ReplicaSetView:
    """What the planner needs of a ReplicaSet; `replicas` is None until the ReplicaSet has a status."""
    spec, status = _map(rs, "spec"), rs.get("status")
    observed = status.get("replicas") if isinstance(status, Mapping) else None
    if not isinstance(observed, int) or isinstance(observed, bool):
        observed = None  # unknown: the planner falls back to spec.replicas
    return ReplicaSetView(
        name=_str(_map(rs, "metadata"), "name"),
        hash=replicaset_hash(rs),
        spec_replicas=_int(spec, "replicas", 1),
        available_replicas=_int(status, "availableReplicas", 0),
        ready_replicas=_int(status, "readyReplicas", 0),
        replicas=observed,
        revision=max(revision(rs) or 0, 0),
    )


def live_template(rs: Raw) -> dict[str, Any]:
    """The ReplicaSet's pod template without the ephemeral metadata the reference injected into it.

    The injected keys are those listed in the `rollout.argoproj.io/ephemeral-metadata` annotation; an
    unparsable annotation removes nothing (SyncReplicaSetEphemeralPodMetadata(rs, nil)).
    """
    template = copy.deepcopy(dict(_map(_map(rs, "spec"), "template")))
    raw = _map(_map(rs, "metadata"), "annotations").get(EPHEMERAL_METADATA_ANNOTATION)
    try:
        injected = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        injected = None
    metadata = template.get("metadata")
    if not isinstance(injected, Mapping) or not isinstance(metadata, dict):
        return template
    for field in ("labels", "annotations"):
        present, remove = metadata.get(field), injected.get(field)
        if isinstance(present, dict) and isinstance(remove, Mapping):
            metadata[field] = {k: v for k, v in present.items() if k not in remove}
    return template


# --- ownership ---------------------------------------------------------------------------------------


def controller_ref(rs: Raw) -> Raw | None:
    """The ownerReference with `controller: true` (metav1.GetControllerOf), or None."""
    refs = _map(rs, "metadata").get("ownerReferences")
    if not isinstance(refs, list):
        return None
    return next((r for r in refs if isinstance(r, Mapping) and r.get("controller") is True), None)


def is_owned(rollout: Raw, rs: Raw) -> bool:
    """Controlled by this Rollout: a controller ownerReference of kind Rollout carrying the Rollout's uid."""
    ref, uid = controller_ref(rs), _str(_map(rollout, "metadata"), "uid")
    return ref is not None and bool(uid) and ref.get("kind") == "Rollout" and ref.get("uid") == uid


def selector_matches(selector: Raw, labels: Raw) -> bool:
    """metav1.LabelSelector semantics; an empty or malformed selector matches nothing (never adopt a
    whole namespace)."""
    match_labels, expressions = selector.get("matchLabels") or {}, selector.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
        return False
    if not match_labels and not expressions:
        return False
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    return all(_requirement_matches(e, labels) for e in expressions)


def _requirement_matches(requirement: Any, labels: Raw) -> bool:
    if not isinstance(requirement, Mapping):
        return False
    key, operator = requirement.get("key"), requirement.get("operator")
    values = requirement.get("values") or []
    if not isinstance(key, str) or not isinstance(values, list):
        return False
    match operator:
        case "In":
            return key in labels and labels[key] in values
        case "NotIn":
            return key not in labels or labels[key] not in values
        case "Exists":
            return key in labels
        case "DoesNotExist":
            return key not in labels
    return False


def is_adoptable(rollout: Raw, rs: Raw) -> bool:
    """No controller, same namespace, not being deleted, and labels matched by the Rollout's selector
    (ClaimReplicaSets)."""
    metadata = _map(rs, "metadata")
    if controller_ref(rs) is not None or metadata.get("deletionTimestamp"):
        return False
    if _str(metadata, "namespace") != _str(_map(rollout, "metadata"), "namespace"):
        return False
    return selector_matches(_map(_map(rollout, "spec"), "selector"), _map(metadata, "labels"))


def owned_replicasets(rollout: Raw, replicasets: Iterable[Raw]) -> list[Raw]:
    """The Rollout's ReplicaSets, in input order: those it controls whose labels its selector still matches,
    and controller-less ones it may adopt (apply `adoption_patch` to them). Foreign-owned ones are left."""
    selector = _map(_map(rollout, "spec"), "selector")
    result = []
    for rs in replicasets:
        if is_owned(rollout, rs):
            if selector_matches(selector, _map(_map(rs, "metadata"), "labels")):
                result.append(rs)
        elif is_adoptable(rollout, rs):
            result.append(rs)
    return result


def _owner_reference(rollout: Raw) -> dict[str, Any]:
    """metav1.NewControllerRef(rollout, Rollout kind)."""
    metadata = _map(rollout, "metadata")
    return {"apiVersion": ROLLOUT_API_VERSION, "kind": "Rollout", "name": _str(metadata, "name"),
            "uid": _str(metadata, "uid"), "controller": True, "blockOwnerDeletion": True}


def adoption_patch(rollout: Raw, rs: Raw) -> dict[str, Any] | None:
    """The merge patch that makes a matching ReplicaSet ours; None when it already is and is hash-labelled.

    It sets our controller ownerReference (keeping other, non-controller owners: a merge patch replaces the
    list) and, when the ReplicaSet's labels lack `rollouts-pod-template-hash` but its pod template has one,
    that label. `metadata.uid` and `resourceVersion` make it a precondition: a recreated or concurrently
    changed ReplicaSet is refused, not clobbered. spec.selector and spec.template are never touched: the
    selector is immutable in apps/v1, and a template change would give new pods labels the running ones lack,
    so Services selecting the hash would miss them. The adopted ReplicaSet keeps whatever hash it has.
    Raises ValueError for a ReplicaSet that is neither ours nor adoptable: callers pass `owned_replicasets`.
    """
    owned = is_owned(rollout, rs)
    if not owned and not is_adoptable(rollout, rs):
        raise ValueError(f"ReplicaSet {_str(_map(rs, 'metadata'), 'name')!r} cannot be adopted")
    metadata = _map(rs, "metadata")
    patch: dict[str, Any] = {}
    pod_hash = replicaset_hash(rs)
    if pod_hash and not _str(_map(metadata, "labels"), models.POD_TEMPLATE_HASH_LABEL):
        patch["labels"] = {models.POD_TEMPLATE_HASH_LABEL: pod_hash}
    if not owned:
        ours = _owner_reference(rollout)
        refs = metadata.get("ownerReferences")
        kept = [r for r in refs if isinstance(r, Mapping) and r.get("uid") != ours["uid"]] \
            if isinstance(refs, list) else []
        patch["ownerReferences"] = [*kept, ours]
    if not patch:
        return None
    for key in ("uid", "resourceVersion"):
        if _str(metadata, key):
            patch[key] = metadata[key]
    return {"metadata": patch}


# --- new, stable and other ---------------------------------------------------------------------------


def _collision_count(rollout: Raw) -> int:
    return _int(_map(rollout, "status"), "collisionCount", 0)


def find_new_replicaset(rollout: Raw, replicasets: Iterable[Raw]) -> Raw | None:
    """The Rollout's ReplicaSet for its current template, or None (FindNewReplicaSet).

    Among `owned_replicasets` whose live template (ephemeral metadata removed) equals the Rollout's ignoring
    the hash label, and whose pods carry a hash (Services select by it): the highest revision, then the
    oldest, then by name. The hash is never trusted alone: ours is not the reference's (see
    `pod_templates.pod_template_hash`), so a reference-made ReplicaSet is found by its template.
    """
    template = _map(_map(rollout, "spec"), "template")
    matches = [rs for rs in owned_replicasets(rollout, replicasets) if _template_hash(rs)
               and pod_templates.templates_equal_ignoring_hash(live_template(rs), template)]
    if not matches:
        return None
    return min(matches, key=lambda rs: (-(revision(rs) or 0), _str(_map(rs, "metadata"), "creationTimestamp"),
                                        _str(_map(rs, "metadata"), "name")))


def _template_hash(rs: Raw) -> str:
    return _str(_map(_map(_map(_map(rs, "spec"), "template"), "metadata"), "labels"),
                models.POD_TEMPLATE_HASH_LABEL)


def find_stable_replicaset(stable_hash: str, replicasets: Iterable[Raw]) -> Raw | None:
    """The ReplicaSet whose hash is `status.stableRS` (GetStableRS), or None when unset or gone.

    `replicasets` are the Rollout's own (`owned_replicasets`); should two carry the hash, the highest
    revision wins.
    """
    if not stable_hash:
        return None
    matches = [rs for rs in replicasets if replicaset_hash(rs) == stable_hash]
    return max(matches, key=lambda rs: revision(rs) or 0, default=None)


def other_replicasets(replicasets: Iterable[Raw], *, new: Raw | None,
                      stable: Raw | None) -> list[Raw]:
    """Every ReplicaSet but the new and the stable one, by name (GetOtherRSs)."""
    skip = {_str(_map(rs, "metadata"), "name") for rs in (new, stable) if rs is not None}
    return [rs for rs in replicasets if _str(_map(rs, "metadata"), "name") not in skip]


def next_revision(rollout: Raw, replicasets: Iterable[Raw]) -> int:
    """MaxRevision of the Rollout's ReplicaSets but the new one, plus 1; unparsable revisions are skipped."""
    owned = owned_replicasets(rollout, replicasets)
    new = find_new_replicaset(rollout, owned)
    older = other_replicasets(owned, new=new, stable=None)
    return max((revision(rs) or 0 for rs in older), default=0) + 1


# --- bodies and patches ------------------------------------------------------------------------------


def _copied_annotations(rollout: Raw) -> dict[str, str]:
    annotations = _map(_map(rollout, "metadata"), "annotations")
    return {k: v for k, v in annotations.items() if k not in _NOT_COPIED and isinstance(v, str)}


def new_replicaset_body(rollout: Raw, pod_hash: str, replicas: int, revision: int) -> dict[str, Any]:
    """The ReplicaSet to create for the Rollout's template (createDesiredReplicaSet).

    Named `<rollout>-<hash>`; labels are the template's plus the hash; selector and template labels get the
    hash too; the Rollout's annotations are copied (but for last-applied, revision, revision-history and
    desired-replicas), then `rollout.argoproj.io/revision` and `rollout.argoproj.io/desired-replicas` (the
    Rollout's spec.replicas) are set; minReadySeconds comes from the Rollout.
    """
    metadata, spec = _map(rollout, "metadata"), _map(rollout, "spec")
    template = copy.deepcopy(dict(_map(spec, "template")))
    template_metadata = dict(_map(template, "metadata"))
    labels = {**_map(template_metadata, "labels"), models.POD_TEMPLATE_HASH_LABEL: pod_hash}
    template_metadata["labels"] = labels
    template = {"metadata": template_metadata, **{k: v for k, v in template.items() if k != "metadata"}}
    selector = copy.deepcopy(dict(_map(spec, "selector")))
    selector["matchLabels"] = {**_map(selector, "matchLabels"), models.POD_TEMPLATE_HASH_LABEL: pod_hash}
    annotations = {**_copied_annotations(rollout), models.REVISION_ANNOTATION: str(revision),
                   DESIRED_REPLICAS_ANNOTATION: str(_rollout_replicas(rollout))}
    rs_spec: dict[str, Any] = {"replicas": replicas}
    min_ready = _int(spec, "minReadySeconds", 0)
    if min_ready:
        rs_spec["minReadySeconds"] = min_ready
    rs_spec.update(selector=selector, template=template)
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{_str(metadata, 'name')}-{pod_hash}",
            "namespace": _str(metadata, "namespace"),
            "labels": dict(labels),
            "annotations": annotations,
            "ownerReferences": [_owner_reference(rollout)],
        },
        "spec": rs_spec,
    }


def scale_patch(rs: Raw, replicas: int, *, desired_replicas: int | None = None) -> dict[str, Any] | None:
    """Set spec.replicas (scaleReplicaSet): with `desired_replicas` (the Rollout's spec.replicas) also its
    annotation; scaling to 0 drops `scale-down-deadline`. None when nothing would change."""
    annotations = _map(_map(rs, "metadata"), "annotations")
    changes: dict[str, Any] = {}
    if desired_replicas is not None and annotations.get(DESIRED_REPLICAS_ANNOTATION) != str(desired_replicas):
        changes[DESIRED_REPLICAS_ANNOTATION] = str(desired_replicas)
    size_changes = _int(_map(rs, "spec"), "replicas", 1) != replicas
    if not size_changes and not changes:
        return None
    if replicas == 0 and SCALE_DOWN_DEADLINE_ANNOTATION in annotations:
        changes[SCALE_DOWN_DEADLINE_ANNOTATION] = None
    patch: dict[str, Any] = {"spec": {"replicas": replicas}}
    if changes:
        patch["metadata"] = {"annotations": changes}
    return patch


def scale_down_patch(rs: Raw, *, deadline_iso: str | None) -> dict[str, Any] | None:
    """Set the `scale-down-deadline` annotation to `deadline_iso`, or remove it when None (addScaleDownDelay
    with a 0 delay); None when it already reads so. Moving an existing deadline is the caller's choice: the
    reference only annotates a ReplicaSet that has none."""
    current = _map(_map(rs, "metadata"), "annotations").get(SCALE_DOWN_DEADLINE_ANNOTATION)
    if deadline_iso is None and current is None:
        return None
    if deadline_iso is not None and current == deadline_iso:
        return None
    return {"metadata": {"annotations": {SCALE_DOWN_DEADLINE_ANNOTATION: deadline_iso}}}


def scale_down_deadline_iso(now: datetime, delay_seconds: float) -> str:
    """`now + delay` as the reference writes it: RFC 3339, UTC, whole seconds."""
    return models.format_time(now + timedelta(seconds=delay_seconds))


def scale_down_deadline(rs: Raw) -> datetime | None:
    """The `scale-down-deadline` annotation as a time; None when absent, empty or unparsable."""
    return models.parse_time(_str(_map(_map(rs, "metadata"), "annotations"), SCALE_DOWN_DEADLINE_ANNOTATION))

