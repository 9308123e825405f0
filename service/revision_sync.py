"""Keep the Rollout's revision annotation at its new ReplicaSet's (the reference's syncRevision).

Room: reconcile, before the machine moves: the annotation is metadata, not a step of the rollout.
"""

from __future__ import annotations

from service import results
from service.kube import watching, writing
from statemachine import models
from statemachine.snapshot import Snapshot

__all__ = ["sync_revision"]


async def sync_revision(snapshot: Snapshot, *, writer: writing.Writer, rollouts: watching.Reflector,
                        deadline: float) -> bool:
    """Patch `rollout.argoproj.io/revision` when it lags the new ReplicaSet's; True when a write was sent."""
    rollout = snapshot.rollout
    revision = snapshot.new_rs.revision if snapshot.new_rs is not None else 0
    if not revision or rollout.annotation(models.REVISION_ANNOTATION) == str(revision):
        return False
    body = {"metadata": {"annotations": {models.REVISION_ANNOTATION: str(revision)}}}
    answer = await writer.patch_rollout(rollout.namespace, rollout.name, body)
    await results.wait_written(rollouts, answer, deadline)
    return True
