"""Secondary indexes of the emulator's storage: objects by namespace, by label pair, by uid and by owner uid.

Part of the sandbox API emulator. Storage keeps these current on its one write path (`add` before an object
is visible, `remove` when it goes), so reads that would otherwise scan a whole resource (a namespace's
objects, an equality label selector, an owner's dependents) touch only what they return. The indexes hold
references to the stored dicts, which storage never mutates in place, and never hand them out.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar, cast

__all__ = ["Indexes", "Key", "copy_json"]

_T = TypeVar("_T")
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped kinds
Obj = dict[str, Any]


def copy_json(value: _T) -> _T:
    """A deep copy of a JSON value, about twice as fast as `copy.deepcopy` (no memo): stored objects are JSON
    (dicts, lists, immutable scalars); anything else still goes through `copy.deepcopy`."""
    return cast(_T, _clone(value))


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return copy.deepcopy(value)


def _labels(obj: Obj) -> list[tuple[str, str]]:
    labels = (obj.get("metadata") or {}).get("labels")
    if not isinstance(labels, dict):
        return []
    # Only string values can equal a selector's value, so only they are worth indexing.
    return [(str(k), v) for k, v in labels.items() if isinstance(v, str)]


def _owner_uids(obj: Obj) -> set[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences")
    if not isinstance(refs, list):
        return set()
    return {str(r["uid"]) for r in refs if isinstance(r, dict) and r.get("uid")}


class Indexes:
    """The secondary indexes of every resource of one Storage."""

    def __init__(self) -> None:
        self._by_ns: dict[str, dict[str, dict[str, Obj]]] = {}
        self._by_label: dict[str, dict[tuple[str, str], set[Key]]] = {}
        self._uids: dict[str, tuple[str, Key]] = {}
        self._owned: dict[str, set[tuple[str, Key]]] = {}

    def add(self, resource: str, key: Key, obj: Obj) -> None:
        """Index a stored object (call `remove` with the object it replaces first)."""
        self._by_ns.setdefault(resource, {}).setdefault(key[0], {})[key[1]] = obj
        labels = self._by_label.setdefault(resource, {})
        for pair in _labels(obj):
            labels.setdefault(pair, set()).add(key)
        uid = (obj.get("metadata") or {}).get("uid")
        if uid:
            self._uids[str(uid)] = (resource, key)
        for owner in _owner_uids(obj):
            self._owned.setdefault(owner, set()).add((resource, key))

    def remove(self, resource: str, key: Key, obj: Obj) -> None:
        """Forget an object that is no longer stored (or is about to be replaced)."""
        names = self._by_ns.get(resource, {}).get(key[0])
        if names is not None:
            names.pop(key[1], None)
            if not names:
                del self._by_ns[resource][key[0]]
        labels = self._by_label.get(resource, {})
        for pair in _labels(obj):
            keys = labels.get(pair)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del labels[pair]
        uid = (obj.get("metadata") or {}).get("uid")
        if uid and self._uids.get(str(uid)) == (resource, key):
            del self._uids[str(uid)]
        for owner in _owner_uids(obj):
            owned = self._owned.get(owner)
            if owned is not None:
                owned.discard((resource, key))
                if not owned:
                    del self._owned[owner]

    def in_namespace(self, resource: str, namespace: str) -> dict[str, Obj]:
        """The stored objects of one namespace by name (a live view: copy before changing the store)."""
        return self._by_ns.get(resource, {}).get(namespace, {})

    def labelled(self, resource: str, pairs: list[tuple[str, str]]) -> set[Key]:
        """Keys of the objects carrying every (label, value) pair; `pairs` must not be empty."""
        labels = self._by_label.get(resource, {})
        sets = sorted((labels.get(pair, set()) for pair in pairs), key=len)
        return set(sets[0]).intersection(*sets[1:])

    def candidates(
        self, resource: str, bucket: dict[Key, Obj], namespace: str | None, pairs: list[tuple[str, str]]
    ) -> list[Obj]:
        """Stored objects (not copies) that may match, sorted by key: by label pairs when a selector requires
        some, else by namespace (None: all). The caller still applies the whole selector."""
        if pairs:
            keys = self.labelled(resource, pairs)
            keys = {k for k in keys if namespace is None or k[0] == namespace}
            return [bucket[k] for k in sorted(keys) if k in bucket]
        if namespace is not None:
            names = self.in_namespace(resource, namespace)
            return [names[n] for n in sorted(names)]
        return [bucket[k] for k in sorted(bucket)]

    def is_live(self, uid: str) -> bool:
        """Whether any stored object has this uid."""
        return uid in self._uids

    def dependents(self, owner_uid: str) -> list[tuple[str, Key]]:
        """(resource, key) of every object with an ownerReference to `owner_uid`, sorted."""
        return sorted(self._owned.get(owner_uid, ()))
