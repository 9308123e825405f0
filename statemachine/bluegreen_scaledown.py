"""Blue-green ReplicaSet scale-down: old ReplicaSets after scaleDownDelaySeconds (reference doc §5.2) and the
aborted preview after abortScaleDownDelaySeconds (§6.1), as decisions on `scale-down-deadline` and sizes.

Room: plan (pure). Deadlines come in as the annotation strings the caches hold, `now` as an argument; the
result says which annotation to add or remove (the §5.1 JSON patches) and which size to give each ReplicaSet.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from statemachine import models
from statemachine.bluegreen_spec import BlueGreenStrategy
from statemachine.snapshot import ReplicaSetView

__all__ = ["AbortScaleDown", "OldScaleDown", "abort_scale_down", "deadline_iso", "old_scale_down"]


def deadline_iso(now: datetime, seconds: float) -> str:
    """`now + seconds` as the reference writes `scale-down-deadline`: RFC 3339, UTC, whole seconds."""
    return models.format_time(now + timedelta(seconds=seconds))


@dataclass(frozen=True, slots=True)
class OldScaleDown:
    """The older ReplicaSets' fate: `sizes` (name, replicas) to write, `deadlines` (name, RFC 3339) to add,
    `requeue_after` the earliest deadline still ahead, `notes` what was decided and why (for the reason)."""

    sizes: tuple[tuple[str, int], ...] = ()
    deadlines: tuple[tuple[str, str], ...] = ()
    requeue_after: float | None = None
    notes: tuple[str, ...] = ()


def _order(rs: ReplicaSetView) -> tuple[int, str]:
    # newest revision first; ties go to the older creation time (ReplicaSetsByRevisionNumber reversed)
    return (-rs.revision, rs.created)


def old_scale_down(others: tuple[ReplicaSetView, ...], *, strategy: BlueGreenStrategy,
                   deadlines: Mapping[str, str], referenced: Collection[str], paused_inconclusive: bool,
                   now: datetime) -> OldScaleDown:
    """scaleDownOldReplicaSetsForBlueGreen (§5.2) on the older ReplicaSets with replicas.

    Better than the reference (§12.2, §14 item 7): `scaleDownDelaySeconds: 0` scales down at once (the
    reference adds nothing and keeps the ReplicaSet forever). A dated ReplicaSet waiting out its deadline
    keeps its own size (the reference resizes it to `spec.replicas`).
    """
    if paused_inconclusive:
        return OldScaleDown(notes=("old ReplicaSets wait: paused on an inconclusive analysis",))
    limit = strategy.revision_limit
    delay = strategy.scale_down_delay
    sizes: list[tuple[str, int]] = []
    added: list[tuple[str, str]] = []
    notes: list[str] = []
    requeue: float | None = None
    annotated = 0
    for rs in sorted((rs for rs in others if rs.spec_replicas > 0), key=_order):
        if rs.hash and rs.hash in referenced:
            notes.append(f"kept ReplicaSet {rs.name}: still referenced")
            continue
        raw = deadlines.get(rs.name)
        if raw is None:
            if (limit is None or annotated < limit) and delay > 0:
                annotated += 1
                iso = deadline_iso(now, delay)
                added.append((rs.name, iso))
                notes.append(f"dated ReplicaSet {rs.name} for scale-down at {iso}")
                requeue = delay if requeue is None else min(requeue, delay)
                continue
            sizes.append((rs.name, 0))
            notes.append(f"scaled ReplicaSet {rs.name} to 0")
            continue
        annotated += 1
        deadline = models.parse_time(raw)
        if limit is not None and annotated > limit:
            sizes.append((rs.name, 0))
            notes.append(f"scaled ReplicaSet {rs.name} to 0: beyond scaleDownDelayRevisionLimit {limit}")
        elif deadline is None or deadline <= now:
            sizes.append((rs.name, 0))
            notes.append(f"scaled ReplicaSet {rs.name} to 0: its scale-down deadline passed")
        else:
            wait = (deadline - now).total_seconds()
            requeue = wait if requeue is None else min(requeue, wait)
    return OldScaleDown(tuple(sizes), tuple(added), requeue, tuple(notes))


@dataclass(frozen=True, slots=True)
class AbortScaleDown:
    """The aborted preview's size (None: the normal target), a deadline to add, and when to look again."""

    size: int | None = None
    deadline: str | None = None
    requeue_after: float | None = None
    note: str = ""


def abort_scale_down(new: ReplicaSetView, stable: ReplicaSetView, *, strategy: BlueGreenStrategy,
                     deadline: str | None, replicas: int, stable_serving: bool,
                     now: datetime) -> AbortScaleDown:
    """reconcileNewReplicaSet on abort (§6.1, shouldDelayScaleDownOnAbort holds): keep the preview until the
    stable ReplicaSet is whole, date it `abortScaleDownDelaySeconds` ahead, scale it to 0 once that passed.

    Better than the reference (§14 item 4): the deadline is written only once `stable_serving` (the active
    Service's targets serve the stable pods again), never while the aborted ReplicaSet still takes traffic.
    """
    delay = strategy.abort_scale_down_delay
    assert delay is not None  # the caller checks shouldDelayScaleDownOnAbort
    if deadline is not None:
        moment = models.parse_time(deadline)
        if moment is None:
            return AbortScaleDown(note=f"unable to read scaleDownAt label on rs '{new.name}'")
        if moment > now:
            return AbortScaleDown(size=new.spec_replicas, requeue_after=(moment - now).total_seconds(),
                                  note=f"aborted ReplicaSet {new.name} is scaled down at {deadline}")
        return AbortScaleDown(size=0, note=f"scaled aborted ReplicaSet {new.name} to 0")
    if stable.available_replicas >= replicas and stable_serving:
        iso = deadline_iso(now, delay)
        return AbortScaleDown(size=new.spec_replicas, deadline=iso, requeue_after=float(delay),
                              note=f"dated aborted ReplicaSet {new.name} for scale-down at {iso}")
    return AbortScaleDown(size=new.spec_replicas,
                          note=f"aborted ReplicaSet {new.name} kept until the stable ReplicaSet serves again")
