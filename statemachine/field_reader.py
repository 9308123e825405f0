"""Reading a raw Rollout strictly: typed access to its nested dicts; a wrong shape raises `InvalidSpec`.

Room: plan (pure). The error names the dotted path of the field at fault, as apimachinery's field errors do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statemachine import models
from statemachine.go_text import field_error

__all__ = ["FieldReader"]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class FieldReader:
    """Typed access to a nested dict that reports the dotted path of whatever is wrong."""

    def __init__(self, rollout_name: str) -> None:
        self.rollout_name = rollout_name

    def fail(self, path: str, value: Any, detail: str) -> models.InvalidSpec:
        error = field_error(path, "Invalid value", value, detail)
        return models.InvalidSpec(f'The Rollout "{self.rollout_name}" is invalid: {error}')

    def mapping(self, obj: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
        value = obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(_join(path, key), value, "must be an object")
        return value

    def opt_mapping(self, obj: Mapping[str, Any], key: str, path: str) -> dict[str, Any] | None:
        return self.mapping(obj, key, path) if obj.get(key) is not None else None

    def string(self, obj: Mapping[str, Any], key: str, path: str, default: str = "") -> str:
        value = obj.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.fail(_join(path, key), value, "must be a string")
        return value

    def integer(self, obj: Mapping[str, Any], key: str, path: str) -> int | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(_join(path, key), value, "must be an integer")
        return value

    def boolean(self, obj: Mapping[str, Any], key: str, path: str) -> bool:
        value = obj.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.fail(_join(path, key), value, "must be a boolean")
        return value

    def items(self, obj: Mapping[str, Any], key: str, path: str) -> list[Any] | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self.fail(_join(path, key), value, "must be a list")
        return value

    def strings(self, obj: Mapping[str, Any], key: str, path: str) -> tuple[str, ...] | None:
        values = self.items(obj, key, path)
        if values is None:
            return None
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise self.fail(f"{path}.{key}[{i}]", value, "must be a string")
        return tuple(values)

