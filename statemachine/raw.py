"""Reading raw API dicts (the boundary) without trusting their shape: a wrong type reads as empty or default.

Room: plan (pure). The statemachine modules that work on raw ReplicaSets, pods and Rollouts share these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Raw", "integer", "mapping", "string"]

Raw = Mapping[str, Any]


def mapping(obj: Any, key: str) -> Raw:
    """`obj[key]` when both are mappings, else {}."""
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def string(obj: Any, key: str) -> str:
    """`obj[key]` when it is a string, else ""."""
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, str) else ""


def integer(obj: Any, key: str, default: int) -> int:
    """`obj[key]` when it is an int (not a bool), else `default`."""
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else default
