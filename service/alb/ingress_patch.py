"""The desired Ingress for a rollout and the merge-patch body that gets there (apply room, pure).

One body per Ingress: header route (reference §1.6), managed-route removal, the weighted action (§1.5) and
the bookkeeping update, computed as the reference's three writes in turn (so the caller knows which of them
change the Ingress, for their events) and sent as one JSON merge patch with only the changed keys (`null`
deletes), keys sorted, and `metadata.resourceVersion` inside the body as the precondition (SPEC §4.4).
Refuses Ingresses of a class we do not manage and unreadable bookkeeping before computing anything. Never
does I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.alb import actions, bookkeeping, gojson, reset, rules
from statemachine import ingress_checks, models
from statemachine import merge_patch as merge_patches

__all__ = [
    "DEFAULT_CLASSES",
    "HeaderRoute",
    "IngressPatch",
    "Refusal",
    "Routing",
    "check_writable",
    "cleanup_patch",
    "desired_ingress",
    "encode",
    "header_route",
    "merge_patch",
    "patch_for",
    "weight_patch",
]

DEFAULT_CLASSES: tuple[str, ...] = ("alb",)


class Refusal(ValueError):
    """We must not write this Ingress (SPEC §5, §4.7); `str()` names the class or the annotation."""


@dataclass(frozen=True, slots=True)
class Routing:
    """What one rollout writes to each of its Ingresses (names already resolved for ping-pong)."""

    rollout: str
    action_service: str
    canary_service: str
    stable_service: str
    port: int
    prefix: str = actions.DEFAULT_PREFIX
    stickiness: tuple[bool, int] | None = None
    managed_routes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HeaderRoute:
    """The current setHeaderRoute step; `matches` None removes the route."""

    name: str
    matches: tuple[actions.Match, ...] | None


def header_route(step: models.SetHeaderRoute | None) -> HeaderRoute | None:
    """The Ingress form of a setHeaderRoute step (no match: remove the route); None without a step."""
    if step is None:
        return None
    if step.match is None:
        return HeaderRoute(step.name, None)
    return HeaderRoute(step.name, tuple(actions.Match(m.header_name, m.exact) for m in step.match))


def check_writable(ingress: Any, classes: Sequence[str] = DEFAULT_CLASSES) -> bookkeeping.Managed:
    """The parsed bookkeeping of an Ingress we may write; raises IngressError or Refusal otherwise."""
    rules.check_shape(ingress)
    ingress_class = rules.ingress_class(ingress)
    if ingress_class not in classes:
        shown = f'"{ingress_class}"' if ingress_class else '"" (no class)'
        allowed = ", ".join(f'"{c}"' for c in classes)
        raise Refusal(
            f'refusing to write Ingress "{rules.label(ingress)}": its class {shown} is not one of '
            f"--alb-ingress-classes [{allowed}]"
        )
    try:
        return bookkeeping.parse(rules.annotations_of(ingress).get(bookkeeping.KEY))
    except bookkeeping.BookkeepingError as error:
        raise Refusal(
            f'refusing to write Ingress "{rules.label(ingress)}": '
            f"cannot parse annotation {bookkeeping.KEY}: {error}"
        ) from None


def _rules_of(ingress: dict[str, Any]) -> list[dict[str, Any]]:
    return list((ingress.get("spec") or {}).get("rules") or [])


def _with(
    ingress: dict[str, Any], annotations: dict[str, str], new_rules: list[dict[str, Any]]
) -> dict[str, Any]:
    desired = copy.deepcopy(ingress)
    desired["metadata"] = {**(desired.get("metadata") or {}), "annotations": annotations}
    if new_rules != _rules_of(ingress):
        desired["spec"] = {**(desired.get("spec") or {}), "rules": new_rules}
    return desired


@dataclass(frozen=True, slots=True)
class IngressPatch:
    """The merge-patch body for one Ingress (None: nothing to write) and which of the reference's three
    writes it stands for: each True part would have been its own PATCH and event (reference §1.6)."""

    body: dict[str, Any] | None
    header_route: bool = False
    routes_removed: bool = False
    weight: bool = False


_Draft = tuple[dict[str, str], list[dict[str, Any]]]
"""An Ingress on its way to the desired one: its annotations (bookkeeping serialised) and its rules."""


def _header_stage(draft: _Draft, routing: Routing, route: HeaderRoute, legacy: bool) -> _Draft:
    """SetHeaderRoute: the route's action, condition and path added (or removed), paths re-sorted."""
    annotations, new_rules = dict(draft[0]), draft[1]
    managed = bookkeeping.parse(annotations.get(bookkeeping.KEY))
    action_key = actions.action_key(routing.prefix, route.name)
    condition_key = actions.condition_key(routing.prefix, route.name)
    if route.matches is not None:
        annotations[action_key] = actions.header_route_action(
            canary_service=routing.canary_service, port=routing.port, stickiness=routing.stickiness
        )
        annotations[condition_key] = actions.header_route_condition(route.matches)
        managed = bookkeeping.add(managed, routing.rollout, [action_key, condition_key])
        new_rules = rules.insert_route_path(new_rules, route.name, legacy=legacy)
    else:
        annotations.pop(action_key, None)
        annotations.pop(condition_key, None)
        managed = bookkeeping.remove(managed, routing.rollout, [action_key, condition_key])
        new_rules = rules.remove_route_path(new_rules, route.name)
    annotations[bookkeeping.KEY] = bookkeeping.serialise(managed)
    return annotations, rules.sort_paths(new_rules, routing.managed_routes)


