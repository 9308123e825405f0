"""Server-side field validation: `fieldValidation=Strict` rejects unknown fields, `Warn` reports them.

Part of the sandbox API emulator; it reads the kinds' OpenAPI schemas (`schemas`) and never changes objects.
kubectl 1.32 sends `fieldValidation=Strict` (the default of `--validate`) once /openapi/v3 says the server
supports it, and then relies on these errors as it would on a real server's. Without the parameter nothing is
checked, as before.
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.apiserver import errors, routing, schemas, storage

__all__ = ["check", "unknown_fields", "warning_header"]

Obj = dict[str, Any]
_EMBEDDED = {"apiVersion", "kind", "metadata"}


def unknown_fields(value: Any, schema: Obj, known: dict[str, Obj], path: str = "") -> list[str]:
    """Dotted paths (`spec.template.spec.containers[0].imagee`) of the fields the schema does not define."""
    schema = schemas.resolve(schema, known)
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found: list[str] = []
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += unknown_fields(item, schema["items"], known, f"{path}[{index}]")
        return found
    if not isinstance(value, dict):
        return found
    properties = schema.get("properties")
    extra = schema.get("additionalProperties")
    if properties is None and isinstance(extra, dict):
        for key, item in value.items():
            found += unknown_fields(item, extra, known, f"{path}.{key}" if path else key)
        return found
    if properties is None:
        if schema.get("type") != "object" or extra is not None:
            return found  # any value goes
        properties = {}  # a structural object schema without properties keeps nothing
    if schema.get("x-kubernetes-embedded-resource"):
        properties = {**{k: {} for k in _EMBEDDED}, **properties}
    for key, item in value.items():
        if key.startswith("$"):
            continue  # strategic merge patch directives ($patch, $setElementOrder/..., $retainKeys)
        dotted = f"{path}.{key}" if path else key
        if key not in properties:
            found.append(dotted)
        elif item is not None:
            found += unknown_fields(item, properties[key], known, dotted)
    return found


def _go_format(value: Any) -> str:
    """A decoded JSON value as Go's fmt prints it (`map[a:1 b:[x y]]`)."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_format(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_format(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def warning_header(messages: list[str]) -> dict[str, str]:
    """The `Warning` response header kubectl prints as `Warning: <message>` lines."""
    if not messages:
        return {}
    return {"Warning": ", ".join("299 - " + json.dumps(m) for m in messages)}


def check(
    route: routing.Route, store: storage.Storage, body: Any, directive: str, *, patch: bool
) -> list[str]:
    """Warnings for `Warn`; for `Strict` a 400 (create, update) or 422 (patch) naming every unknown field."""
    if directive not in ("Strict", "Warn") or route.subresource not in (None, "status"):
        return []
    components = schemas.Components()
    name = schemas.kind_schema(components, store, route.info, route.version)
    found = unknown_fields(body, components.schemas[name], components.schemas)
    messages = [f"unknown field {json.dumps(f)}" for f in found]
    if directive == "Warn" or not messages:
        return messages
    decoding = "strict decoding error: " + ", ".join(messages)
    info = route.info
    if patch:
        # Worded as a real server does: no kind or name, one cause on the field "patch", printed as Go would.
        cause = f"Invalid value: {json.dumps(_go_format(body))}: {decoding}"
        raise errors.ApiError(422, "Invalid", f"patch: {cause}", details={
            "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": "patch"}]})
    raise errors.bad_request(
        f'{info.kind} in version "{route.version}" cannot be handled as a {info.kind}: {decoding}'
    )
