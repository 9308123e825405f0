"""Resource verbs over HTTP (list, get, create, update, patch, delete, deletecollection) mapped onto storage.

Part of the sandbox API emulator; it translates requests and answers, all write rules live in storage.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from aiohttp import web

from sandbox.apiserver import (
    errors,
    eviction,
    patching,
    protobuf,
    routing,
    scaling,
    storage,
    tables,
    validation,
)

__all__ = ["body_of", "include_object", "json_response", "printer_columns", "serve_resource"]

_PATCH_TYPES = (patching.MERGE_PATCH, patching.JSON_PATCH, patching.STRATEGIC_PATCH)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    data = json.dumps(body, separators=(",", ":")).encode()
    all_headers = {**(headers or {}), "Content-Type": "application/json"}
    return web.Response(body=data, status=status, headers=all_headers)


async def body_of(request: web.Request) -> Any:
    """The request body as JSON (YAML tolerated, as a real server does for some clients; protobuf decoded)."""
    raw = await request.read()
    if not raw.strip():
        raise errors.bad_request("the body of the request was empty")
    if request.content_type == protobuf.PROTOBUF:
        return protobuf.decode(raw)
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise errors.bad_request(f"the body of the request was in an unknown format: {exc}") from exc


def _object_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise errors.bad_request("the body of the request must be a JSON object")
    meta = body.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise errors.bad_request("metadata must be an object")
    return body


def _check_namespace(route: routing.Route, body: dict[str, Any]) -> None:
    meta = body["metadata"]
    if not route.info.namespaced:
        return
    if route.namespace is None:
        raise errors.method_not_allowed()
    if meta.get("namespace") and meta["namespace"] != route.namespace:
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    meta["namespace"] = route.namespace


def _list_body(route: routing.Route, items: list[dict[str, Any]], rv: str) -> dict[str, Any]:
    return {
        "kind": f"{route.info.kind}List",
        "apiVersion": route.api_version,
        "metadata": {"resourceVersion": rv},
        "items": items,
    }


def printer_columns(store: storage.Storage, route: routing.Route) -> list[dict[str, Any]] | None:
    """The additionalPrinterColumns a CRD declares for the route's version, if a CRD defines the resource."""
    crd = store.get("customresourcedefinitions.apiextensions.k8s.io", None, route.info.key)
    for version in ((crd or {}).get("spec") or {}).get("versions") or []:
        if version.get("name") == route.version:
            columns = version.get("additionalPrinterColumns")
            return list(columns) if isinstance(columns, list) else None
    return None


def include_object(request: web.Request) -> str:
    """The `includeObject` policy of a Table request; 400 for an unknown one, as a real server answers."""
    policy = request.query.get("includeObject") or "Metadata"
    if policy not in tables.INCLUDE_OBJECT:
        raise errors.bad_request(
            f'includeObject: Unsupported value: "{policy}": supported values: "Metadata", "None", "Object"'
        )
    return policy


def _listing(
    request: web.Request, route: routing.Route, store: storage.Storage, items: list[dict[str, Any]]
) -> web.Response:
    rv = store.resource_version
    if tables.wants_table(request.headers.get("Accept", "")):
        columns = printer_columns(store, route)
        table = tables.as_table(
            route.info, items, rv, printer_columns=columns, include_object=include_object(request)
        )
        return json_response(table)
    return json_response(_list_body(route, items, rv))


async def _serve_scale(
    request: web.Request, route: routing.Route, store: storage.Storage, *, dry_run: bool
) -> web.Response:
    if route.verb == "get":
        return json_response(scaling.read_scale(route, store))
    if route.verb == "update":
        return json_response(scaling.write_scale(route, store, await body_of(request), None, dry_run=dry_run))
    if route.verb == "patch":
        media = request.content_type
        if media not in _PATCH_TYPES:
            raise errors.unsupported_media_type(media, patching.ACCEPTED_FOR_CUSTOM)
        body = await body_of(request)
        return json_response(scaling.write_scale(route, store, body, media, dry_run=dry_run))
    raise errors.method_not_allowed()


def _delete_options(request: web.Request, raw: bytes) -> tuple[str | None, str | None, str]:
    """The resourceVersion and uid preconditions and the propagation policy of a DELETE's options."""
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError as exc:
        raise errors.bad_request(f"DeleteOptions: the body of the request is not JSON: {exc}") from exc
    options = body if isinstance(body, dict) else {}
    preconditions = options.get("preconditions") or {}
    if not isinstance(preconditions, dict):
        raise errors.bad_request(f"DeleteOptions: preconditions must be an object, got {preconditions!r}")
    propagation = options.get("propagationPolicy") or request.query.get("propagationPolicy") or "Background"
    if options.get("orphanDependents") is True:
        propagation = "Orphan"
    return preconditions.get("resourceVersion"), preconditions.get("uid"), str(propagation)


