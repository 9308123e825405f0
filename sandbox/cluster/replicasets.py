"""ReplicaSet controller and simulated kubelet: keeps spec.replicas pods, makes them Ready after a delay.

Part of the sandbox cluster; it writes pods and ReplicaSet status through the Storage API only, and never
touches objects it does not own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sandbox.apiserver import selectors
from sandbox.apiserver import storage as storage_mod
from sandbox.cluster import pods

__all__ = ["ReplicaSetController"]

log = logging.getLogger(__name__)
RS = "replicasets.apps"


def _deletion_order(owned: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Like the real controller: unready pods go first, then the youngest."""
    youngest = sorted(
        owned, key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]), reverse=True
    )
    return sorted(youngest, key=pods.is_ready)


class ReplicaSetController:
    """Scales pods to each ReplicaSet's replicas and keeps its status counts current."""

    def __init__(
        self, store: storage_mod.Storage, *, pod_ready_seconds: float, ips: pods.IpAllocator
    ) -> None:
        self._store = store
        self.ready_after = pod_ready_seconds
        """Seconds a new pod takes to become Ready; changing it affects pods started from then on."""
        self._ips = ips
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def resync(self) -> None:
        for rs in self._store.list(RS):
            self.sync(rs["metadata"]["namespace"], rs["metadata"]["name"])

    def on_event(self, event: storage_mod.WatchEvent) -> None:
        meta = event.object["metadata"]
        if event.resource == RS and event.type != "DELETED":
            self.sync(meta["namespace"], meta["name"])
        elif event.resource == "pods":
            if event.type == "DELETED":
                timer = self._timers.pop(meta["uid"], None)
                if timer is not None:
                    timer.cancel()
            for ref in meta.get("ownerReferences") or []:
                if ref.get("controller") and ref.get("kind") == "ReplicaSet":
                    self.sync(meta["namespace"], ref["name"])

    def owned_pods(self, rs: dict[str, Any]) -> list[dict[str, Any]]:
        """The live pods this ReplicaSet controls, from the storage's owner index (no scan of all pods)."""
        uid = rs["metadata"]["uid"]
        return [
            p
            for p in self._store.owned("pods", uid)
            if p["metadata"]["namespace"] == rs["metadata"]["namespace"]
            and pods.controller_uid(p) == uid
            and not p["metadata"].get("deletionTimestamp")
        ]

    def sync(self, namespace: str, name: str) -> None:
        rs = self._store.get(RS, namespace, name)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        owned = self.owned_pods(rs)
        want = int((rs.get("spec") or {}).get("replicas", 1))
        if len(owned) < want:
            for _ in range(want - len(owned)):
                owned.append(self._start_pod(rs))
        elif len(owned) > want:
            doomed = _deletion_order(owned)[: len(owned) - want]
            for pod in doomed:
                self._store.delete("pods", namespace, pod["metadata"]["name"])
            gone = {p["metadata"]["uid"] for p in doomed}
            owned = [p for p in owned if p["metadata"]["uid"] not in gone]
        self._write_status(rs, owned)

    def _start_pod(self, rs: dict[str, Any]) -> dict[str, Any]:
        created = self._store.create("pods", pods.new_pod(rs))
        meta = created["metadata"]
        ready_now = self.ready_after <= 0
        status = pods.running_status(created, self._ips.allocate(), ready=ready_now)
        running = self._store.merge_patch(
            "pods", meta["namespace"], meta["name"], {"status": status}, subresource="status"
        )
        if not ready_now:
            loop = asyncio.get_running_loop()
            self._timers[meta["uid"]] = loop.call_later(
                self.ready_after, self._become_ready, meta["namespace"], meta["name"], meta["uid"]
            )
        return running

    def _become_ready(self, namespace: str, name: str, uid: str) -> None:
        self._timers.pop(uid, None)
        try:
            self.set_ready(namespace, name, True, uid=uid)
        except storage_mod.ApiError as exc:
            log.warning("pod %s/%s could not become ready: %s", namespace, name, exc.message)

    def set_ready(self, namespace: str, name: str, ready: bool, *, uid: str | None = None) -> bool:
        """Flip a pod's readiness (the kubelet's readiness probe); False when the pod is gone."""
        pod = self._store.get("pods", namespace, name)
        if pod is None or (uid is not None and pod["metadata"]["uid"] != uid):
            return False
        if not ready:
            timer = self._timers.pop(pod["metadata"]["uid"], None)
            if timer is not None:
                timer.cancel()
        status = pods.ready_status(pod.get("status") or {}, ready)
        self._store.merge_patch("pods", namespace, name, {"status": status}, subresource="status")
        return True

    def _write_status(self, rs: dict[str, Any], owned: list[dict[str, Any]]) -> None:
        spec = rs.get("spec") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        ready = sum(1 for p in owned if pods.is_ready(p))
        labelled = sum(1 for p in owned if selectors.labels_match_map(selector, p["metadata"].get("labels")))
        status = {
            "replicas": len(owned),
            "fullyLabeledReplicas": labelled,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        current = rs.get("status") or {}
        if any(current.get(k) != v for k, v in status.items()):
            meta = rs["metadata"]
            ns, name = meta["namespace"], meta["name"]
            self._store.merge_patch(RS, ns, name, {"status": status}, subresource="status")
