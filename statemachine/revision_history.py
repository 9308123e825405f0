"""Old ReplicaSets beyond `spec.revisionHistoryLimit`: which to delete (reconcileRevisionHistoryLimit).

Room: plan (pure). Works on the raw ReplicaSet dicts the caches hold. Only ReplicaSets other than the new and
the stable one are candidates; of those alive, the oldest beyond the limit are deleted, but never one that
still has replicas (spec or status) or whose latest spec its controller has not observed yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from statemachine.raw import integer as _int
from statemachine.raw import mapping as _map

__all__ = ["DEFAULT_REVISION_HISTORY_LIMIT", "revision_history_limit", "to_delete"]

DEFAULT_REVISION_HISTORY_LIMIT = 10
Raw = Mapping[str, Any]


def revision_history_limit(rollout: Raw) -> int:
    """spec.revisionHistoryLimit (default 10; a negative value counts as 0)."""
    return max(_int(_map(rollout, "spec"), "revisionHistoryLimit", DEFAULT_REVISION_HISTORY_LIMIT), 0)


def _revision(rs: Raw) -> int:
    text = _map(_map(rs, "metadata"), "annotations").get("rollout.argoproj.io/revision")
    return int(text) if isinstance(text, str) and text.isdigit() else 0


def _deletable(rs: Raw) -> bool:
    metadata, spec, status = _map(rs, "metadata"), _map(rs, "spec"), _map(rs, "status")
    observed = _int(status, "observedGeneration", 0)
    return (_int(status, "replicas", 0) == 0 and _int(spec, "replicas", 1) == 0
            and _int(metadata, "generation", 0) <= observed)


def to_delete(others: Iterable[Raw], limit: int) -> list[Raw]:
    """The older ReplicaSets to delete now, oldest first (creationTimestamp, then revision, then name)."""
    alive = [rs for rs in others if not _map(rs, "metadata").get("deletionTimestamp")]
    surplus = len(alive) - limit
    if surplus <= 0:
        return []
    # creation time has one-second resolution: within a second the revision tells which came first
    alive.sort(key=lambda rs: (str(_map(rs, "metadata").get("creationTimestamp") or ""), _revision(rs),
                               str(_map(rs, "metadata").get("name") or "")))
    return [rs for rs in alive[:surplus] if _deletable(rs)]
