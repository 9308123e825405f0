"""The OpenAPI endpoints: `/openapi/v3`, `/openapi/v3/api/v1`, `/openapi/v3/apis/<group>/<version>`, v2.

Part of the sandbox API emulator; it describes what is served and never touches objects. kubectl 1.32 reads
/openapi/v3 before `apply`/`create -f`: a PATCH operation that takes `fieldValidation` tells it the server
validates fields, so it sends `fieldValidation=Strict` instead of validating against /openapi/v2 itself.
`kubectl explain` reads the same documents. /openapi/v2 serves JSON (its protobuf form gets 406).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sandbox.apiserver import errors, resources, schemas, storage

__all__ = ["OpenApi"]

Obj = dict[str, Any]
_CRDS = "customresourcedefinitions.apiextensions.k8s.io"
_INFO = {"title": "Kubernetes", "version": "v1.32.0"}


def _query(name: str, description: str) -> Obj:
    return {"name": name, "in": "query", "description": description, "schema": {"type": "string",
                                                                                 "uniqueItems": True}}


_DRY_RUN = _query("dryRun", "When present, indicates that modifications should not be persisted.")
_FIELD_MANAGER = _query("fieldManager", "A name associated with the actor or entity that is making changes.")
_FIELD_VALIDATION = _query(
    "fieldValidation",
    "How the server handles unknown or duplicate fields: Ignore, Warn or Strict (an error for each).",
)
_WRITE = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION]
_PATH_PARAMETER = {"in": "path", "required": True, "schema": {"type": "string", "uniqueItems": True}}
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml")


def _api_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _operation(info: resources.ResourceInfo, version: str, action: str, ref: str, params: list[Obj]) -> Obj:
    schema = {"$ref": ref}
    op: Obj = {
        "operationId": f"{action}{info.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": info.group, "version": version, "kind": info.kind},
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}},
    }
    if action in ("post", "put"):
        op["requestBody"] = {"content": {"*/*": {"schema": schema}}, "required": True}
    if action == "patch":
        # Custom resources take no strategic merge patch: kubectl then computes a merge patch for them.
        accepted = [t for t in _PATCH_TYPES if not (info.custom and "strategic" in t)]
        content = {t: {"schema": {"type": "object"}} for t in accepted}
        op["requestBody"] = {"content": content, "required": True}
    return op


def _paths(info: resources.ResourceInfo, version: str, ref: str) -> dict[str, Obj]:
    """The collection, object and subresource paths of one resource, with their operations."""
    collection = "/" + _api_path(info.group, version) + (
        f"/namespaces/{{namespace}}/{info.plural}" if info.namespaced else f"/{info.plural}"
    )
    scope = [{"name": "namespace", **_PATH_PARAMETER}] if info.namespaced else []
    named = [{"name": "name", **_PATH_PARAMETER}, *scope]
    force = _query("force", "Force is going to \"force\" Apply requests.")

    def ops(*actions: tuple[str, str, list[Obj]]) -> Obj:
        return {method: _operation(info, version, action, ref, params) for method, action, params in actions}

    paths = {
        collection: {"parameters": scope, **ops(("get", "list", []), ("post", "post", _WRITE),
                                                 ("delete", "deletecollection", [_DRY_RUN]))},
        f"{collection}/{{name}}": {"parameters": named, **ops(
            ("get", "get", []), ("put", "put", _WRITE), ("patch", "patch", [*_WRITE, force]),
            ("delete", "delete", [_DRY_RUN]))},
    }
    if info.status:
        paths[f"{collection}/{{name}}/status"] = {"parameters": named, **ops(
            ("get", "get", []), ("put", "put", _WRITE), ("patch", "patch", [*_WRITE, force]))}
    return paths


class OpenApi:
    """Builds the documents from the registry and stored CRDs, and rebuilds them only when those change."""

    def __init__(self, store: storage.Storage) -> None:
        self._store = store
        self._fingerprint = ""
        self._documents: dict[str, bytes] = {}

    def _current(self) -> dict[str, bytes]:
        crds = [(c["metadata"]["name"], c["metadata"].get("resourceVersion"))
                for c in self._store.list(_CRDS)]
        infos = sorted(repr(i) for i in self._store.registry.all())
        fingerprint = json.dumps([infos, sorted(crds)])
        if fingerprint != self._fingerprint:
            self._documents = {}
            self._fingerprint = fingerprint
        return self._documents

    def group_version(self, group: str, version: str) -> bytes | None:
        """The v3 document of one group-version (JSON); None when nothing is served there."""
        documents = self._current()
        path = _api_path(group, version)
        if path not in documents:
            served = [i for i in self._store.registry.all() if i.group == group and version in i.versions]
            if not served:
                return None
            components = schemas.Components()
            paths: Obj = {}
            for info in sorted(served, key=lambda i: i.plural):
                ref = schemas.REF_PREFIX + schemas.kind_schema(components, self._store, info, version)
                paths.update(_paths(info, version, ref))
            doc = {"openapi": "3.0.0", "info": _INFO, "paths": paths,
                   "components": {"schemas": components.schemas}}
            documents[path] = json.dumps(doc, separators=(",", ":")).encode()
        return documents[path]

    def root(self) -> Obj:
        """`/openapi/v3`: every served group-version with a URL that changes when its document does."""
        listed: Obj = {}
        for group, versions in sorted(self._store.registry.group_versions().items()):
            for version in versions:
                doc = self.group_version(group, version)
                if doc is None:
                    continue
                digest = hashlib.sha512(doc).hexdigest().upper()
                path = _api_path(group, version)
                listed[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
        return {"paths": listed}

    def v2(self) -> Obj:
        """`/openapi/v2` as JSON: the same schemas as Swagger 2.0 definitions."""
        merged: Obj = {}
        definitions: Obj = {}
        for group, versions in sorted(self._store.registry.group_versions().items()):
            for version in versions:
                doc = self.group_version(group, version)
                if doc is not None:
                    parsed = json.loads(doc)
                    merged.update(parsed["paths"])
                    definitions.update(parsed["components"]["schemas"])
        text = json.dumps({"swagger": "2.0", "info": _INFO, "paths": merged, "definitions": definitions})
        return dict(json.loads(text.replace('"' + schemas.REF_PREFIX, '"#/definitions/')))

    def serve(self, path: str, accept: str) -> tuple[bytes, str]:
        """The body and content type for a GET of an /openapi path; 404 or 406 Status otherwise."""
        parts = [p for p in path.split("/") if p][1:]
        if parts == ["v3"]:
            return json.dumps(self.root()).encode(), "application/json"
        doc = None
        if len(parts) == 3 and parts[:2] == ["v3", "api"]:
            doc = self.group_version("", parts[2])
        elif len(parts) == 4 and parts[:2] == ["v3", "apis"]:
            doc = self.group_version(parts[2], parts[3])
        if doc is not None:
            return doc, "application/json"
        if parts == ["v2"]:
            if "json" not in accept and accept not in ("", "*/*"):
                message = f"only application/json is served here, not {accept}"
                raise errors.ApiError(406, "NotAcceptable", message)
            return json.dumps(self.v2()).encode(), "application/json"
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
