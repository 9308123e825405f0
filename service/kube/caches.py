"""The informer cache: the newest copy of each watched object by "namespace/name", with named indexes.

Room: observe. Written only by one reflector (service.kube.watching); read by handlers and reconcilers.
Objects handed out are shared and read-only: build new dicts, never mutate what `get`/`list` return. The store
does no I/O and never blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NewType

__all__ = [
    "ADDED",
    "DELETED",
    "MODIFIED",
    "Change",
    "EventType",
    "IndexFunc",
    "ObjectKey",
    "RawObject",
    "Store",
    "object_key",
    "resource_version_of",
    "trimmed",
    "uid_of",
]

RawObject = dict[str, Any]
"""An object as the API serves it (parsed JSON)."""
ObjectKey = NewType("ObjectKey", str)
"""`namespace/name`, or `name` for a cluster-scoped object (client-go's MetaNamespaceKeyFunc)."""
IndexFunc = Callable[[RawObject], Iterable[str]]
"""Maps an object to the index values it is filed under; it must not raise on odd objects."""
EventType = Literal["ADDED", "MODIFIED", "DELETED"]

ADDED: EventType = "ADDED"
MODIFIED: EventType = "MODIFIED"
DELETED: EventType = "DELETED"


@dataclass(frozen=True, slots=True)
class Change:
    """What one write did to the store: `old` is None for ADDED, `new` is None for DELETED."""

    type: EventType
    old: RawObject | None
    new: RawObject | None


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def object_key(obj: Mapping[str, Any]) -> ObjectKey:
    """The cache key of an object; a KeyError when it has no name."""
    meta = _metadata(obj)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise KeyError("object has no metadata.name")
    namespace = meta.get("namespace")
    return ObjectKey(f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name)


def resource_version_of(obj: Mapping[str, Any]) -> str:
    """`metadata.resourceVersion`, or "" when absent."""
    value = _metadata(obj).get("resourceVersion")
    return value if isinstance(value, str) else ""


def uid_of(obj: Mapping[str, Any]) -> str:
    """`metadata.uid`, or "" when absent."""
    value = _metadata(obj).get("uid")
    return value if isinstance(value, str) else ""


def trimmed(obj: RawObject) -> RawObject:
    """A shallow copy without `metadata.managedFields` (often the largest part, and never read by us)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


_Objects = list[RawObject]
_Keys = list[ObjectKey]
_Changes = list[Change]
_Values = list[str]


class Store:
    """Objects by key plus named indexes (index name → value → keys), kept in step on every write."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._objects: dict[ObjectKey, RawObject] = {}
        self._indexers: dict[str, IndexFunc] = dict(indexers or {})
        self._indexes: dict[str, dict[str, set[ObjectKey]]] = {name: {} for name in self._indexers}

    # ---- reads -------------------------------------------------------------------------------------------
    def get(self, key: str) -> RawObject | None:
        """The cached object (read-only), or None."""
        return self._objects.get(ObjectKey(key))

    def list(self) -> _Objects:
        """Every cached object (read-only), in key order."""
        return [self._objects[key] for key in sorted(self._objects)]

    def keys(self) -> _Keys:
        """Every cached key, sorted."""
        return sorted(self._objects)

    def by_index(self, index: str, value: str) -> _Objects:
        """The objects filed under `value` in the named index, in key order; KeyError for an unknown index."""
        return [self._objects[key] for key in sorted(self.index_keys(index, value))]

    def index_keys(self, index: str, value: str) -> set[ObjectKey]:
        """The keys filed under `value` in the named index (a copy); KeyError for an unknown index."""
        return set(self._indexes[index].get(value, ()))

    def index_values(self, index: str) -> _Values:
        """Every value the named index holds, sorted; KeyError for an unknown index."""
        return sorted(self._indexes[index])

    def __len__(self) -> int:
        return len(self._objects)

    def __contains__(self, key: object) -> bool:
        return key in self._objects

    def __iter__(self) -> Iterator[ObjectKey]:
        return iter(sorted(self._objects))

    # ---- writes (the reflector's) ------------------------------------------------------------------------
    def upsert(self, obj: RawObject) -> Change:
        """Insert or replace an object (trimmed); the change is ADDED or MODIFIED by what was cached."""
        new = trimmed(obj)
        key = object_key(new)
        old = self._objects.get(key)
        if old is not None:
            self._unindex(key, old)
        self._objects[key] = new
        self._index(key, new)
        return Change(ADDED if old is None else MODIFIED, old, new)

    def remove(self, key: str) -> RawObject | None:
        """Drop an object; returns what was cached, or None."""
        old = self._objects.pop(ObjectKey(key), None)
        if old is not None:
            self._unindex(ObjectKey(key), old)
        return old

    def replace(self, objs: Iterable[RawObject]) -> _Changes:
        """Make the store hold exactly `objs` (a fresh LIST) and return the changes that implies.

        Unchanged objects (same uid and resourceVersion) yield nothing; a recreated object (new uid) yields
        DELETED then ADDED; objects gone from the list yield DELETED with their last cached state.
        """
        fresh: dict[ObjectKey, RawObject] = {}
        for obj in objs:
            new = trimmed(obj)
            fresh[object_key(new)] = new
        changes: _Changes = []
        for key in sorted(set(self._objects) - set(fresh)):
            changes.append(Change(DELETED, self.remove(key), None))
        for key, new in sorted(fresh.items()):
            old = self._objects.get(key)
            if old is not None and uid_of(old) == uid_of(new):
                if resource_version_of(old) == resource_version_of(new):
                    continue
                changes.append(self.upsert(new))
                continue
            if old is not None:
                changes.append(Change(DELETED, self.remove(key), None))
            changes.append(self.upsert(new))
        return changes

    # ---- indexes -----------------------------------------------------------------------------------------
    def _index(self, key: ObjectKey, obj: RawObject) -> None:
        for name, func in self._indexers.items():
            index = self._indexes[name]
            for value in set(func(obj)):
                index.setdefault(value, set()).add(key)

    def _unindex(self, key: ObjectKey, obj: RawObject) -> None:
        for name, func in self._indexers.items():
            index = self._indexes[name]
            for value in set(func(obj)):
                keys = index.get(value)
                if keys is None:
                    continue
                keys.discard(key)
                if not keys:
                    del index[value]
