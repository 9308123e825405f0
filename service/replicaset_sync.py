"""A Rollout's ReplicaSets on the wire: adopt, find or create the new one, scale per plan, scale old ones.

Room: apply. Decisions come from `statemachine.replicasets` / `ownership` (pure); this module only sends what
they build through the `Writer` and waits for the ReplicaSet cache to show its own writes, so the next
reconcile never decides from a copy older than what it wrote. Adoption patches ownership and labels only:
it never recreates a ReplicaSet, so no pod restarts. Errors propagate (the worker requeues); no retries here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from service import results
from service.kube import caches, indexes, watching, writing
from statemachine import models, ownership, replicasets
from statemachine.snapshot import ReplicaSetView

__all__ = ["DEFAULT_SCALE_DOWN_DELAY_SECONDS", "Owned", "ReplicaSetSync", "replicaset_deadline",
           "scale_down_delay", "scale_down_revision_limit", "spec_replicas"]

log = structlog.get_logger(__name__)

DEFAULT_SCALE_DOWN_DELAY_SECONDS = 30
"""The reference's default scaleDownDelaySeconds with traffic routing."""

Raw = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Owned:
    """The Rollout's ReplicaSets after adoption: new (current template), stable, and the others."""

    new: Raw | None
    stable: Raw | None
    others: tuple[Raw, ...]
    created: bool = False

    def views(self) -> tuple[ReplicaSetView | None, ReplicaSetView | None, tuple[ReplicaSetView, ...]]:
        view = replicasets.replicaset_view
        return (view(self.new) if self.new is not None else None,
                view(self.stable) if self.stable is not None else None,
                tuple(view(rs) for rs in self.others))


def scale_down_delay(rollout: models.Rollout) -> int:
    canary = rollout.canary
    value = canary.scale_down_delay_seconds if canary else None
    return DEFAULT_SCALE_DOWN_DELAY_SECONDS if value is None else max(value, 0)


def scale_down_revision_limit(rollout: Raw) -> int | None:
    """spec.strategy.canary.scaleDownDelayRevisionLimit: how many old ReplicaSets may wait out the delay."""
    canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    value = canary.get("scaleDownDelayRevisionLimit") if isinstance(canary, Mapping) else None
    return max(value, 0) if isinstance(value, int) and not isinstance(value, bool) else None


def _name(rs: Raw) -> str:
    metadata = rs.get("metadata")
    return str(metadata.get("name", "")) if isinstance(metadata, Mapping) else ""


def replicaset_deadline(rs: Raw) -> datetime | None:
    """The ReplicaSet's `scale-down-deadline` (None: not annotated)."""
    return replicasets.scale_down_deadline(rs)


def spec_replicas(rs: Raw) -> int:
    spec = rs.get("spec")
    value = spec.get("replicas", 1) if isinstance(spec, Mapping) else 1
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


