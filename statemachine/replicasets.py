"""A Rollout's ReplicaSets: which is new, stable or other, their revisions, and the patches for them.

Room: plan (pure). Works on raw ReplicaSet and Rollout dicts (the API boundary) as the caches hold them;
returns new dicts and merge-patch bodies, never mutates its input, never reads a clock (deadlines come in
as strings) and never raises on a malformed object it can read. `service/` sends what these build.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from statemachine import anti_affinity, merge_patch, models, ownership, pod_metadata, pod_templates
from statemachine.raw import integer as _int
from statemachine.raw import mapping as _map
from statemachine.raw import string as _str
from statemachine.snapshot import ReplicaSetView

__all__ = [
    "DESIRED_REPLICAS_ANNOTATION",
    "EPHEMERAL_METADATA_ANNOTATION",
    "REVISION_HISTORY_ANNOTATION",
    "SCALE_DOWN_DEADLINE_ANNOTATION",
    "collision_status_patch",
    "desired_pod_hash",
    "find_new_replicaset",
    "find_stable_replicaset",
    "is_collision",
    "live_template",
    "new_replicaset_body",
    "next_revision",
    "other_replicasets",
    "replicaset_hash",
    "replicaset_view",
    "revision_of",
    "scale_down_deadline",
    "scale_down_deadline_iso",
    "scale_down_patch",
    "scale_patch",
    "sync_new_replicaset_patch",
]

DESIRED_REPLICAS_ANNOTATION = "rollout.argoproj.io/desired-replicas"
REVISION_HISTORY_ANNOTATION = "rollout.argoproj.io/revision-history"
EPHEMERAL_METADATA_ANNOTATION = pod_metadata.EPHEMERAL_METADATA_ANNOTATION
SCALE_DOWN_DEADLINE_ANNOTATION = "scale-down-deadline"
Raw = Mapping[str, Any]

_INTEGER = re.compile(r"[+-]?[0-9]+")  # strconv.ParseInt base 10
# copyRolloutAnnotationsToReplicaSet skips these
_NOT_COPIED = frozenset({"kubectl.kubernetes.io/last-applied-configuration", models.REVISION_ANNOTATION,
                         REVISION_HISTORY_ANNOTATION, DESIRED_REPLICAS_ANNOTATION})


# --- reading raw objects -----------------------------------------------------------------------------


def _rollout_replicas(rollout: Raw) -> int:
    return _int(_map(rollout, "spec"), "replicas", 1)  # nil spec.replicas means 1


def replicaset_hash(rs: Raw) -> str:
    """The ReplicaSet's `rollouts-pod-template-hash` label, else its pod template's ("" when neither)."""
    label = _str(_map(_map(rs, "metadata"), "labels"), models.POD_TEMPLATE_HASH_LABEL)
    return label or _str(_map(_map(_map(_map(rs, "spec"), "template"), "metadata"), "labels"),
                         models.POD_TEMPLATE_HASH_LABEL)


def revision_of(rs: Raw) -> int | None:
    """The `rollout.argoproj.io/revision` annotation; 0 when absent, None when not a number (skipped)."""
    annotations = _map(_map(rs, "metadata"), "annotations")
    if models.REVISION_ANNOTATION not in annotations:
        return 0
    value = annotations[models.REVISION_ANNOTATION]
    text = value.strip() if isinstance(value, str) else ""
    return int(text) if _INTEGER.fullmatch(text) else None


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
        revision=max(revision_of(rs) or 0, 0),
        created=_str(_map(rs, "metadata"), "creationTimestamp"),
        scale_down_deadline=_str(_map(_map(rs, "metadata"), "annotations"), SCALE_DOWN_DEADLINE_ANNOTATION),
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


# --- new, stable and other ---------------------------------------------------------------------------


def desired_pod_hash(rollout: Raw) -> str:
    """The hash a ReplicaSet created now for the Rollout's template gets (status.collisionCount included)."""
    template = _map(_map(rollout, "spec"), "template")
    return pod_templates.pod_template_hash(template, _int(_map(rollout, "status"), "collisionCount", 0))


