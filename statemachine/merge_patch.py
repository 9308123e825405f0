"""The RFC 7386 JSON merge patch that turns one JSON object into another.

Room: plan (pure). One diff for every merge-patch body we write: the `/status` patch (`statemachine.status`)
and the Ingress patch (`service.alb.ingress_patch`). Only changed keys are sent, `None` (JSON null) deletes a
key, nested objects are diffed key by key and lists are replaced whole. Values are compared as JSON, so
`true` and `1` differ even though Python's `==` says they are equal. Never mutates its inputs; the patch may
share unchanged sub-objects with `new`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["diff"]


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def diff(old: Mapping[str, Any], new: Mapping[str, Any],
         keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The merge patch from `old` to `new`, restricted to `keys` at the top level (all keys when None).

    Keys come in the order of `keys`, else those of `old` then the new ones of `new`.
    """
    patch: dict[str, Any] = {}
    for key in keys if keys is not None else tuple(dict.fromkeys([*old, *new])):
        if key not in new:
            if key in old:
                patch[key] = None
        elif isinstance(new[key], dict) and isinstance(old.get(key), dict):
            sub = diff(old[key], new[key])
            if sub:
                patch[key] = sub
        elif key not in old or not _same(old[key], new[key]):
            patch[key] = new[key]
    return patch
