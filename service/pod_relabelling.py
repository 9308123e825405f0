"""Ephemeral pod metadata on the wire: each ReplicaSet's template for its role, then its running pods.

Room: apply, called by the `scale_replicasets` effect before it scales (the reference syncs ephemeral metadata
before it scales, rollout/canary.go). `statemachine.pod_metadata` decides; this module patches a ReplicaSet's
template first, so pods it starts meanwhile already carry the new metadata, then lists the pods it controls
(a live LIST by its selector) and merge-patches each that differs: pods are relabelled, never restarted.
The reference lists every reconcile; we list when a ReplicaSet's role metadata changed, once more after
(a pod started from a template the ReplicaSet controller had not yet seen), and once per ReplicaSet after a
restart (a crash between the two steps). An error propagates (the worker requeues); no retries here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import structlog

from service import replicaset_sync, results
from service.kube import watching, writing
from statemachine import pod_metadata, status

__all__ = ["PodRelabelling"]

log = structlog.get_logger(__name__)

Raw = Mapping[str, Any]


def _meta(obj: Raw, key: str) -> str:
    metadata = obj.get("metadata")
    value = metadata.get(key) if isinstance(metadata, Mapping) else None
    return value if isinstance(value, str) else ""


class PodRelabelling:
    """Syncs the ephemeral metadata of one Rollout's ReplicaSets and pods per reconcile.

    Remembers, per Rollout, the ReplicaSets whose pods a whole pass found already carrying their role's
    metadata (uid -> that metadata), so that a quiet reconcile sends nothing, not even a LIST.
    """

    def __init__(self, *, writer: writing.Writer, reflector: watching.Reflector, deadline: float) -> None:
        self.writer = writer
        self.reflector = reflector  # the ReplicaSet informer: its cache must show our template writes
        self.deadline = deadline
        self._clean: dict[str, dict[str, str]] = {}

    async def sync(self, rollout: Raw, owned: replicaset_sync.Owned,
                   done: list[str] | None = None) -> replicaset_sync.Owned:
        """Give each ReplicaSet, then its pods, the metadata of its role (`pod_metadata.roles`); the
        ReplicaSets as they are after the writes."""
        pairs = pod_metadata.roles(rollout, new=owned.new, stable=owned.stable, others=owned.others)
        if not pairs:
            return owned
        namespace = _meta(rollout, "namespace")
        key = f"{namespace}/{_meta(rollout, 'name')}"
        clean_before, clean = self._clean.get(key, {}), {}
        written: dict[str, Raw] = {}
        for rs, desired in pairs:
            name, uid = _meta(rs, "name"), _meta(rs, "uid")
            marker = desired.to_json() if desired is not None else ""
            before = pod_metadata.existing(rs)  # what its pods may carry still
            patch = pod_metadata.replicaset_patch(rs, desired)
            if patch is not None:
                rs = await self.writer.patch_replicaset(namespace, name, patch)
                await results.wait_written(self.reflector, rs, self.deadline)
                written[name] = rs
                log.info("synced ephemeral metadata to ReplicaSet", replicaset=name, metadata=marker)
                if done is not None:
                    done.append(f"synced ephemeral metadata to ReplicaSet {name}")
            if replicaset_sync.spec_replicas(rs) == 0 or (patch is None and clean_before.get(uid) == marker):
                clean[uid] = marker
                continue
            relabelled = await self._pods(namespace, rs, before, desired)
            if relabelled and done is not None:
                done.append(f"synced ephemeral metadata to {relabelled} pods of ReplicaSet {name}")
            elif patch is None:
                clean[uid] = marker
        self._clean[key] = clean
        if not written:
            return owned

        def fresh(rs: Raw | None) -> Raw | None:
            return written.get(_meta(rs, "name"), rs) if rs is not None else None

        return dataclasses.replace(owned, new=fresh(owned.new), stable=fresh(owned.stable),
                                   others=tuple(written.get(_meta(rs, "name"), rs) for rs in owned.others))

    async def _pods(self, namespace: str, rs: Raw, before: pod_metadata.PodMetadata | None,
                    desired: pod_metadata.PodMetadata | None) -> int:
        """Patch the ReplicaSet's pods that differ (GetPodsOwnedByReplicaSet); how many were patched."""
        spec = rs.get("spec")
        selector = spec.get("selector") if isinstance(spec, Mapping) else None
        text = status.label_selector(selector if isinstance(selector, Mapping) else {})
        if text == "<none>":
            return 0  # a ReplicaSet selects by its hash: never list a whole namespace
        patched = 0
        for pod in await self.writer.list_pods(namespace, text):
            if not pod_metadata.controlled_by(pod, rs):
                continue
            patch = pod_metadata.pod_patch(pod, before, desired)
            if patch is None:
                continue
            name = _meta(pod, "name")
            results.wrote_unwatched()
            try:
                await self.writer.patch_pod(namespace, name, patch)
            except writing.NotFound:
                log.info("skipping sync ephemeral metadata to Pod: it no longer exists", pod=name)
                continue
            patched += 1
            log.info("synced ephemeral metadata to Pod", pod=name, replicaset=_meta(rs, "name"))
        return patched