class ReplicaSetSync:
    """The ReplicaSet writes of one reconcile; `reflector` is the ReplicaSet informer (its store is read)."""

    def __init__(self, *, writer: writing.Writer, reflector: watching.Reflector, deadline: float) -> None:
        self.writer = writer
        self.reflector = reflector
        self.deadline = deadline

    def _candidates(self, rollout: Raw, namespace: str) -> list[caches.RawObject]:
        """The ReplicaSets `rollout` controls and the controller-less ones of `namespace`, in key order:
        read off two indexes, so that a claim never walks the namespace (`owned_replicasets` filters)."""
        store = self.reflector.store
        metadata = rollout.get("metadata")
        uid = metadata.get("uid") if isinstance(metadata, Mapping) else None
        keys = store.index_keys(indexes.BY_ORPHAN_NAMESPACE, namespace)
        if isinstance(uid, str) and uid:
            keys |= {key for key in store.index_keys(indexes.BY_CONTROLLER, uid)
                     if key.startswith(f"{namespace}/")}
        found = (store.get(key) for key in sorted(keys))
        return [rs for rs in found if rs is not None]

    async def _seen(self, answer: Mapping[str, Any]) -> None:
        await results.wait_written(self.reflector, answer, self.deadline)

    async def claim(self, rollout: Raw, namespace: str, *, create: bool) -> Owned:
        """Adopt matching ReplicaSets, find the new one (create it with 0 replicas when `create` and missing),
        bring it up to date, and sort the rest into stable and others."""
        owned = ownership.owned_replicasets(rollout, self._candidates(rollout, namespace))
        claimed: list[Raw] = []
        for rs in owned:
            patch = ownership.adoption_patch(rollout, rs)
            if patch is None:
                claimed.append(rs)
                continue
            log.info("adopting ReplicaSet", replicaset=_name(rs))
            answer = await self.writer.patch_replicaset(namespace, _name(rs), patch)
            await self._seen(answer)
            claimed.append(answer)
        new = replicasets.find_new_replicaset(rollout, claimed)
        revision = replicasets.next_revision(rollout, claimed)
        created = False
        status = rollout.get("status") if isinstance(rollout.get("status"), Mapping) else {}
        stable_hash = str((status or {}).get("stableRS") or "")
        if new is None and create:
            pod_hash = replicasets.desired_pod_hash(rollout)
            has_stable = replicasets.find_stable_replicaset(stable_hash, claimed) is not None
            body = replicasets.new_replicaset_body(rollout, pod_hash, 0, revision, has_stable=has_stable)
            new, created = await self._create(rollout, namespace, body)
            claimed = [*(rs for rs in claimed if _name(rs) != _name(new)), new]
        elif new is not None:
            patch = replicasets.sync_new_replicaset_patch(rollout, new, revision)
            if patch is not None:
                answer = await self.writer.patch_replicaset(namespace, _name(new), patch)
                await self._seen(answer)
                claimed = [answer if _name(rs) == _name(new) else rs for rs in claimed]
                new = answer
        stable = replicasets.find_stable_replicaset(stable_hash, claimed)
        others = replicasets.other_replicasets(claimed, new=new, stable=stable)
        return Owned(new=new, stable=stable, others=tuple(others), created=created)

    async def _create(self, rollout: Raw, namespace: str, body: Mapping[str, Any]) -> tuple[Raw, bool]:
        """Create the new ReplicaSet; (it, True). When its name is taken by the Rollout's own ReplicaSet for
        this template (a cache that lagged), (that one, False). When taken by another (a hash collision),
        bump status.collisionCount, so that the next try hashes to another name, and raise the Conflict."""
        name = str(body["metadata"]["name"])
        log.info("creating ReplicaSet", replicaset=name)
        try:
            created = await self.writer.create_replicaset(namespace, body)
        except writing.Conflict as error:
            if error.reason != "AlreadyExists":
                raise
            # a live read: the cache holds only hash-labelled ReplicaSets, a colliding one may not be
            try:
                taken = await self.writer.get_replicaset(namespace, name)
            except writing.NotFound:
                raise error from None  # deleted meanwhile: the next try creates it
            if not replicasets.is_collision(rollout, taken):
                log.info("found the new ReplicaSet already created", replicaset=name)
                await self._seen(taken)
                return taken, False
            patch = replicasets.collision_status_patch(rollout)
            metadata = rollout.get("metadata") or {}
            await self.writer.patch_rollout_status(namespace, str(metadata.get("name", "")), patch)
            count = patch["status"]["collisionCount"]
            log.warning("found a hash collision: bumped collisionCount to resolve it", replicaset=name,
                        collision_count=f"{count - 1}->{count}")
            raise
        await self._seen(created)
        return created, True

    async def scale(self, namespace: str, rs: Raw | None, replicas: int | None, *, desired: int) -> bool:
        """Scale one ReplicaSet to `replicas` (None: leave it); True when a write was sent."""
        if rs is None or replicas is None:
            return False
        patch = replicasets.scale_patch(rs, replicas, desired_replicas=desired)
        if patch is None:
            return False
        log.info("scaling ReplicaSet", replicaset=_name(rs), replicas=replicas)
        await self._seen(await self.writer.patch_replicaset(namespace, _name(rs), patch))
        return True

    async def scale_down_others(self, namespace: str, others: tuple[Raw, ...], *, now: datetime,
                                delay: int, done: list[str] | None = None, keep: frozenset[str] = frozenset(),
                                budget: int | None = None, revision_limit: int | None = None) -> float | None:
        """Old ReplicaSets: annotate a scale-down deadline `delay` seconds ahead, scale to 0 once it passed.

        Newest first; a ReplicaSet whose hash is in `keep` (still referenced) is left as it is, nothing more
        happens once `budget` (available pods to spare) is used up, and beyond `revision_limit` dated
        ReplicaSets (scaleDownDelayRevisionLimit) the older ones go at once. Returns the seconds until the
        earliest deadline still ahead (None when none is); notes each write in `done`.
        """
        requeue: float | None = None
        dated = 0
        for rs in sorted(others, key=lambda rs: replicasets.revision_of(rs) or 0, reverse=True):
            if spec_replicas(rs) == 0:
                continue
            if replicasets.replicaset_hash(rs) in keep:
                log.info("not scaling down an old ReplicaSet: still referenced", replicaset=_name(rs))
                continue
            if budget is not None and budget <= 0:
                log.info("not scaling down old ReplicaSets: no availability to spare", replicaset=_name(rs))
                break
            deadline = replicasets.scale_down_deadline(rs)
            within = revision_limit is None or dated < revision_limit
            if deadline is None and delay > 0 and within:
                dated += 1
                iso = replicasets.scale_down_deadline_iso(now, delay)
                patch = replicasets.scale_down_patch(rs, deadline_iso=iso)
                if patch is not None:
                    await self._seen(await self.writer.patch_replicaset(namespace, _name(rs), patch))
                    if done is not None:
                        done.append(f"dated ReplicaSet {_name(rs)} for scale-down at {iso}")
                wait = float(delay)
            elif deadline is not None and deadline > now and within:
                dated += 1
                wait = (deadline - now).total_seconds()
            else:
                await self._seen(await self.writer.patch_replicaset(
                    namespace, _name(rs), replicasets.scale_patch(rs, 0) or {"spec": {"replicas": 0}}))
                if done is not None:
                    done.append(f"scaled old ReplicaSet {_name(rs)} to 0")
                if budget is not None:
                    budget -= spec_replicas(rs)
                continue
            requeue = wait if requeue is None else min(requeue, wait)
        return requeue

    async def resize(self, namespace: str, others: tuple[Raw, ...], sizes: Mapping[str, int],
                     done: list[str] | None = None) -> None:
        """Older ReplicaSets of a basic canary to the planned sizes (never dated: their pods serve)."""
        for rs in others:
            size = sizes.get(_name(rs))
            patch = replicasets.scale_patch(rs, size) if size is not None else None
            if patch is None:
                continue
            log.info("scaling old ReplicaSet", replicaset=_name(rs), replicas=size)
            await self._seen(await self.writer.patch_replicaset(namespace, _name(rs), patch))
            if done is not None:
                done.append(f"scaled old ReplicaSet {_name(rs)} to {size}")

    async def set_deadlines(self, namespace: str, sets: tuple[Raw, ...], deadlines: Mapping[str, str | None],
                            done: list[str] | None = None) -> None:
        """Write (or with None remove) the `scale-down-deadline` annotation a blue-green plan decided."""
        for rs in sets:
            if _name(rs) not in deadlines:
                continue
            patch = replicasets.scale_down_patch(rs, deadline_iso=deadlines[_name(rs)])
            if patch is None:
                continue
            await self._seen(await self.writer.patch_replicaset(namespace, _name(rs), patch))
            if done is not None:
                iso = deadlines[_name(rs)]
                done.append(f"dated ReplicaSet {_name(rs)} for scale-down at {iso}" if iso
                            else f"undated ReplicaSet {_name(rs)}")

    async def prune(self, namespace: str, doomed: list[Raw], done: list[str] | None = None) -> None:
        """Delete old ReplicaSets beyond revisionHistoryLimit (uid and resourceVersion as preconditions)."""
        for rs in doomed:
            metadata = rs.get("metadata") or {}
            results.wrote_unwatched()
            try:
                await self.writer.delete_replicaset(namespace, _name(rs), uid=metadata.get("uid"),
                                                    resource_version=metadata.get("resourceVersion"))
            except writing.NotFound:
                continue  # already gone
            log.info("deleted old ReplicaSet beyond revisionHistoryLimit", replicaset=_name(rs))
            if done is not None:
                done.append(f"deleted old ReplicaSet {_name(rs)} (revisionHistoryLimit)")

    @staticmethod
    def needs_scale_down(others: tuple[Raw, ...]) -> bool:
        """Some old ReplicaSet still runs pods (what target verification gates)."""
        return any(spec_replicas(rs) > 0 for rs in others)
