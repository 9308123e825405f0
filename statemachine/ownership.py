"""Which ReplicaSets belong to a Rollout, which it may adopt, and the merge patch that adopts one.

Room: plan (pure). Mirrors ClaimReplicaSets on raw dicts as the caches hold them: reads controller
ownerReferences and label selectors, returns new dicts, never mutates its input, never raises on a malformed
object it can read (`adoption_patch` refuses a foreign ReplicaSet with ValueError: a caller's mistake).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from statemachine import models
from statemachine.raw import mapping as _map
from statemachine.raw import string as _str

__all__ = ["adoption_patch", "controller_ref", "is_adoptable", "is_owned", "owned_replicasets",
           "owner_reference", "selector_matches"]

Raw = Mapping[str, Any]


def _hash(rs: Raw) -> str:
    """The ReplicaSet's hash label, else its pod template's ("" when neither)."""
    label = _str(_map(_map(rs, "metadata"), "labels"), models.POD_TEMPLATE_HASH_LABEL)
    return label or _str(_map(_map(_map(_map(rs, "spec"), "template"), "metadata"), "labels"),
                         models.POD_TEMPLATE_HASH_LABEL)


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


def owner_reference(rollout: Raw) -> dict[str, Any]:
    """metav1.NewControllerRef(rollout, Rollout kind)."""
    metadata = _map(rollout, "metadata")
    return {"apiVersion": models.ROLLOUT_API_VERSION, "kind": "Rollout", "name": _str(metadata, "name"),
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
    pod_hash = _hash(rs)
    if pod_hash and not _str(_map(metadata, "labels"), models.POD_TEMPLATE_HASH_LABEL):
        patch["labels"] = {models.POD_TEMPLATE_HASH_LABEL: pod_hash}
    if not owned:
        ours = owner_reference(rollout)
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