def find_new_replicaset(rollout: Raw, replicasets: Iterable[Raw]) -> Raw | None:
    """The Rollout's ReplicaSet for its current template, or None (FindNewReplicaSet).

    Among `ownership.owned_replicasets` whose pods carry a hash (Services select by it) and whose live
    template (ephemeral metadata removed) equals the Rollout's ignoring the hash label: the highest revision,
    then the oldest, then by name. Our hash is not the reference's (see `pod_templates.pod_template_hash`),
    so a reference-made ReplicaSet is found by its template. Should no template match (a defaulting
    `normalise_template` does not know), the one hashed `status.currentPodHash` is taken while
    `status.observedGeneration` equals the generation: the controller that wrote the status saw this very
    spec (and, with a workloadRef, the same workload generation), so that ReplicaSet is its template's. Either
    way a takeover restarts no pod.
    """
    candidates = [rs for rs in ownership.owned_replicasets(rollout, replicasets) if _template_hash(rs)]
    template = _map(_map(rollout, "spec"), "template")
    matches = [rs for rs in candidates
               if pod_templates.templates_equal_ignoring_hash(live_template(rs), template)]
    if not matches and _observed_current_generation(rollout):
        current = _str(_map(rollout, "status"), "currentPodHash")
        matches = [rs for rs in candidates if current and replicaset_hash(rs) == current]
    if not matches:
        return None

    def order(rs: Raw) -> tuple[int, str, str]:
        metadata = _map(rs, "metadata")
        return -(revision_of(rs) or 0), _str(metadata, "creationTimestamp"), _str(metadata, "name")

    return min(matches, key=order)


def _observed_current_generation(rollout: Raw) -> bool:
    """The status was written from this very spec: its generation, and for a template taken from a
    workloadRef also the workload's generation (a new Deployment template leaves the Rollout's alone)."""
    generation = _map(rollout, "metadata").get("generation")
    observed = _map(rollout, "status").get("observedGeneration")
    if not (isinstance(generation, int) and not isinstance(generation, bool) and observed == str(generation)):
        return False
    if _map(rollout, "spec").get("workloadRef") is None:
        return True
    workload = _map(_map(rollout, "metadata"), "annotations").get(models.WORKLOAD_GENERATION_ANNOTATION)
    return bool(workload) and _map(rollout, "status").get("workloadObservedGeneration") == workload


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
    return max(matches, key=lambda rs: revision_of(rs) or 0, default=None)


def other_replicasets(replicasets: Iterable[Raw], *, new: Raw | None,
                      stable: Raw | None) -> list[Raw]:
    """Every ReplicaSet but the new and the stable one, by name (GetOtherRSs)."""
    skip = {_str(_map(rs, "metadata"), "name") for rs in (new, stable) if rs is not None}
    return [rs for rs in replicasets if _str(_map(rs, "metadata"), "name") not in skip]


def next_revision(rollout: Raw, replicasets: Iterable[Raw]) -> int:
    """MaxRevision of the Rollout's ReplicaSets but the new one, plus 1; unparsable revisions are skipped."""
    owned = ownership.owned_replicasets(rollout, replicasets)
    new = find_new_replicaset(rollout, owned)
    older = other_replicasets(owned, new=new, stable=None)
    return max((revision_of(rs) or 0 for rs in older), default=0) + 1


# --- bodies and patches ------------------------------------------------------------------------------


def _copied_annotations(rollout: Raw) -> dict[str, str]:
    annotations = _map(_map(rollout, "metadata"), "annotations")
    return {k: v for k, v in annotations.items() if k not in _NOT_COPIED and isinstance(v, str)}


def new_replicaset_body(rollout: Raw, pod_hash: str, replicas: int, revision: int, *,
                        has_stable: bool = False) -> dict[str, Any]:
    """The ReplicaSet to create for the Rollout's template (createDesiredReplicaSet).

    Named `<rollout>-<hash>`; labels are the template's plus the hash; selector and template labels get the
    hash too; the Rollout's annotations are copied (but for last-applied, revision, revision-history and
    desired-replicas), then `rollout.argoproj.io/revision` and `rollout.argoproj.io/desired-replicas` (the
    Rollout's spec.replicas) are set; minReadySeconds comes from the Rollout. The template's affinity gets
    the antiAffinity term against the stable pods (`anti_affinity.replicaset_affinity`), and its metadata
    the canary's (preview's) ephemeral metadata when a stable ReplicaSet exists (`has_stable`), else the
    stable's (active's): a first ReplicaSet becomes the stable one (`pod_metadata.for_new`).
    """
    metadata, spec = _map(rollout, "metadata"), _map(rollout, "spec")
    template = copy.deepcopy(dict(_map(spec, "template")))
    template_metadata = dict(_map(template, "metadata"))
    labels = {**_map(template_metadata, "labels"), models.POD_TEMPLATE_HASH_LABEL: pod_hash}
    template_metadata["labels"] = labels
    template = {"metadata": template_metadata, **{k: v for k, v in template.items() if k != "metadata"}}
    affinity = anti_affinity.replicaset_affinity(rollout, pod_hash)
    if affinity is not None:
        template["spec"] = {**_map(template, "spec"), "affinity": affinity}
    selector = copy.deepcopy(dict(_map(spec, "selector")))
    selector["matchLabels"] = {**_map(selector, "matchLabels"), models.POD_TEMPLATE_HASH_LABEL: pod_hash}
    annotations = {**_copied_annotations(rollout), models.REVISION_ANNOTATION: str(revision),
                   DESIRED_REPLICAS_ANNOTATION: str(_rollout_replicas(rollout))}
    rs_spec: dict[str, Any] = {"replicas": replicas}
    min_ready = _int(spec, "minReadySeconds", 0)
    if min_ready:
        rs_spec["minReadySeconds"] = min_ready
    rs_spec.update(selector=selector, template=template)
    body = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{_str(metadata, 'name')}-{pod_hash}",
            "namespace": _str(metadata, "namespace"),
            "labels": dict(labels),
            "annotations": annotations,
            "ownerReferences": [ownership.owner_reference(rollout)],
        },
        "spec": rs_spec,
    }
    return pod_metadata.inject(body, pod_metadata.for_new(rollout, has_stable=has_stable))


