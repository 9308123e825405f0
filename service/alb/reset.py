"""What a deleted Rollout leaves on an Ingress (apply room, pure; SPEC §4.5, better than reference §1.8).

Each weighted action the rollout managed is reset to 100% on the service that stays: the stable target group,
which the reference always writes last (so rootService and ping-pong work, unlike the reference). Header
routes (an action with a matching condition) are removed with their condition and `use-annotation` path.
The rollout's bookkeeping entry goes, and the legacy key with it. Never does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.alb import bookkeeping, gojson

__all__ = ["Reset", "ResetError", "reset_action", "reset_annotations"]

_ACTIONS = "/actions."
_CONDITIONS = "/conditions."


class ResetError(ValueError):
    """A managed action whose value cannot be reset; `str()` names the annotation and the reason."""


@dataclass(frozen=True, slots=True)
class Reset:
    """The annotations after the reset, the header routes whose paths must go, and what could not be reset."""

    annotations: dict[str, str]
    routes: tuple[str, ...]
    problems: tuple[str, ...]


def _stickiness(forward: dict[str, Any]) -> dict[str, object] | None:
    sticky = forward.get("TargetGroupStickinessConfig")
    if sticky is None:
        return None
    if not isinstance(sticky, dict):
        raise ValueError("TargetGroupStickinessConfig is not an object")
    enabled = sticky.get("Enabled", False)
    duration = sticky.get("DurationSeconds", 0)
    if not isinstance(enabled, bool) or not isinstance(duration, int) or isinstance(duration, bool):
        raise ValueError("TargetGroupStickinessConfig has fields of the wrong type")
    return {"Enabled": enabled, "DurationSeconds": duration}


def reset_action(value: str) -> str:
    """The action sending 100% to the last (stable) target group of `value`, stickiness kept."""
    try:
        action = gojson.loads(value)
    except gojson.GoJSONError as error:
        raise ResetError(f"unable to unmarshal previous ALB action: {error}") from None
    forward = action.get("ForwardConfig") if isinstance(action, dict) else None
    groups = forward.get("TargetGroups") if isinstance(forward, dict) else None
    if not isinstance(forward, dict) or not isinstance(groups, list) or not groups:
        raise ResetError("previous ALB action has no target groups")
    stable = groups[-1]
    if not isinstance(stable, dict) or not isinstance(stable.get("ServiceName"), str):
        raise ResetError("previous ALB action's last target group has no ServiceName")
    port = stable.get("ServicePort")
    if not isinstance(port, str) or not port:
        raise ResetError("unable to reset annotation due to missing port")
    try:
        sticky = _stickiness(forward)
    except ValueError as error:
        raise ResetError(str(error)) from None
    config: dict[str, object] = {
        "TargetGroups": [{"ServiceName": stable["ServiceName"], "ServicePort": port, "Weight": 100}]
    }
    if sticky is not None:
        config["TargetGroupStickinessConfig"] = sticky
    return gojson.dumps({"Type": "forward", "ForwardConfig": config})


def reset_annotations(annotations: Mapping[str, str], rollout: str) -> Reset:
    """The annotations once `rollout` is gone; raises BookkeepingError when the bookkeeping is unreadable."""
    managed = bookkeeping.parse(annotations.get(bookkeeping.KEY))
    keys = bookkeeping.keys_of(managed, rollout)
    result = dict(annotations)
    routes: list[str] = []
    problems: list[str] = []
    conditions = {key.replace(_CONDITIONS, _ACTIONS, 1) for key in keys if _CONDITIONS in key}
    for key in keys:
        if _CONDITIONS in key:
            result.pop(key, None)
        elif key in conditions:
            result.pop(key, None)
            routes.append(key.split(_ACTIONS, 1)[1])
        elif _ACTIONS in key and key in result:
            try:
                result[key] = reset_action(result[key])
            except ResetError as error:
                problems.append(f"cannot reset {key}: {error}")
    remaining = bookkeeping.drop(managed, rollout)
    if remaining:
        result[bookkeeping.KEY] = bookkeeping.serialise(remaining)
    else:
        result.pop(bookkeeping.KEY, None)
    result.pop(bookkeeping.LEGACY_KEY, None)
    return Reset(annotations=result, routes=tuple(routes), problems=tuple(problems))