_STREAMING_WHAT = {"log": "no logs to show", "exec": "nothing to exec into", "attach": "nothing to attach to",
                   "portforward": "nothing to forward ports to"}


def _no_containers(route: routing.Route, store: storage.Storage) -> errors.ApiError:
    """404 for a missing pod, else a 400 saying why: the sandbox simulates pods and runs no containers."""
    assert route.name is not None
    if store.get(route.info.key, route.namespace, route.name) is None:
        return errors.not_found(route.info.group, route.info.plural, route.name)
    return errors.bad_request(
        f'pod "{route.name}" has {_STREAMING_WHAT[route.subresource or "log"]}: the alb-rollouts sandbox '
        "simulates pods and runs no containers (see `kubectl describe pod` and `kubectl get events`)"
    )


async def serve_resource(request: web.Request, route: routing.Route, store: storage.Storage) -> web.Response:
    """Serve every verb except watch."""
    key, query = route.info.key, request.query
    dry_run = query.get("dryRun") == "All"
    if route.subresource == "scale":
        return await _serve_scale(request, route, store, dry_run=dry_run)
    if route.subresource in routing.STREAMING:
        raise _no_containers(route, store)
    if route.subresource == "eviction":
        evicted = eviction.evict(route, store, await body_of(request), dry_run=dry_run)
        return json_response(evicted, status=201)
    if route.verb == "list":
        items = store.list(key, route.namespace, query.get("labelSelector"), query.get("fieldSelector"))
        return _listing(request, route, store, items)
    if route.verb == "get":
        assert route.name is not None
        obj = store.get(key, route.namespace, route.name)
        if obj is None:
            raise errors.not_found(route.info.group, route.info.plural, route.name)
        if route.subresource is None and tables.wants_table(request.headers.get("Accept", "")):
            return _listing(request, route, store, [obj])
        return json_response(obj)
    directive = query.get("fieldValidation", "")
    if route.verb == "create":
        body = _object_body(await body_of(request))
        warnings = validation.check(route, store, body, directive, patch=False)
        _check_namespace(route, body)
        created = store.create(key, body, dry_run=dry_run)
        return json_response(created, status=201, headers=validation.warning_header(warnings))
    if route.verb == "update":
        body = _object_body(await body_of(request))
        warnings = validation.check(route, store, body, directive, patch=False)
        _check_namespace(route, body)
        body_name = body["metadata"].get("name")
        if body_name != route.name:
            raise errors.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({route.name})"
            )
        replaced = store.replace(key, body, subresource=route.subresource, dry_run=dry_run)
        return json_response(replaced, headers=validation.warning_header(warnings))
    if route.verb == "patch":
        assert route.name is not None
        media = request.content_type
        if media not in _PATCH_TYPES:
            raise errors.unsupported_media_type(media, patching.ACCEPTED_FOR_CUSTOM)
        body = await body_of(request)
        warnings = []
        # A JSON patch's operations name no fields to check; a missing object is a 404 before any check.
        if isinstance(body, dict) and store.get(key, route.namespace, route.name) is not None:
            warnings = validation.check(route, store, body, directive, patch=True)
        patched = store.patch(
            key, route.namespace, route.name, body, content_type=media,
            subresource=route.subresource, dry_run=dry_run,
        )
        return json_response(patched, headers=validation.warning_header(warnings))
    if route.verb == "delete":
        assert route.name is not None
        rv, uid, propagation = _delete_options(request, await request.read())
        deleted = store.delete(
            key, route.namespace, route.name, resource_version=rv, uid=uid, propagation=propagation,
            dry_run=dry_run,
        )
        if deleted is None:
            raise errors.not_found(route.info.group, route.info.plural, route.name)
        return json_response(deleted)
    # deletecollection
    gone = []
    for obj in store.list(key, route.namespace, query.get("labelSelector"), query.get("fieldSelector")):
        meta = obj["metadata"]
        deleted = store.delete(key, meta.get("namespace"), meta["name"])
        if deleted is not None:
            gone.append(deleted)
    return json_response(_list_body(route, gone, store.resource_version))
