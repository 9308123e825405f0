"""The scale subresource (`.../scale`, autoscaling/v1 Scale) used by `kubectl scale` and autoscalers.

Part of the sandbox API emulator; it maps Scale reads and writes onto the owning object through storage and
never stores a Scale itself.
"""

from __future__ import annotations

from typing import Any

from sandbox.apiserver import errors, patching, routing, selectors, storage

__all__ = ["read_scale", "write_scale"]

Obj = dict[str, Any]


def _nested(dotted: str, value: Any) -> Obj:
    parts = dotted.strip(".").split(".")
    doc: Obj = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        doc = {part: doc}
    return doc


def _scale(route: routing.Route, obj: Obj) -> Obj:
    assert route.info.scale is not None
    spec_path, status_path, selector_path = route.info.scale
    meta = obj["metadata"]
    selector = selectors.field_value(obj, selector_path) if selector_path else None
    if selector is None and not route.info.custom:
        labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    status: Obj = {"replicas": int(selectors.field_value(obj, status_path) or 0)}
    if selector:
        status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": int(selectors.field_value(obj, spec_path) or 0)},
        "status": status,
    }


def _current(route: routing.Route, store: storage.Storage) -> Obj:
    assert route.name is not None
    obj = store.get(route.info.key, route.namespace, route.name)
    if obj is None:
        raise errors.not_found(route.info.group, route.info.plural, route.name)
    return obj


def read_scale(route: routing.Route, store: storage.Storage) -> Obj:
    """GET .../scale."""
    return _scale(route, _current(route, store))


def write_scale(
    route: routing.Route, store: storage.Storage, body: Any, content_type: str | None, *, dry_run: bool
) -> Obj:
    """PUT (no content_type) or PATCH .../scale: set the replicas; an RV in the body is a precondition."""
    assert route.info.scale is not None and route.name is not None
    obj = _current(route, store)
    scale = _scale(route, obj)
    desired = patching.apply_patch(scale, body, content_type) if content_type else body
    if not isinstance(desired, dict):
        raise errors.bad_request("the body of the request must be a Scale object")
    rv = (desired.get("metadata") or {}).get("resourceVersion")
    if rv not in (None, "") and str(rv) != obj["metadata"]["resourceVersion"]:
        raise errors.conflict(route.info.group, route.info.plural, route.name)
    replicas = (desired.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.invalid(
            "autoscaling", "Scale", route.name, f"spec.replicas: Invalid value: {replicas!r}: must be >= 0"
        )
    updated = store.patch(
        route.info.key, route.namespace, route.name, _nested(route.info.scale[0], replicas),
        content_type=patching.MERGE_PATCH, dry_run=dry_run,
    )
    return _scale(route, updated)
