"""ALB action annotations: keys, forward-action payloads, header-route conditions (apply room, pure).

Renders byte for byte what the reference writes (reference §1.1-§1.3), with the stable weight clamped so it
is never negative (SPEC §4.6). Takes plain values, never a Rollout or an Ingress, and never does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.alb import gojson
from statemachine import services, weights
from statemachine.canary_validation import MAX_STICKINESS_SECONDS, MIN_STICKINESS_SECONDS
from statemachine.canary_validation import STICKINESS_DURATION_MESSAGE as STICKINESS_ERROR
from statemachine.models import DEFAULT_ANNOTATION_PREFIX as DEFAULT_PREFIX

__all__ = [
    "DEFAULT_PREFIX",
    "STICKINESS_ERROR",
    "Destination",
    "Match",
    "StickinessError",
    "Weights",
    "action_key",
    "action_service",
    "condition_key",
    "forward_action",
    "header_route_action",
    "header_route_condition",
    "ping_pong_services",
    "resolve_prefix",
    "split_weights",
    "stickiness_block",
    "target_group",
]


class StickinessError(ValueError):
    """Stickiness enabled with a duration AWS rejects; `str()` is the reference's exact text."""

    def __init__(self) -> None:
        super().__init__(STICKINESS_ERROR)


@dataclass(frozen=True, slots=True)
class Destination:
    """An additional (experiment) target group and the weight it asks for."""

    service_name: str
    weight: int


@dataclass(frozen=True, slots=True)
class Match:
    """One header match of a setHeaderRoute step; only `exact` is ever read (ALB supports nothing else)."""

    header_name: str
    exact: str | None


@dataclass(frozen=True, slots=True)
class Weights:
    """Clamped weights: every value within 0..100 and `canary + sum(additional) + stable == 100`."""

    canary: int
    additional: tuple[int, ...]
    stable: int


def resolve_prefix(annotation_prefix: str | None) -> str:
    return annotation_prefix or DEFAULT_PREFIX


def action_service(root_service: str | None, stable_service: str) -> str:
    """The service that names the weighted action: rootService if set, else the spec stableService."""
    return root_service or stable_service


def action_key(prefix: str | None, service: str) -> str:
    return f"{resolve_prefix(prefix)}/actions.{service}"


def condition_key(prefix: str | None, route: str) -> str:
    return f"{resolve_prefix(prefix)}/conditions.{route}"


def ping_pong_services(stable_ping_pong: str, ping_service: str, pong_service: str) -> tuple[str, str]:
    """(canary, stable) target-group names for ping-pong: stable is ping only when the status says "ping"."""
    stable, canary = services.ping_pong_roles(stable_ping_pong, ping_service, pong_service)
    return canary, stable


def split_weights(desired: int, additional: Sequence[int] = ()) -> Weights:
    """Clamp (SPEC §4.6) as `statemachine.weights.split`: canary first, experiments next, stable the rest."""
    canary, extra, stable = weights.split(desired, tuple(additional))
    return Weights(canary=canary, additional=extra, stable=stable)


def target_group(service_name: str, port: int | str, weight: int) -> dict[str, object]:
    """One TG in Go field order; ServiceName and ServicePort are omitempty, Weight always present."""
    group: dict[str, object] = {}
    if service_name:
        group["ServiceName"] = service_name
    if str(port):
        group["ServicePort"] = str(port)
    group["Weight"] = weight
    return group


def stickiness_block(enabled: bool, duration_seconds: int) -> dict[str, object] | None:
    """The TargetGroupStickinessConfig object or None when disabled; StickinessError when out of range."""
    if not enabled:
        return None
    if not MIN_STICKINESS_SECONDS <= duration_seconds <= MAX_STICKINESS_SECONDS:
        raise StickinessError()
    return {"Enabled": True, "DurationSeconds": duration_seconds}


def _action(groups: list[dict[str, object]], stickiness: dict[str, object] | None) -> str:
    forward: dict[str, object] = {"TargetGroups": groups}
    if stickiness is not None:
        forward["TargetGroupStickinessConfig"] = stickiness
    return gojson.dumps({"Type": "forward", "ForwardConfig": forward})


def forward_action(
    *,
    canary_service: str,
    stable_service: str,
    port: int,
    desired_weight: int,
    additional: Sequence[Destination] = (),
    stickiness: tuple[bool, int] | None = None,
) -> str:
    """The weighted action: canary first, experiment destinations next, stable last (reference §1.2)."""
    sticky = stickiness_block(*stickiness) if stickiness is not None else None
    split = split_weights(desired_weight, [d.weight for d in additional])
    groups = [target_group(canary_service, port, split.canary)]
    pairs = zip(additional, split.additional, strict=True)
    groups += [target_group(d.service_name, port, w) for d, w in pairs]
    groups.append(target_group(stable_service, port, split.stable))
    return _action(groups, sticky)


def header_route_action(*, canary_service: str, port: int, stickiness: tuple[bool, int] | None = None) -> str:
    """The header route's action: the canary alone at weight 100, with the same stickiness handling."""
    sticky = stickiness_block(*stickiness) if stickiness is not None else None
    return _action([target_group(canary_service, port, 100)], sticky)


def header_route_condition(matches: Sequence[Match]) -> str:
    """JSON array of http-header conditions; matches sharing a header name merge, first-seen order."""
    merged: dict[str, list[str]] = {}
    for match in matches:
        # A prefix/regex match (validation forbids it) reads as "" exactly like the reference.
        merged.setdefault(match.header_name, []).append(match.exact or "")
    if not merged:
        return "null"  # Go marshals the nil slice of an empty match list as null
    conditions = [
        {"field": "http-header", "httpHeaderConfig": {"httpHeaderName": name, "values": values}}
        for name, values in merged.items()
    ]
    return gojson.dumps(conditions)
