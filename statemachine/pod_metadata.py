"""Ephemeral pod metadata: the labels and annotations of the canary's and the stable's pods, moved with roles.

Room: plan (pure). Mirrors the reference's reconcileEphemeralMetadata, SyncReplicaSetEphemeralPodMetadata and
SyncEphemeralPodMetadata on raw dicts: which metadata each ReplicaSet's pods should carry (`roles`), and the
merge patches that put it on a ReplicaSet's template (remembered in `rollout.argoproj.io/ephemeral-metadata`)
and on its running pods. Never mutates its input, never raises on a malformed object.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from statemachine import models
from statemachine.raw import mapping as _map
from statemachine.raw import string as _str

__all__ = ["EPHEMERAL_METADATA_ANNOTATION", "PodMetadata", "configured", "controlled_by", "existing",
           "for_new", "go_json", "inject", "parse", "pod_patch", "replicaset_patch", "roles", "sync"]

EPHEMERAL_METADATA_ANNOTATION = "rollout.argoproj.io/ephemeral-metadata"
Raw = Mapping[str, Any]
_FIELDS = ("labels", "annotations")  # PodTemplateMetadata's JSON field order


@dataclass(frozen=True, slots=True)
class PodMetadata:
    """A PodTemplateMetadata: labels and annotations to put on the pods of one role."""

    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        """The annotation value as Go's json.Marshal writes it (omitempty maps, sorted keys, HTML-escaped)."""
        fields = [f"{_go_string(name)}:{go_json(getattr(self, name))}"
                  for name in _FIELDS if getattr(self, name)]
        return "{" + ",".join(fields) + "}"  # a struct: fields in declaration order, not sorted


def parse(raw: Any) -> PodMetadata | None:
    """`canaryMetadata` / `stableMetadata` from the spec; None when absent (or not an object)."""
    if not isinstance(raw, Mapping):
        return None
    return PodMetadata(**{name: {str(k): v for k, v in _map(raw, name).items() if isinstance(v, str)}
                          for name in _FIELDS})


def existing(rs: Raw) -> PodMetadata | None:
    """What was injected into the ReplicaSet, from its annotation (ParseExistingPodMetadata): None when there
    is none, or it does not decode as Go would (not an object, a non-string value)."""
    raw = _map(_map(rs, "metadata"), "annotations").get(EPHEMERAL_METADATA_ANNOTATION)
    if not isinstance(raw, str):
        return None
    try:
        decoded = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(decoded, Mapping):
        return None  # `null` decodes to nil; anything else is an unmarshal error
    parts: dict[str, dict[str, str]] = {}
    for name in _FIELDS:
        value = decoded.get(name)
        if value is None:
            parts[name] = {}
        elif isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
            parts[name] = dict(value)
        else:
            return None
    return PodMetadata(**parts)


# (strategy, metadata of the new pods while another ReplicaSet is stable, metadata of the stable pods)
_ROLES = (("canary", "canaryMetadata", "stableMetadata"), ("blueGreen", "previewMetadata", "activeMetadata"))


def _role_fields(rollout: Raw) -> tuple[Any, Any] | None:
    """The strategy's raw (new role, stable role) metadata: canary/stable, or blue-green's preview/active;
    None when neither is set."""
    strategy = _map(_map(rollout, "spec"), "strategy")
    for name, new_field, stable_field in _ROLES:
        spec = _map(strategy, name)
        if spec.get(new_field) is not None or spec.get(stable_field) is not None:
            return spec.get(new_field), spec.get(stable_field)
    return None


def configured(rollout: Raw) -> bool:
    """hasEphemeralMetadataConfigured: canaryMetadata or stableMetadata (blue-green: previewMetadata or
    activeMetadata) is set."""
    return _role_fields(rollout) is not None


def for_new(rollout: Raw, *, has_stable: bool) -> PodMetadata | None:
    """The metadata a ReplicaSet is created with: the canary's (blue-green: the preview's) when another
    ReplicaSet is stable, else the stable's (active's): a first ReplicaSet becomes the stable one."""
    fields = _role_fields(rollout)
    return None if fields is None else parse(fields[0] if has_stable else fields[1])


def roles(rollout: Raw, *, new: Raw | None, stable: Raw | None,
          others: Iterable[Raw]) -> list[tuple[Raw, PodMetadata | None]]:
    """Each ReplicaSet with the metadata its pods should carry (reconcileEphemeralMetadata); [] when none is
    configured (what was injected before then stays, as in the reference).

    Fully rolled out (no `status.stableRS`, or it is the new ReplicaSet's hash): the new one takes the stable
    metadata. Otherwise the new one takes the canary metadata and the stable one the stable metadata. Every
    other ReplicaSet loses what was injected (None). Blue-green: preview for canary, active for stable.
    """
    fields = _role_fields(rollout)
    if fields is None:
        return []
    canary_metadata, stable_metadata = parse(fields[0]), parse(fields[1])
    stable_hash = _str(_map(rollout, "status"), "stableRS")
    out: list[tuple[Raw, PodMetadata | None]] = []
    if not stable_hash or stable_hash == _hash(new):
        if new is not None:
            out.append((new, stable_metadata))
    else:
        out += [(rs, metadata) for rs, metadata in ((new, canary_metadata), (stable, stable_metadata))
                if rs is not None]
    out += [(rs, None) for rs in others]
    return out


