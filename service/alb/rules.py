"""Reading and rewriting an Ingress's rules for ALB routing (apply room, pure).

Which service a path routes to is read by `statemachine.ingress_checks` (shared with validation). Here: JSON
type checks before a write, the class, the `use-annotation` path of a header route (insert, remove) and the
`managedRoutes` sort of paths (reference §1.6). Unusual Ingresses (no `http`, `resource` backends, zero
paths, no annotations) are read without crashing; malformed ones raise `IngressError` naming the field.
Never does I/O and never mutates its input.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from statemachine.ingress_checks import backend_service, rules_have_service, type_problem

__all__ = [
    "CLASS_ANNOTATION",
    "IngressError",
    "annotations_of",
    "check_shape",
    "ingress_class",
    "insert_route_path",
    "is_legacy",
    "label",
    "remove_route_path",
    "sort_paths",
]

CLASS_ANNOTATION = "kubernetes.io/ingress.class"


class IngressError(ValueError):
    """An Ingress we cannot read or write; `str()` says what is wrong and where."""


def label(ingress: dict[str, Any]) -> str:
    """`<namespace>/<name>` as messages show an Ingress (`?` for what is missing)."""
    metadata = ingress.get("metadata")
    if not isinstance(metadata, dict):
        return "?"
    return f"{metadata.get('namespace') or 'default'}/{metadata.get('name') or '?'}"


def _fail(ingress: dict[str, Any], where: str, what: str) -> IngressError:
    return IngressError(f'ingress "{label(ingress)}": {where} {what}')


def check_shape(ingress: Any) -> None:
    """Raise IngressError when a field we read or write has the wrong JSON type (see `type_problem`)."""
    problem = type_problem(ingress)
    if problem is None:
        return
    field, what = problem
    if not field:
        raise IngressError(f"ingress {what}")
    raise _fail(ingress, field, what)


def annotations_of(ingress: dict[str, Any]) -> dict[str, str]:
    """A copy of the annotations; a missing map reads as empty."""
    return dict((ingress.get("metadata") or {}).get("annotations") or {})


def ingress_class(ingress: dict[str, Any]) -> str:
    """The class the reference's cleanup reads: the annotation when non-empty, else spec.ingressClassName."""
    from_annotation = annotations_of(ingress).get(CLASS_ANNOTATION, "")
    if from_annotation:
        return from_annotation
    return str((ingress.get("spec") or {}).get("ingressClassName") or "")


def is_legacy(ingress: dict[str, Any]) -> bool:
    """v1beta1 Ingresses (extensions, networking) name backends with serviceName/servicePort."""
    return str(ingress.get("apiVersion", "")).endswith("v1beta1")


def _paths(rule: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The paths list of a rule to rewrite in place; None for a rule without `http` (nothing to add to)."""
    http = rule.get("http")
    if not isinstance(http, dict):
        return None
    paths = http.get("paths")
    return paths if isinstance(paths, list) else []


def _route_path(route: str, legacy: bool) -> dict[str, Any]:
    if legacy:
        backend: dict[str, Any] = {"serviceName": route, "servicePort": "use-annotation"}
    else:
        backend = {"service": {"name": route, "port": {"name": "use-annotation"}}}
    return {"backend": backend, "path": "/*", "pathType": "ImplementationSpecific"}


def insert_route_path(rules: Sequence[dict[str, Any]], route: str, *, legacy: bool) -> list[dict[str, Any]]:
    """Rules with a `/*` use-annotation path for `route` first in every http rule, unless one exists."""
    result = copy.deepcopy(list(rules))
    if rules_have_service(result, route):
        return result
    for rule in result:
        paths = _paths(rule)
        if paths is None:
            continue  # a rule without http routes nothing; the reference crashed here
        rule["http"]["paths"] = [_route_path(route, legacy), *paths]
    return result


def remove_route_path(rules: Sequence[dict[str, Any]], route: str) -> list[dict[str, Any]]:
    """Rules without the first path routing to `route`, in every rule."""
    result = copy.deepcopy(list(rules))
    for rule in result:
        paths = _paths(rule)
        if not paths:
            continue
        for index, path in enumerate(paths):
            if backend_service(path) == route:
                del paths[index]
                break
    return result


def sort_paths(rules: Sequence[dict[str, Any]], managed_routes: Sequence[str]) -> list[dict[str, Any]]:
    """Rules whose paths are stable-sorted by position in managedRoutes; other paths last, order kept."""
    order = {name: index for index, name in reversed(list(enumerate(managed_routes)))}
    result = copy.deepcopy(list(rules))
    for rule in result:
        paths = _paths(rule)
        if not paths:
            continue
        rule["http"]["paths"] = sorted(
            paths, key=lambda path: order.get(backend_service(path) or "", len(managed_routes))
        )
    return result
