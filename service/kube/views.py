"""Read-only views over an informer cache: one namespace's objects by name, without copying the namespace.

Room: observe. A view reads the store on each access (it is as fresh as the cache) and hands out the store's
shared objects: never mutate them. Lookups are O(1); only iterating walks the namespace index.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from service.kube import caches, indexes

__all__ = ["ByName"]


class ByName(Mapping[str, caches.RawObject]):
    """`namespace`'s objects in `store` by name (what `{name: obj for obj in in_namespace(...)}` held)."""

    __slots__ = ("_namespace", "_store")

    def __init__(self, store: caches.Store, namespace: str) -> None:
        self._store = store
        self._namespace = namespace

    def _get(self, name: object) -> caches.RawObject | None:
        # an empty namespace holds nothing (as the namespace index): "/name" is never a key, nor is "ns/"
        if not isinstance(name, str) or not name or not self._namespace:
            return None
        return self._store.get(f"{self._namespace}/{name}")

    def __getitem__(self, name: str) -> caches.RawObject:
        found = self._get(name)
        if found is None:
            raise KeyError(name)
        return found

    def __contains__(self, name: object) -> bool:
        return self._get(name) is not None

    def _keys(self) -> set[caches.ObjectKey]:
        return self._store.index_keys(indexes.BY_NAMESPACE, self._namespace)

    def __iter__(self) -> Iterator[str]:
        prefix = len(self._namespace) + 1
        return iter([key[prefix:] for key in sorted(self._keys())])

    def __len__(self) -> int:
        return len(self._keys())

    def __repr__(self) -> str:
        return f"ByName({self._namespace!r}, {len(self)} objects)"
