"""Patch algorithms: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

Part of the sandbox API emulator; pure functions over plain JSON values, they never touch storage.
"""

from __future__ import annotations

from typing import Any

from sandbox.apiserver import errors
from sandbox.apiserver.indexes import copy_json

__all__ = [
    "ACCEPTED_FOR_CUSTOM",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_PATCH",
    "apply_patch",
    "json_patch",
    "merge_patch",
    "strategic_merge",
]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
ACCEPTED_FOR_CUSTOM = (
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
)
_NOT_A_MAP = "json: cannot unmarshal array into Go value of type map[string]interface {}"

# patchMergeKey of the list fields of the built-in kinds we serve, keyed by field name.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}
# Lists of scalars that strategic merge unions instead of replacing.
_MERGED_SCALAR_LISTS = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge, `null` deletes, everything else (lists included) replaces."""
    if not isinstance(patch, dict):
        return copy_json(patch)
    return _merge_into(copy_json(target) if isinstance(target, dict) else {}, patch)


def _merge_into(result: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge `patch` into `result`, a copy of our own (the target is copied once, not once per level)."""
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            result[key] = _merge_into(current if isinstance(current, dict) else {}, value)
        else:
            result[key] = copy_json(value)
    return result


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise errors.bad_request(f"invalid JSON pointer: {path!r}")
    return [_unescape(t) for t in path.split("/")[1:]] if path else []


def _missing(path: str) -> errors.ApiError:
    return errors.ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                           f"jsonpatch: path {path} does not exist")


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise _missing(path)
    return node


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens, path), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise _missing(path)


def _remove(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise errors.bad_request("jsonpatch: cannot remove the document root")
    parent, last = _parent(doc, tokens, path), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise _missing(path)


def _add(doc: Any, path: str, value: Any, *, replace: bool = False) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent, last = _parent(doc, tokens, path), tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _missing(path)
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = value
            else:
                parent.insert(int(last), value)
        else:
            raise _missing(path)
    else:
        raise _missing(path)
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 on a copy of `target`: 400 for a malformed patch, 422 when an operation cannot apply."""
    if not isinstance(operations, list):
        raise errors.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy_json(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise errors.bad_request(f"invalid JSON patch operation: {op!r}")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise errors.bad_request(f"jsonpatch {kind} operation does not apply: doc is missing value")
        if kind == "add":
            doc = _add(doc, path, copy_json(op["value"]))
        elif kind == "replace":
            doc = _add(doc, path, copy_json(op["value"]), replace=True)
        elif kind == "remove":
            _remove(doc, path)
        elif kind in ("move", "copy"):
            value = _get(doc, op.get("from", ""))
            if kind == "move":
                _remove(doc, op["from"])
            doc = _add(doc, path, copy_json(value))
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise errors.ApiError(422, "Invalid", f"testing value {path} failed")
        else:
            raise errors.bad_request(f"Unexpected kind: {kind}")
    return doc


def _merge_key(field: str, path: tuple[str, ...]) -> str | None:
    if field == "ports":
        if path and path[-1] in ("containers", "initContainers", "ephemeralContainers"):
            return "containerPort"
        return "port" if path == ("spec",) else None
    return _MERGE_KEYS.get(field)


def _merge_list(field: str, original: Any, patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    """`original` is already a copy of our own (from `_strategic`): merged in place."""
    key = _merge_key(field, path)
    current = original if isinstance(original, list) else []
    if key is None:
        if field in _MERGED_SCALAR_LISTS:
            return current + [v for v in patch if v not in current]
        return copy_json(patch)
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [copy_json(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise errors.bad_request(f"map: {item!r} does not contain declared merge key: {key}")
        index = next(
            (i for i, c in enumerate(current) if isinstance(c, dict) and c.get(key) == item[key]), None
        )
        if item.get("$patch") == "delete":
            if index is not None:
                current.pop(index)
        elif index is None:
            current.append(_strategic(None, item, (*path, field)))
        else:
            current[index] = _strategic(current[index], item, (*path, field), owned=True)
    return current


def _strategic(original: Any, patch: dict[str, Any], path: tuple[str, ...], *, owned: bool = False) -> Any:
    """`owned`: `original` is already a copy of our own (a part of an outer result), changed in place."""
    if patch.get("$patch") == "replace":
        return {k: copy_json(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = (original if owned else copy_json(original)) if isinstance(original, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [v for v in result.get(name) or [] if v not in (value or [])]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = _strategic(result.get(key), value, (*path, key), owned=True)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value, path)
        else:
            result[key] = copy_json(value)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def strategic_merge(target: Any, patch: Any) -> Any:
    """Strategic merge patch for built-in kinds: lists with a patchMergeKey merge item by item."""
    if not isinstance(patch, dict):
        raise errors.bad_request(_NOT_A_MAP)
    return _strategic(target, patch, ())


def apply_patch(target: dict[str, Any], patch: Any, content_type: str) -> Any:
    """Dispatch on the PATCH Content-Type (media type only); 415 for anything else."""
    if content_type == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise errors.bad_request(_NOT_A_MAP)
        return merge_patch(target, patch)
    if content_type == JSON_PATCH:
        return json_patch(target, patch)
    if content_type == STRATEGIC_PATCH:
        return strategic_merge(target, patch)
    raise errors.unsupported_media_type(content_type, ACCEPTED_FOR_CUSTOM)
