"""The weights the controller would want on the ALB now, from a Rollout and its ReplicaSets (for `verify`).

Room: verify (input). Builds the planner's `Snapshot` from raw ReplicaSet dicts and asks
`statemachine.planning.plan`, so `alb-rollouts verify` checks exactly the weight the controller would write.
Pure: it reads only the objects it is given and the `now` passed in; it never fetches or writes anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from statemachine import models, planning, snapshot

__all__ = ["Desired", "desired_weights", "owned_by", "replica_set_view", "rollout_snapshot"]


@dataclass(frozen=True, slots=True)
class Desired:
    """The canary weight, experiment weights (service, weight) and why (the planner's row or reason)."""

    canary: int
    additional: tuple[tuple[str, int], ...]
    why: str


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def replica_set_view(raw: Mapping[str, Any]) -> snapshot.ReplicaSetView:
    """What the planner reads of one ReplicaSet: hash label, spec and status counts, revision."""
    meta = raw.get("metadata") or {}
    spec, status = raw.get("spec") or {}, raw.get("status") or {}
    revision = str((meta.get("annotations") or {}).get(models.REVISION_ANNOTATION, ""))
    replicas = status.get("replicas")
    return snapshot.ReplicaSetView(
        name=str(meta.get("name", "")),
        hash=str((meta.get("labels") or {}).get(models.POD_TEMPLATE_HASH_LABEL, "")),
        spec_replicas=_count(spec.get("replicas", 1)),
        available_replicas=_count(status.get("availableReplicas")),
        ready_replicas=_count(status.get("readyReplicas")),
        replicas=replicas if isinstance(replicas, int) and not isinstance(replicas, bool) else None,
        revision=int(revision) if revision.isdigit() else 0,
    )


def owned_by(rollout: models.Rollout, raw: Mapping[str, Any]) -> bool:
    """The ReplicaSet's controller reference names this Rollout (by uid when both sides know it)."""
    for ref in (raw.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") != "Rollout" or ref.get("name") != rollout.name:
            continue
        if not rollout.uid or not ref.get("uid") or ref.get("uid") == rollout.uid:
            return True
    return False


def rollout_snapshot(rollout: models.Rollout, replica_sets: Sequence[Mapping[str, Any]]) -> snapshot.Snapshot:
    """The Snapshot the controller would build: new RS = status.currentPodHash, stable RS = status.stableRS.

    The template hash is taken from the status, so a template change the controller has not seen yet does not
    count: `verify` checks what the ALB should carry for the revision the status describes.
    """
    status = rollout.status
    views = [replica_set_view(raw) for raw in replica_sets if owned_by(rollout, raw)]
    by_hash = {view.hash: view for view in views if view.hash}
    new_rs = by_hash.get(status.current_pod_hash) if status.current_pod_hash else None
    stable_rs = by_hash.get(status.stable_rs) if status.stable_rs else None
    others = tuple(view for view in views if view is not new_rs and view is not stable_rs)
    return snapshot.Snapshot(rollout=rollout, new_rs=new_rs, stable_rs=stable_rs, others=others,
                             template_hash=status.current_pod_hash, verify_weights=True)


def desired_weights(rollout: models.Rollout, replica_sets: Sequence[Mapping[str, Any]], *,
                    now: datetime) -> Desired:
    """The planner's weights for this cycle; when it holds traffic, the weights already in status."""
    plan = planning.plan(rollout_snapshot(rollout, replica_sets), now=now)
    if plan.traffic.write and plan.traffic.weights is not None:
        extra = tuple((d.service_name, d.weight) for d in plan.additional)
        return Desired(plan.canary_weight, extra, plan.traffic.row or plan.reason)
    current = rollout.status.canary.weights
    if current is None:
        return Desired(0, (), f"no weights in status ({plan.reason})")
    extra = tuple((d.service_name, d.weight) for d in current.additional)
    return Desired(current.canary.weight, extra, f"weights in status ({plan.reason})")