def _hash(rs: Raw | None) -> str:
    return _str(_map(_map(rs, "metadata"), "labels"), models.POD_TEMPLATE_HASH_LABEL)


def sync(metadata: Raw, before: PodMetadata | None, desired: PodMetadata | None) -> dict[str, Any] | None:
    """The merge patch of an ObjectMeta's labels and annotations that injects `desired` and removes what
    `before` injected and `desired` no longer names (SyncEphemeralPodMetadata); None when nothing changes.

    As in the reference, a desired "" is not injected where the key is absent (a missing key reads as "").
    """
    patch: dict[str, dict[str, str | None]] = {}
    for name in _FIELDS:
        present = _map(metadata, name)
        wanted = getattr(desired, name) if desired is not None else {}
        changes: dict[str, str | None] = {k: v for k, v in wanted.items() if _str(present, k) != v}
        for key in getattr(before, name) if before is not None else ():
            if key not in wanted and key in present:
                changes[key] = None
        if changes:
            patch[name] = changes
    return patch or None


def replicaset_patch(rs: Raw, desired: PodMetadata | None) -> dict[str, Any] | None:
    """The ReplicaSet merge patch for its role (SyncReplicaSetEphemeralPodMetadata): the template's metadata,
    and the annotation set to `desired` (removed when None); None when the template already matches."""
    template_metadata = _map(_map(_map(rs, "spec"), "template"), "metadata")
    changes = sync(template_metadata, existing(rs), desired)
    if changes is None:
        return None
    patch: dict[str, Any] = {}
    if desired is not None:
        patch["metadata"] = {"annotations": {EPHEMERAL_METADATA_ANNOTATION: desired.to_json()}}
    elif EPHEMERAL_METADATA_ANNOTATION in _map(_map(rs, "metadata"), "annotations"):
        patch["metadata"] = {"annotations": {EPHEMERAL_METADATA_ANNOTATION: None}}
    patch["spec"] = {"template": {"metadata": changes}}
    return patch


def inject(body: Raw, desired: PodMetadata | None) -> dict[str, Any]:
    """A ReplicaSet body to create with `desired` in its template and annotation (createDesiredReplicaSet)."""
    result = copy.deepcopy(dict(body))
    patch = replicaset_patch(result, desired)
    return _merge(result, patch) if patch is not None else result


def pod_patch(pod: Raw, before: PodMetadata | None, desired: PodMetadata | None) -> dict[str, Any] | None:
    """The pod's merge patch for its ReplicaSet's role; `before` is what the ReplicaSet carried before it
    was synced (its pods may still carry that). None when the pod already matches."""
    changes = sync(_map(pod, "metadata"), before, desired)
    return {"metadata": changes} if changes is not None else None


def controlled_by(pod: Raw, rs: Raw) -> bool:
    """metav1.IsControlledBy: the pod's controller ownerReference carries the ReplicaSet's uid."""
    uid = _str(_map(rs, "metadata"), "uid")
    refs = _map(pod, "metadata").get("ownerReferences")
    return bool(uid) and isinstance(refs, list) and any(
        isinstance(ref, Mapping) and ref.get("controller") is True and ref.get("uid") == uid for ref in refs)


def go_json(value: Any) -> str:
    """JSON as Go's encoding/json writes it: no spaces, map keys sorted, `<`, `>`, `&`, U+2028 and U+2029
    escaped, control characters as \\n, \\r, \\t or \\u00XX."""
    if isinstance(value, Mapping):
        items = sorted((str(k), v) for k, v in value.items())
        return "{" + ",".join(f"{_go_string(k)}:{go_json(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    if isinstance(value, str):
        return _go_string(value)
    return json.dumps(value)


_GO_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "<": "\\u003c",
               ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _go_string(text: str) -> str:
    out = []
    for char in text:
        escaped = _GO_ESCAPES.get(char)
        out.append(escaped if escaped is not None else f"\\u{ord(char):04x}" if ord(char) < 0x20 else char)
    return '"' + "".join(out) + '"'


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7386 applied in place to a deep copy's dicts."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping):
            current = target.get(key)
            target[key] = _merge(dict(current) if isinstance(current, Mapping) else {}, value)
        else:
            target[key] = value
    return target
