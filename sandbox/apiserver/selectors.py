"""Label and field selectors, parsed the way the API server parses the `labelSelector`/`fieldSelector` query.

Part of the sandbox API emulator; pure functions, no storage access.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from sandbox.apiserver import errors

__all__ = [
    "Matcher",
    "equality_pairs",
    "field_matcher",
    "field_value",
    "label_matcher",
    "labels_match_map",
]

Matcher = Callable[[dict[str, Any]], bool]

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_CMP_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*([-A-Za-z0-9_.]*)\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


def _split(selector: str) -> list[str]:
    """Split on commas that are not inside a set's parentheses."""
    parts: list[str] = []
    depth = 0
    current = ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p for p in parts if p.strip()]


def _requirement(text: str) -> Callable[[Mapping[str, str]], bool]:
    if m := _SET_RE.match(text):
        key, op, raw = m.group(1), m.group(2), m.group(3)
        values = {v.strip() for v in raw.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m := _CMP_RE.match(text):
        key, op, value = m.group(1), m.group(2), m.group(3)
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if m := _EXISTS_RE.match(text):
        negated, key = m.group(1) == "!", m.group(2)
        if negated:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise errors.bad_request(f"unable to parse requirement: {text.strip()!r}")


def label_matcher(selector: str | None) -> Matcher:
    """A predicate over whole objects for a label selector string; 400 when it does not parse."""
    if not selector or not selector.strip():
        return lambda obj: True
    requirements = [_requirement(part) for part in _split(selector)]

    def match(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(req(labels) for req in requirements)

    return match


def equality_pairs(selector: str | None) -> list[tuple[str, str]]:
    """The (label, value) pairs a selector requires outright (`a=b`, `a==b`, `a in (b)`), for index lookups.

    Matching still goes through `label_matcher`: these only narrow the candidates. A selector that does not
    parse yields no pairs here; `label_matcher` reports it.
    """
    if not selector or not selector.strip():
        return []
    pairs: list[tuple[str, str]] = []
    for part in _split(selector):
        if (m := _CMP_RE.match(part)) and m.group(2) != "!=":
            pairs.append((m.group(1), m.group(3)))
        elif (m := _SET_RE.match(part)) and m.group(2) == "in":
            values = {v.strip() for v in m.group(3).split(",") if v.strip()}
            if len(values) == 1:
                pairs.append((m.group(1), values.pop()))
    return pairs


def field_value(obj: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted path ("spec.replicas", or ".spec.replicas" as JSONPath-ish columns write it)."""
    value: Any = obj
    for part in dotted.strip(".").split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _field(obj: dict[str, Any], path: str) -> str:
    value = field_value(obj, path)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_matcher(selector: str | None) -> Matcher:
    """A predicate for a field selector (`a.b=x`, `a.b==x`, `a.b!=x`, comma-joined); 400 when malformed."""
    if not selector or not selector.strip():
        return lambda obj: True
    terms: list[tuple[str, bool, str]] = []
    for part in selector.split(","):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if m is None:
            raise errors.bad_request(f"invalid selector: '{selector}'; can't understand '{part}'")
        terms.append((m.group(1), m.group(2) != "!=", m.group(3)))

    def match(obj: dict[str, Any]) -> bool:
        return all((_field(obj, path) == value) == equal for path, equal, value in terms)

    return match


def labels_match_map(selector: Mapping[str, str], labels: Mapping[str, str] | None) -> bool:
    """Equality-map selector (Service `spec.selector`, ReplicaSet `matchLabels`); empty selects nothing."""
    if not selector:
        return False
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())