def _removal_stage(draft: _Draft, routing: Routing) -> _Draft:
    """RemoveManagedRoutes: every managed route's action, condition and path gone (no re-sort)."""
    annotations, new_rules = dict(draft[0]), draft[1]
    gone: list[str] = []
    for route in routing.managed_routes:
        gone += [actions.action_key(routing.prefix, route), actions.condition_key(routing.prefix, route)]
        new_rules = rules.remove_route_path(new_rules, route)
    for key in gone:
        annotations.pop(key, None)
    managed = bookkeeping.remove(bookkeeping.parse(annotations.get(bookkeeping.KEY)), routing.rollout, gone)
    annotations[bookkeeping.KEY] = bookkeeping.serialise(managed)
    return annotations, new_rules


def _weight_stage(draft: _Draft, routing: Routing, desired_weight: int,
                  additional: Sequence[actions.Destination]) -> _Draft:
    """SetWeight: the weighted action and its bookkeeping; the legacy key goes (SPEC §3)."""
    annotations = dict(draft[0])
    key = actions.action_key(routing.prefix, routing.action_service)
    annotations[key] = actions.forward_action(
        canary_service=routing.canary_service,
        stable_service=routing.stable_service,
        port=routing.port,
        desired_weight=desired_weight,
        additional=additional,
        stickiness=routing.stickiness,
    )
    managed = bookkeeping.add(bookkeeping.parse(annotations.get(bookkeeping.KEY)), routing.rollout, [key])
    annotations[bookkeeping.KEY] = bookkeeping.serialise(managed)
    annotations.pop(bookkeeping.LEGACY_KEY, None)
    return annotations, draft[1]


def _staged(
    current: dict[str, Any],
    routing: Routing,
    *,
    desired_weight: int,
    additional: Sequence[actions.Destination],
    header_route: HeaderRoute | None,
    remove_managed_routes: bool,
    classes: Sequence[str],
) -> tuple[dict[str, Any], tuple[bool, bool, bool]]:
    """The desired Ingress and whether the header-route, route-removal and weight stages each changed it."""
    check_writable(current, classes)
    if not ingress_checks.rules_have_service(_rules_of(current), routing.action_service):
        raise rules.IngressError(f"ingress does not have service `{routing.action_service}` in rules")
    start: _Draft = (rules.annotations_of(current), _rules_of(current))
    draft = start
    if header_route is not None:
        draft = _header_stage(draft, routing, header_route, rules.is_legacy(current))
    with_route = draft
    if remove_managed_routes and routing.managed_routes:
        draft = _removal_stage(draft, routing)
    without_routes = draft
    draft = _weight_stage(draft, routing, desired_weight, additional)
    changed = (with_route != start, without_routes != with_route, draft != without_routes)
    return _with(current, *draft), changed