def sync_new_replicaset_patch(rollout: Raw, rs: Raw, revision: int) -> dict[str, Any] | None:
    """Bring an existing new ReplicaSet up to date (syncReplicaSetRevision); None when it already is.

    Copies the Rollout's annotations that differ (as `new_replicaset_body`), raises
    `rollout.argoproj.io/revision` to `revision` when lower (a rollback to this ReplicaSet), appending the old
    one to `rollout.argoproj.io/revision-history`, and sets spec.minReadySeconds from the Rollout. When any
    of that changes, or the injected anti-affinity term names an older stable hash, the template's affinity
    is set anew (`anti_affinity.replicaset_affinity`). An unparsable revision is left alone, as the
    reference does. Unlike the reference, the history grows only when the revision changes, not when merely
    another annotation was copied.
    """
    annotations = _map(_map(rs, "metadata"), "annotations")
    copied = _copied_annotations(rollout)
    changes: dict[str, Any] = {k: v for k, v in copied.items() if annotations.get(k) != v}
    current = annotations.get(models.REVISION_ANNOTATION)
    old = 0 if current == "" else revision_of(rs)  # an empty revision counts as 0 here, as the reference does
    if old is not None and old < revision:
        changes[models.REVISION_ANNOTATION] = str(revision)
        if isinstance(current, str) and current:
            history = _str(annotations, REVISION_HISTORY_ANNOTATION)
            changes[REVISION_HISTORY_ANNOTATION] = f"{history},{current}" if history else current
    patch: dict[str, Any] = {}
    if changes:
        patch["metadata"] = {"annotations": changes}
    min_ready = _int(_map(rollout, "spec"), "minReadySeconds", 0)
    min_ready_changes = _int(_map(rs, "spec"), "minReadySeconds", 0) != min_ready
    pod_spec = _map(_map(_map(rs, "spec"), "template"), "spec")
    affinity = pod_spec.get("affinity") if isinstance(pod_spec.get("affinity"), Mapping) else None
    pod_hash = replicaset_hash(rs)
    if changes or min_ready_changes or anti_affinity.needs_update(affinity, rollout, pod_hash):
        # the reference then sets the whole affinity anew: the injected term follows status.stableRS, and
        # goes once this ReplicaSet is the stable one
        wanted = anti_affinity.replicaset_affinity(rollout, pod_hash)
        affinity_patch = merge_patch.diff({"affinity": affinity} if affinity is not None else {},
                                          {"affinity": wanted} if wanted is not None else {}, ("affinity",))
        if min_ready_changes:
            patch["spec"] = {"minReadySeconds": min_ready}
        if affinity_patch:
            patch.setdefault("spec", {})["template"] = {"spec": affinity_patch}
    return patch or None


def is_collision(rollout: Raw, rs: Raw) -> bool:
    """The ReplicaSet holding the new ReplicaSet's name is not the Rollout's own for its template: not
    controlled by it, or another template (ephemeral metadata and the injected anti-affinity aside)."""
    if not ownership.is_owned(rollout, rs):
        return True
    template = _map(_map(rollout, "spec"), "template")
    return not pod_templates.templates_equal_ignoring_hash(live_template(rs), template)


def collision_status_patch(rollout: Raw) -> dict[str, Any]:
    """`status.collisionCount` one higher, with the Rollout's resourceVersion as a precondition (the
    reference's UpdateStatus): a stale copy is refused, never bumped twice."""
    metadata = _map(rollout, "metadata")
    count = _int(_map(rollout, "status"), "collisionCount", 0)
    patch: dict[str, Any] = {"status": {"collisionCount": count + 1}}
    version = _str(metadata, "resourceVersion")
    return {"metadata": {"resourceVersion": version}, **patch} if version else patch


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

