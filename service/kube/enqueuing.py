"""Watch handlers that turn a change to any watched object into the keys of the Rollouts it concerns.

Room: observe → queue. Each handler looks at the old and the new object (a change can move an object from one
Rollout to another), resolves Rollouts through the Rollout cache's indexes, and calls `enqueue` once per key.
It never reads the API, never decides anything about a Rollout, and never raises on an odd object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from service.kube import caches, indexes

__all__ = ["Enqueue", "Fanout"]

Enqueue = Callable[[str], None]
"""The queue's `add`: takes a Rollout key ("namespace/name")."""
_ROLLOUT_GROUP = "argoproj.io/"


def _both(old: caches.RawObject | None, new: caches.RawObject | None) -> list[caches.RawObject]:
    return [o for o in (old, new) if o is not None]


def _rollout_owners(obj: caches.RawObject) -> list[str]:
    """Keys of the Rollouts named in an object's ownerReferences (same namespace, by definition)."""
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return []
    refs = meta.get("ownerReferences")
    namespace = meta.get("namespace")
    if not isinstance(refs, list) or not isinstance(namespace, str):
        return []
    keys = []
    for ref in refs:
        if not isinstance(ref, Mapping):
            continue
        api_version, name = ref.get("apiVersion"), ref.get("name")
        if (
            ref.get("kind") == "Rollout"
            and isinstance(api_version, str)
            and api_version.startswith(_ROLLOUT_GROUP)
            and isinstance(name, str)
            and name
        ):
            keys.append(f"{namespace}/{name}")
    return keys


def _generation(obj: caches.RawObject) -> object:
    meta = obj.get("metadata")
    return meta.get("generation") if isinstance(meta, Mapping) else None


class Fanout:
    """One handler per watched resource, all feeding `enqueue` with Rollout keys from the `rollouts` cache."""

    def __init__(self, rollouts: caches.Store, enqueue: Enqueue) -> None:
        self._rollouts = rollouts
        self._enqueue = enqueue

    def _send(self, keys: Iterable[str]) -> None:
        for key in sorted(set(keys)):
            self._enqueue(key)

    def _by(self, index: str, values: Iterable[str]) -> list[str]:
        return [key for value in set(values) for key in self._rollouts.index_keys(index, value)]

    def on_rollout(self, event_type: str, old: caches.RawObject | None, new: caches.RawObject | None) -> None:
        """A Rollout changed: itself."""
        self._send(self._own_keys(old, new))

    def on_ingress(self, event_type: str, old: caches.RawObject | None, new: caches.RawObject | None) -> None:
        """An Ingress changed: the Rollouts routing through it."""
        self._send(self._by(indexes.BY_INGRESS, self._own_keys(old, new)))

    def on_service(self, event_type: str, old: caches.RawObject | None, new: caches.RawObject | None) -> None:
        """A Service changed: the Rollouts naming it (canary, stable, root, ping, pong)."""
        self._send(self._by(indexes.BY_SERVICE, self._own_keys(old, new)))

    def on_endpoint_slice(
        self, event_type: str, old: caches.RawObject | None, new: caches.RawObject | None
    ) -> None:
        """An EndpointSlice changed: the Rollouts naming its Service."""
        services = [s for obj in _both(old, new) for s in indexes.endpoint_slice_services(obj)]
        self._send(self._by(indexes.BY_SERVICE, services))

    def on_target_group_binding(
        self, event_type: str, old: caches.RawObject | None, new: caches.RawObject | None
    ) -> None:
        """A TargetGroupBinding changed: the Rollouts naming the Service it registers."""
        services = [s for obj in _both(old, new) for s in indexes.target_group_binding_services(obj)]
        self._send(self._by(indexes.BY_SERVICE, services))

    def on_replica_set(
        self, event_type: str, old: caches.RawObject | None, new: caches.RawObject | None
    ) -> None:
        """A ReplicaSet changed: the Rollout owning it (the reconciler checks the owner's uid)."""
        self._send(key for obj in _both(old, new) for key in _rollout_owners(obj))

    def on_deployment(
        self, event_type: str, old: caches.RawObject | None, new: caches.RawObject | None
    ) -> None:
        """A Deployment was added, deleted or its spec changed (a new generation): the Rollouts whose
        workloadRef names it. Status-only changes concern no Rollout."""
        if old is not None and new is not None and _generation(old) == _generation(new):
            return
        self._send(self._by(indexes.BY_WORKLOAD, self._own_keys(old, new)))

    @staticmethod
    def _own_keys(old: caches.RawObject | None, new: caches.RawObject | None) -> list[str]:
        keys: list[str] = []
        for obj in _both(old, new):
            try:
                keys.append(caches.object_key(obj))
            except KeyError:
                continue
        return keys
