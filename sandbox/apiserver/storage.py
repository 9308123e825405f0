"""In-memory object store of the API emulator, with the API server's write semantics and change notification.

Part of the sandbox API emulator. Every mutator is synchronous and runs on the one event loop; it never hands
out references to stored objects (callers get deep copies of what they asked for, and only of that) and never
does I/O. Stored dicts are never changed in place: a write stores a new dict, which lets the indexes
(`indexes.Indexes`, kept on the one write path `_put`/`_pop`) and watch events share them safely.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sandbox.apiserver import defaulting, errors, indexes, patching, resources, selectors, streams

__all__ = ["ApiError", "Storage", "Subscription", "WatchEvent"]

ApiError = errors.ApiError
Subscription = streams.Subscription
WatchEvent = streams.WatchEvent

_IMMUTABLE_META = ("uid", "creationTimestamp", "name", "namespace", "deletionTimestamp",
                   "deletionGracePeriodSeconds")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
Obj = dict[str, Any]
ObjList = list[dict[str, Any]]
EventList = list[streams.WatchEvent]
_copy = indexes.copy_json
Pairs = list[tuple[str, str]]  # (label, value) pairs a selector requires


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta


def _spec_part(obj: Obj, has_status: bool) -> Obj:
    skip = ("metadata", "status") if has_status else ("metadata",)
    return {k: v for k, v in obj.items() if k not in skip}


class Storage:
    """Objects by resource key ("pods", "rollouts.argoproj.io", ...) and (namespace, name)."""

    def __init__(self, *, history: int = 10_000, clock: Callable[[], datetime] | None = None) -> None:
        self.registry = resources.Registry()
        self.history = streams.History(history)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {}
        self._index = indexes.Indexes()
        self._rv = 0
        self._service_ips = 0
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create("namespaces", {"metadata": {"name": ns}})

    # ---- reads -------------------------------------------------------------------------------------------
    @property
    def resource_version(self) -> str:
        """The current global resourceVersion (what a LIST made now would report)."""
        return str(self._rv)

    def get(self, resource: str, namespace: str | None, name: str) -> Obj | None:
        """A deep copy of the object, or None."""
        obj = self.peek_one(resource, namespace, name)
        return _copy(obj) if obj is not None else None

    def list(self, resource: str, namespace: str | None = None, label_selector: str | None = None,
             field_selector: str | None = None) -> ObjList:
        """Deep copies of matching objects sorted by namespace and name; `namespace=None` means all."""
        info = self.registry.get(resource)
        by_label = selectors.label_matcher(label_selector)
        by_field = selectors.field_matcher(field_selector)
        pairs = selectors.equality_pairs(label_selector)
        found = self._candidates(info, namespace, pairs)
        return [_copy(o) for o in found if by_label(o) and by_field(o)]

    def peek(self, resource: str, namespace: str | None = None) -> ObjList:
        """The stored objects themselves (not copies), sorted: for in-process readers that scan many objects
        on every change (the LBC simulator, the traffic probe). Read only: never change or keep them."""
        return self._candidates(self.registry.get(resource), namespace, [])

    def peek_one(self, resource: str, namespace: str | None, name: str) -> Obj | None:
        """The stored object itself (not a copy), or None; read only, as `peek`."""
        info = self.registry.get(resource)
        return self._bucket(info).get(self._key(info, namespace, name))

    def peek_labelled(self, resource: str, namespace: str, label: str, value: str) -> ObjList:
        """The stored objects (not copies) of one namespace labelled `label=value`, sorted; read only."""
        return self._candidates(self.registry.get(resource), namespace, [(label, value)])

    def selected(self, resource: str, namespace: str, match_labels: Mapping[str, Any]) -> ObjList:
        """Deep copies of one namespace's objects whose labels include every pair of `match_labels` (an
        equality-map selector such as a Service's); an empty map selects nothing, as upstream."""
        # Values that are not strings are not indexed: those selectors fall back to the namespace's objects.
        pairs = [(str(k), v) for k, v in match_labels.items() if isinstance(v, str)]
        found = self._candidates(self.registry.get(resource), namespace, pairs) if match_labels else []
        return [_copy(o) for o in found
                if selectors.labels_match_map(match_labels, o["metadata"].get("labels"))]

    def owned(self, resource: str, owner_uid: str) -> ObjList:
        """Deep copies of the objects of `resource` with an ownerReference to `owner_uid`, sorted."""
        info = self.registry.get(resource)
        bucket = self._bucket(info)
        return [_copy(bucket[key]) for res, key in self._index.dependents(owner_uid)
                if res == info.key and key in bucket]

    def uid_of(self, resource: str, namespace: str | None, name: str) -> str | None:
        """The uid of a stored object, or None: an existence check that copies nothing."""
        obj = self.peek_one(resource, namespace, name)
        return None if obj is None else str(obj["metadata"]["uid"])

    def subscribe(self, resource: str | None = None) -> streams.Subscription:
        """Live events from now on for one resource key, or every resource when None."""
        if resource is not None:
            self.registry.get(resource)
        return self.history.subscribe(resource)

    def events_since(self, resource: str, resource_version: int) -> EventList:
        """Recorded events of `resource` after `resource_version`; 410 Expired if compacted away."""
        return self.history.since(resource, resource_version)

    def compact(self) -> None:
        """Drop the whole event history: watching from any older resourceVersion now gets 410."""
        self.history.compact(self._rv)

    # ---- writes ------------------------------------------------------------------------------------------
    def create(self, resource: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        """Store a new object (uid, creationTimestamp, resourceVersion, generation 1); 409 if it exists."""
        info = self.registry.get(resource)
        new = _copy(obj)
        meta = _meta(new)
        namespace = self._namespace_of(info, meta)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = str(meta["generateName"]) + "".join(random.choices(_NAME_CHARS, k=5))
        name = str(meta.get("name") or "")
        if not name:
            raise errors.invalid(
                info.group, info.kind, "", "metadata.name: Required value: name or generateName is required"
            )
        if namespace and self._bucket(self.registry.get("namespaces")).get(("", namespace)) is None:
            raise errors.not_found("", "namespaces", namespace)
        key = (namespace, name)
        if key in self._bucket(info):
            raise errors.already_exists(info.group, info.plural, name)
        new.setdefault("apiVersion", info.api_version())
        new["kind"] = info.kind
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "managedFields"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _timestamp(self._clock())
        meta["generation"] = 1
        if info.status:
            new.pop("status", None)
        defaulting.on_create(info.key, new, now=meta["creationTimestamp"], cluster_ip=self._cluster_ip)
        if info.key == "customresourcedefinitions.apiextensions.k8s.io":
            crd_info = resources.from_crd(new)
            if not dry_run:
                self.registry.register(crd_info)
        if dry_run:
            return new
        meta["resourceVersion"] = self._next_rv()
        self._put(info, key, new)
        self._emit("ADDED", info, new)
        return _copy(new)

    def replace(
        self, resource: str, obj: Obj, *, subresource: str | None = None, dry_run: bool = False
    ) -> Obj:
        """Full update (PUT); 409 Conflict when `metadata.resourceVersion` is stale."""
        info = self.registry.get(resource)
        incoming = _copy(obj)
        meta = _meta(incoming)
        namespace = self._namespace_of(info, meta)
        name = str(meta.get("name") or "")
        stored = self._stored(info, namespace, name)
        rv = meta.get("resourceVersion")
        if rv in (None, "") and info.custom:
            raise errors.invalid(
                info.group,
                info.kind,
                name,
                "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
            )
        if rv not in (None, "") and str(rv) != stored["metadata"]["resourceVersion"]:
            raise errors.conflict(info.group, info.plural, name)
        return self._update(info, stored, incoming, subresource, dry_run=dry_run)

    def patch(self, resource: str, namespace: str | None, name: str, patch: Any, *,
              content_type: str = patching.MERGE_PATCH, subresource: str | None = None,
              dry_run: bool = False) -> Obj:
        """PATCH by media type; a resourceVersion the patch sets is a precondition (409 when stale)."""
        info = self.registry.get(resource)
        stored = self._stored(info, namespace, name)
        if content_type == patching.STRATEGIC_PATCH and info.custom:
            raise errors.unsupported_media_type(content_type, patching.ACCEPTED_FOR_CUSTOM)
        patched = patching.apply_patch(_copy(stored), patch, content_type)
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch did not produce an object")
        rv = _meta(patched).get("resourceVersion")
        if rv not in (None, "") and str(rv) != stored["metadata"]["resourceVersion"]:
            raise errors.conflict(info.group, info.plural, name)
        return self._update(info, stored, patched, subresource, dry_run=dry_run)

    def merge_patch(
        self, resource: str, namespace: str | None, name: str, patch: Obj, *, subresource: str | None = None
    ) -> Obj:
        """RFC 7386 merge patch (see `patch`)."""
        return self.patch(
            resource, namespace, name, patch, content_type=patching.MERGE_PATCH, subresource=subresource
        )

    def delete(self, resource: str, namespace: str | None, name: str, *, resource_version: str | None = None,
               uid: str | None = None, propagation: str = "Background", dry_run: bool = False) -> Obj | None:
        """Delete (None when absent); finalizers only set deletionTimestamp; dependents are collected."""
        info = self.registry.get(resource)
        stored = self._bucket(info).get(self._key(info, namespace, name))
        if stored is None:
            return None
        meta = stored["metadata"]
        if resource_version is not None and resource_version != meta["resourceVersion"]:
            raise errors.conflict(
                info.group,
                info.plural,
                name,
                f"Precondition failed: ResourceVersion in precondition: {resource_version}, "
                f"ResourceVersion in object meta: {meta['resourceVersion']}",
            )
        if uid is not None and uid != meta["uid"]:
            raise errors.conflict(
                info.group,
                info.plural,
                name,
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta['uid']}",
            )
        if dry_run:
            return _copy(stored)
        if meta.get("finalizers"):
            if "deletionTimestamp" in meta:
                return _copy(stored)
            new = _copy(stored)
            new["metadata"]["deletionTimestamp"] = _timestamp(self._clock())
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["metadata"]["resourceVersion"] = self._next_rv()
            self._put(info, self._key(info, namespace, name), new)
            self._emit("MODIFIED", info, new, stored)
            return _copy(new)
        return self._remove(info, stored, propagation)

    # ---- internals ---------------------------------------------------------------------------------------
    def _bucket(self, info: resources.ResourceInfo) -> dict[tuple[str, str], Obj]:
        return self._objects.setdefault(info.key, {})

    def _candidates(self, info: resources.ResourceInfo, namespace: str | None, pairs: Pairs) -> ObjList:
        scoped = namespace if namespace is not None and info.namespaced else None
        return self._index.candidates(info.key, self._bucket(info), scoped, pairs)

    def _put(self, info: resources.ResourceInfo, key: tuple[str, str], obj: Obj) -> None:
        """Store `obj` under `key` (replacing what was there): the one write path, so indexes stay current."""
        bucket = self._bucket(info)
        old = bucket.get(key)
        if old is not None:
            self._index.remove(info.key, key, old)
        bucket[key] = obj
        self._index.add(info.key, key, obj)

    def _pop(self, info: resources.ResourceInfo, key: tuple[str, str]) -> None:
        old = self._bucket(info).pop(key, None)
        if old is not None:
            self._index.remove(info.key, key, old)

    @staticmethod
    def _key(info: resources.ResourceInfo, namespace: str | None, name: str) -> tuple[str, str]:
        return ((namespace or "default") if info.namespaced else "", name)

    @staticmethod
    def _namespace_of(info: resources.ResourceInfo, meta: Obj) -> str:
        if not info.namespaced:
            meta.pop("namespace", None)
            return ""
        meta["namespace"] = str(meta.get("namespace") or "default")
        return str(meta["namespace"])

    def _stored(self, info: resources.ResourceInfo, namespace: str | None, name: str) -> Obj:
        stored = self._bucket(info).get(self._key(info, namespace, name))
        if stored is None:
            raise errors.not_found(info.group, info.plural, name)
        return stored

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _emit(
        self, kind: streams.EventType, info: resources.ResourceInfo, obj: Obj, previous: Obj | None = None
    ) -> None:
        # `previous` is the replaced stored dict, which nothing mutates any more: no copy needed.
        self.history.record(streams.WatchEvent(kind, info.key, _copy(obj), previous))

    def _cluster_ip(self) -> str:
        self._service_ips += 1
        n = self._service_ips
        return f"10.96.{n // 254}.{n % 254 + 1}"

    def _update(self, info: resources.ResourceInfo, stored: Obj, incoming: Obj, subresource: str | None, *,
                dry_run: bool = False) -> Obj:
        if subresource == "status" and info.status:
            new = _copy(stored)
            if "status" in incoming:
                new["status"] = incoming["status"]
            else:
                new.pop("status", None)
        elif subresource is None:
            new = incoming
            meta = _meta(new)
            for field in _IMMUTABLE_META:
                if field in stored["metadata"]:
                    meta[field] = stored["metadata"][field]
                else:
                    meta.pop(field, None)
            new["apiVersion"] = new.get("apiVersion") or stored.get("apiVersion")
            new["kind"] = stored["kind"]
            if info.status:
                if "status" in stored:
                    new["status"] = stored["status"]
                else:
                    new.pop("status", None)
        else:
            raise errors.ApiError(
                404, "NotFound", f"the server could not find the requested resource ({subresource})"
            )
        defaulting.on_update(info.key, new, stored)
        new_meta = _meta(new)
        new_meta["resourceVersion"] = stored["metadata"]["resourceVersion"]
        new_meta["generation"] = stored["metadata"].get("generation", 1)
        new_meta.pop("managedFields", None)
        if _spec_part(new, info.status) != _spec_part(stored, info.status):
            new_meta["generation"] += 1
        if dry_run:
            return _copy(new)
        if new_meta.get("deletionTimestamp") and not new_meta.get("finalizers"):
            return self._remove(info, new, "Background")
        if new == stored:
            return _copy(stored)
        new_meta["resourceVersion"] = self._next_rv()
        self._put(info, self._key(info, new_meta.get("namespace"), new_meta["name"]), new)
        if info.key == "customresourcedefinitions.apiextensions.k8s.io":
            self.registry.register(resources.from_crd(new))
        self._emit("MODIFIED", info, new, stored)
        return _copy(new)

    def _remove(self, info: resources.ResourceInfo, obj: Obj, propagation: str) -> Obj:
        meta = obj["metadata"]
        if info.key == "namespaces":
            for other in self.registry.all():
                if other.namespaced:
                    for dependent in list(self._index.in_namespace(other.key, meta["name"]).values()):
                        self._remove(other, dependent, "Background")
        if info.key == "customresourcedefinitions.apiextensions.k8s.io":
            crd_info = resources.from_crd(obj)
            for dependent in list(self._bucket(crd_info).values()):
                self._remove(crd_info, dependent, "Background")
            self.registry.unregister(crd_info.key)
        removed = _copy(obj)
        self._pop(info, self._key(info, meta.get("namespace"), meta["name"]))
        removed["metadata"]["resourceVersion"] = self._next_rv()
        self._emit("DELETED", info, removed)
        self.collect_dependents(str(meta["uid"]), orphan=propagation == "Orphan")
        return _copy(removed)

    def collect_dependents(self, owner_uid: str, *, orphan: bool = False) -> None:
        """Garbage-collect (or orphan) objects owned by a removed owner, unless another owner still lives."""
        # The owner index names the dependents; resources in registry order, as a scan would meet them.
        order = {info.key: n for n, info in enumerate(self.registry.all())}
        found = [(order[res], res, key) for res, key in self._index.dependents(owner_uid) if res in order]
        for _, res, key in sorted(found):
            other = self.registry.get(res)
            dependent = self._bucket(other).get(key)
            if dependent is None:  # gone meanwhile (a cascade from an earlier dependent)
                continue
            refs = dependent["metadata"].get("ownerReferences") or []
            if orphan:
                kept = [r for r in refs if r.get("uid") != owner_uid]
                patched = _copy(dependent)
                patched["metadata"]["ownerReferences"] = kept
                self._update(other, dependent, patched, None)
            elif not any(self._index.is_live(str(r.get("uid"))) for r in refs if r.get("uid") != owner_uid):
                dmeta = dependent["metadata"]
                self.delete(other.key, dmeta.get("namespace"), dmeta["name"])