def desired_ingress(
    current: dict[str, Any],
    routing: Routing,
    *,
    desired_weight: int,
    additional: Sequence[actions.Destination] = (),
    header_route: HeaderRoute | None = None,
    remove_managed_routes: bool = False,
    classes: Sequence[str] = DEFAULT_CLASSES,
) -> dict[str, Any]:
    """The Ingress as the rollout wants it; raises Refusal, IngressError or StickinessError."""
    desired, _ = _staged(current, routing, desired_weight=desired_weight, additional=additional,
                         header_route=header_route, remove_managed_routes=remove_managed_routes,
                         classes=classes)
    return desired


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def merge_patch(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
    """The body taking `current` to `desired` (annotations and spec.rules only), or None when equal.

    The body carries `metadata.resourceVersion` of `current`: the API server rejects it with 409 when the
    Ingress changed since we read it, so the shared bookkeeping annotation never loses an entry.
    """
    before = {
        "metadata": {"annotations": rules.annotations_of(current)},
        "spec": {"rules": _rules_of(current)},
    }
    after = {
        "metadata": {"annotations": rules.annotations_of(desired)},
        "spec": {"rules": _rules_of(desired)},
    }
    patch: dict[str, Any] = _sorted(merge_patches.diff(before, after))
    if not patch:
        return None
    resource_version = (current.get("metadata") or {}).get("resourceVersion")
    if resource_version:
        patch.setdefault("metadata", {})["resourceVersion"] = str(resource_version)
        patch["metadata"] = _sorted(patch["metadata"])
    return patch


def patch_for(
    current: dict[str, Any],
    routing: Routing,
    *,
    desired_weight: int,
    additional: Sequence[actions.Destination] = (),
    header_route: HeaderRoute | None = None,
    remove_managed_routes: bool = False,
    classes: Sequence[str] = DEFAULT_CLASSES,
) -> IngressPatch:
    """The body for one Ingress of a rollout, and which parts of it change the Ingress (for the events)."""
    desired, (route, removed, weight) = _staged(
        current, routing, desired_weight=desired_weight, additional=additional, header_route=header_route,
        remove_managed_routes=remove_managed_routes, classes=classes)
    body = merge_patch(current, desired)
    if body is None:
        return IngressPatch(None)
    return IngressPatch(body, header_route=route, routes_removed=removed, weight=weight)


def weight_patch(
    current: dict[str, Any],
    routing: Routing,
    *,
    desired_weight: int,
    additional: Sequence[actions.Destination] = (),
    header_route: HeaderRoute | None = None,
    remove_managed_routes: bool = False,
    classes: Sequence[str] = DEFAULT_CLASSES,
) -> dict[str, Any] | None:
    """The merge-patch body for one Ingress of a rollout, or None when it already carries what we want."""
    return patch_for(
        current, routing, desired_weight=desired_weight, additional=additional, header_route=header_route,
        remove_managed_routes=remove_managed_routes, classes=classes).body


def cleanup_patch(
    current: dict[str, Any], rollout: str, classes: Sequence[str] = DEFAULT_CLASSES
) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """The body removing a deleted rollout (None if it left nothing) and what could not be reset."""
    managed = check_writable(current, classes)
    if rollout not in managed:
        return None, ()
    outcome = reset.reset_annotations(rules.annotations_of(current), rollout)
    new_rules = _rules_of(current)
    for route in outcome.routes:
        new_rules = rules.remove_route_path(new_rules, route)
    return merge_patch(current, _with(current, outcome.annotations, new_rules)), outcome.problems


def encode(patch: dict[str, Any]) -> bytes:
    """The exact bytes sent as `application/merge-patch+json`: Go-JSON, keys sorted at every level."""
    return gojson.dumps(_sorted(patch)).encode("utf-8")
