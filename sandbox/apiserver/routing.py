"""Resource URL parsing: turn `/api/v1/...` and `/apis/<g>/<v>/...` paths plus the method into a Route.

Part of the sandbox API emulator; it only reads the registry and never touches objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.apiserver import errors, resources

__all__ = ["STREAMING", "Route", "is_true", "parse"]

# Pod subresources that stream from a running container (`kubectl logs`, `exec`, `attach`, `port-forward`).
STREAMING = ("log", "exec", "attach", "portforward")


@dataclass(frozen=True, slots=True)
class Route:
    """Where a resource request points and which Kubernetes verb it is."""

    info: resources.ResourceInfo
    version: str
    namespace: str | None
    name: str | None
    subresource: str | None
    verb: str

    @property
    def api_version(self) -> str:
        return self.info.api_version(self.version)


def is_true(value: str | None) -> bool:
    """Go's ParseBool truthiness; kubernetes-asyncio sends Python's `True`."""
    return (value or "").lower() in ("1", "t", "true")


def _not_found() -> errors.ApiError:
    return errors.ApiError(404, "NotFound", "the server could not find the requested resource")


def _verb(method: str, name: str | None, watch: bool) -> str:
    if method == "GET":
        return "get" if name else ("watch" if watch else "list")
    if method == "POST" and not name:
        return "create"
    if method == "PUT" and name:
        return "update"
    if method == "PATCH" and name:
        return "patch"
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    raise errors.method_not_allowed()


def parse(
    registry: resources.Registry, method: str, path: str, watch: bool = False
) -> Route | None:
    """The Route for a resource path; None for non-resource paths; 404 for an unknown resource."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    namespace: str | None = None
    if (
        rest[0] == "namespaces"
        and len(rest) >= 3
        and (candidate := registry.find(group, version, rest[2])) is not None
        and candidate.namespaced
    ):
        namespace, rest = rest[1], rest[2:]
    info = registry.find(group, version, rest[0])
    if info is None or len(rest) > 3:
        raise _not_found()
    if info.namespaced is False and namespace is not None:
        raise _not_found()
    name = rest[1] if len(rest) >= 2 else None
    subresource = rest[2] if len(rest) == 3 else None
    served = {"status"} if info.status else set()
    if info.scale is not None:
        served.add("scale")
    if info.key == "pods":
        served.update(("eviction", *STREAMING))
    if subresource is not None and subresource not in served:
        raise _not_found()
    if info.namespaced and namespace is None and name is not None:
        raise _not_found()
    if subresource in STREAMING:  # answered with why not (no containers run here), whatever the method
        return Route(info, version, namespace, name, subresource, "get" if method == "GET" else "create")
    if subresource == "eviction":  # create-only: POST .../pods/<name>/eviction
        if method != "POST":
            raise errors.method_not_allowed()
        return Route(info, version, namespace, name, subresource, "create")
    return Route(info, version, namespace, name, subresource, _verb(method, name, watch))
