"""Garbage collector: deletes objects whose every ownerReference points at an owner that no longer exists.

Part of the sandbox cluster. Storage already cascades when an owner is deleted; this catches dependents
created after (or pointing at) an owner that is gone, as the real garbage collector does. It never deletes an
object with a live owner or with owners of kinds it cannot look up.
"""

from __future__ import annotations

from typing import Any

from sandbox.apiserver import storage as storage_mod

__all__ = ["GarbageCollector"]


class GarbageCollector:
    """Deletes orphaned dependents on sight."""

    def __init__(self, store: storage_mod.Storage) -> None:
        self._store = store

    def resync(self) -> None:
        for info in self._store.registry.all():
            for obj in self._store.list(info.key):
                self._check(info.key, obj)

    def on_event(self, event: storage_mod.WatchEvent) -> None:
        if event.type != "DELETED":
            self._check(event.resource, event.object)

    def _owner_alive(self, namespace: str | None, ref: dict[str, Any]) -> bool | None:
        """True/False when the owner can be looked up, None when its kind is not served."""
        group = str(ref.get("apiVersion", "")).rpartition("/")[0]
        info = next(
            (i for i in self._store.registry.all() if i.group == group and i.kind == ref.get("kind")), None
        )
        if info is None:
            return None
        # uid_of copies nothing: this runs for every event, and most owners are alive.
        uid = self._store.uid_of(info.key, namespace if info.namespaced else None, str(ref.get("name", "")))
        return uid is not None and uid == ref.get("uid")

    def _check(self, resource: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        refs = meta.get("ownerReferences") or []
        if not refs or meta.get("deletionTimestamp"):
            return
        alive = [self._owner_alive(meta.get("namespace"), ref) for ref in refs]
        if all(a is False for a in alive):
            self._store.delete(resource, meta.get("namespace"), meta["name"])
