"""The shared `managed-alb-annotations` bookkeeping annotation (apply room, pure).

Parses, updates and re-serialises the JSON map rollout name -> managed keys exactly as the reference does
(reference §1.4), keeping every other rollout's entry. Never does I/O and never guesses at a value it cannot
parse: the caller must refuse to write instead (SPEC §5).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from service.alb import gojson

__all__ = [
    "KEY",
    "LEGACY_KEY",
    "BookkeepingError",
    "Managed",
    "add",
    "drop",
    "keys_of",
    "parse",
    "remove",
    "serialise",
]

KEY = "rollouts.argoproj.io/managed-alb-annotations"
LEGACY_KEY = "rollouts.argoproj.io/managed-alb-actions"

# None is an entry Go decoded from JSON `null` (a nil slice): it is written back as `null`, as Go does.
Managed = dict[str, list[str] | None]
_GO_TYPE = "map[string][]string"


class BookkeepingError(ValueError):
    """The annotation cannot be read as Go's map[string][]string; `str()` is Go's error text."""


def _kind(value: Any) -> str:
    """Go's name for a JSON value in an UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_error(value: Any, go_type: str) -> BookkeepingError:
    return BookkeepingError(f"json: cannot unmarshal {_kind(value)} into Go value of type {go_type}")


def parse(value: str | None) -> Managed:
    """The map held by the annotation; empty or missing means `{}`; invalid raises with Go's error text."""
    if not value:
        return {}
    try:
        decoded = gojson.loads(value)
    except gojson.GoJSONError as error:
        raise BookkeepingError(str(error)) from None
    if decoded is None:
        return {}
    if not isinstance(decoded, dict):
        raise _type_error(decoded, _GO_TYPE)
    managed: Managed = {}
    first_error: BookkeepingError | None = None
    # Go keeps decoding after a type error and reports the first one; the result is discarded anyway.
    for name, keys in decoded.items():
        if keys is None:
            managed[name] = None
            continue
        if not isinstance(keys, list):
            first_error = first_error or _type_error(keys, "[]string")
            continue
        entry: list[str] = []
        for key in keys:
            if key is None:
                entry.append("")
            elif isinstance(key, str):
                entry.append(key)
            else:
                first_error = first_error or _type_error(key, "string")
        managed[name] = entry
    if first_error is not None:
        raise first_error
    return managed


def _copy(managed: Mapping[str, Iterable[str] | None]) -> Managed:
    return {name: None if entry is None else list(entry) for name, entry in managed.items()}


def keys_of(managed: Mapping[str, Iterable[str] | None], rollout: str) -> list[str]:
    """The keys the rollout manages (none when it has no entry or a `null` one)."""
    return list(managed.get(rollout) or [])


def serialise(managed: Mapping[str, Iterable[str] | None]) -> str:
    """Go-JSON of the map: rollout names sorted, each list in its own order, `null` entries kept."""
    return gojson.dumps(_copy({name: managed[name] for name in sorted(managed)}))


def add(managed: Mapping[str, Iterable[str] | None], rollout: str, keys: Iterable[str]) -> Managed:
    """A copy with `keys` appended to the rollout's list where missing (the entry exists afterwards)."""
    result = _copy(managed)
    entry = keys_of(result, rollout)
    for key in keys:
        if key not in entry:
            entry.append(key)
    result[rollout] = entry
    return result


def remove(managed: Mapping[str, Iterable[str] | None], rollout: str, keys: Iterable[str]) -> Managed:
    """A copy without `keys` in the rollout's list; like the reference, the (maybe empty) entry stays."""
    result = _copy(managed)
    gone = set(keys)
    result[rollout] = [key for key in keys_of(result, rollout) if key not in gone]
    return result


def drop(managed: Mapping[str, Iterable[str] | None], rollout: str) -> Managed:
    """A copy without the rollout's entry (used once the rollout is deleted)."""
    return _copy({name: entry for name, entry in managed.items() if name != rollout})
