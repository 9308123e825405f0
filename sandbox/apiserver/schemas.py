"""OpenAPI v3 schemas of the served kinds: built-ins from kubernetes_asyncio's models, custom kinds from CRDs.

Part of the sandbox API emulator; it reads the registry and stored CRDs and never changes objects. The models
are generated from the upstream Kubernetes OpenAPI document, so their field names and types are the real ones.
A custom kind without a stored CustomResourceDefinition keeps `x-kubernetes-preserve-unknown-fields`.
"""

from __future__ import annotations

import copy
import importlib
import re
from functools import cache
from typing import Any

from sandbox.apiserver import resources, storage

__all__ = ["PATCH_META", "REF_PREFIX", "Components", "component_name", "kind_schema", "model_for", "resolve"]

Obj = dict[str, Any]
REF_PREFIX = "#/components/schemas/"
_CRDS = "customresourcedefinitions.apiextensions.k8s.io"
_PRIMITIVES: dict[str, Obj] = {
    "str": {"type": "string"},
    "int": {"type": "integer", "format": "int64"},
    "float": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "object": {},  # IntOrString, Quantity-like and raw JSON fields: any value
}
_MODEL_NAME = re.compile(r"^([A-Z][a-z]+)?(V\d+(?:(?:alpha|beta)\d+)?)([A-Z]\w*)$")
_PRESERVE: Obj = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_CONTAINER = {"env": ("merge", "name"), "ports": ("merge", "containerPort"),
              "volumeDevices": ("merge", "devicePath"), "volumeMounts": ("merge", "mountPath")}
_CONDITIONS = {"conditions": ("merge", "type")}
# The `patchStrategy`/`patchMergeKey` struct tags of k8s.io/api and apimachinery's types (facts from their
# types.go) for the types the served kinds reach: kubectl 1.32 computes `apply` patches from them.
PATCH_META: dict[str, dict[str, tuple[str, str]]] = {
    "Container": _CONTAINER,
    "EphemeralContainer": _CONTAINER,
    "ContainerStatus": {
        "allocatedResourcesStatus": ("merge", "name"), "volumeMounts": ("merge", "mountPath"),
    },
    "DeploymentSpec": {"strategy": ("retainKeys", "")},
    "DeploymentStatus": _CONDITIONS,
    "JobStatus": _CONDITIONS,
    "NamespaceStatus": _CONDITIONS,
    "ObjectMeta": {"finalizers": ("merge", ""), "ownerReferences": ("merge", "uid")},
    "PodDisruptionBudgetSpec": {"selector": ("replace", "")},
    "PodDisruptionBudgetStatus": _CONDITIONS,
    "PodSpec": {
        "containers": ("merge", "name"), "ephemeralContainers": ("merge", "name"),
        "hostAliases": ("merge", "ip"), "imagePullSecrets": ("merge", "name"),
        "initContainers": ("merge", "name"),
        "resourceClaims": ("merge,retainKeys", "name"), "schedulingGates": ("merge", "name"),
        "topologySpreadConstraints": ("merge", "topologyKey"), "volumes": ("merge,retainKeys", "name"),
    },
    "PodStatus": {
        **_CONDITIONS, "hostIPs": ("merge", "ip"), "podIPs": ("merge", "ip"),
        "resourceClaimStatuses": ("merge,retainKeys", "name"),
    },
    "ReplicaSetStatus": _CONDITIONS,
    "ServiceAccount": {"secrets": ("merge", "name")},
    "ServiceSpec": {"ports": ("merge", "port")},
    "ServiceStatus": _CONDITIONS,
}


def _models() -> Any:
    return importlib.import_module("kubernetes_asyncio.client.models")


def component_name(model: str) -> str:
    """`V1DeploymentSpec` -> `v1.DeploymentSpec`, `CoreV1Event` -> `core.v1.Event` (explain shows the end)."""
    match = _MODEL_NAME.match(model)
    if match is None:
        return model
    group, version, type_name = match.groups()
    return ".".join(p for p in (group.lower() if group else "", version.lower(), type_name) if p)


def _description(cls: Any, attribute: str) -> str:
    """The field's description from the generated property docstring (between the summary and `:return:`)."""
    doc = str(getattr(getattr(cls, attribute, None), "__doc__", "") or "")
    paragraphs = [p.strip().replace("  # noqa: E501", "") for p in doc.split("\n\n")]
    return "\n\n".join(p for p in paragraphs[1:] if p and not p.startswith(":"))


def _type_schema(type_name: str, refs: list[str]) -> Obj:
    if type_name.startswith("list["):
        return {"type": "array", "items": _type_schema(type_name[5:-1], refs)}
    if type_name.startswith("dict("):
        value_type = type_name[5:-1].split(", ", 1)[1]
        return {"type": "object", "additionalProperties": _type_schema(value_type, refs)}
    if type_name in _PRIMITIVES:
        return dict(_PRIMITIVES[type_name])
    refs.append(type_name)
    return {"$ref": REF_PREFIX + component_name(type_name)}


@cache
def _model_schema(model: str) -> tuple[Obj, tuple[str, ...]]:
    """One model's schema (with `$ref`s) and the models it refers to; never mutate the cached result."""
    cls = getattr(_models(), model)
    patch_meta = PATCH_META.get(component_name(model).rsplit(".", 1)[-1], {})
    refs: list[str] = []
    properties: Obj = {}
    for attribute, type_name in cls.openapi_types.items():
        prop = _type_schema(type_name, refs)
        description = _description(cls, attribute)
        if "$ref" in prop:  # the upstream documents wrap references the same way
            prop = {"allOf": [prop]}
        if description:
            prop["description"] = description
        json_name = cls.attribute_map[attribute]
        if json_name in patch_meta:
            strategy, merge_key = patch_meta[json_name]
            prop["x-kubernetes-patch-strategy"] = strategy
            if merge_key:
                prop["x-kubernetes-patch-merge-key"] = merge_key
        properties[json_name] = prop
    return {"type": "object", "properties": properties}, tuple(refs)


def model_for(info: resources.ResourceInfo, version: str) -> str | None:
    """The kubernetes_asyncio model of a built-in kind (`V1Deployment`, `CoreV1Event`), if there is one."""
    prefix = (info.group.split(".")[0] or "core").capitalize()
    ver = version[:1].upper() + version[1:]
    models = _models()
    for name in (f"{prefix}{ver}{info.kind}", f"{ver}{info.kind}"):
        if hasattr(models, name):
            return name
    return None


class Components:
    """The `components.schemas` of one document, filled in as kinds and models are added."""

    def __init__(self) -> None:
        self.schemas: dict[str, Obj] = {}

    def model(self, model: str) -> str:
        """Add a model and everything it reaches; its component name."""
        name = component_name(model)
        pending = [model]
        while pending:
            current = pending.pop()
            key = component_name(current)
            if key in self.schemas:
                continue
            schema, refs = _model_schema(current)
            self.schemas[key] = copy.deepcopy(schema)
            pending.extend(refs)
        return name


def _gvk(info: resources.ResourceInfo, version: str) -> list[Obj]:
    return [{"group": info.group, "kind": info.kind, "version": version}]


def _crd_schema(store: storage.Storage, info: resources.ResourceInfo, version: str) -> Obj | None:
    crd = store.get(_CRDS, None, info.key)
    for served in ((crd or {}).get("spec") or {}).get("versions") or []:
        if served.get("name") == version:
            found = (served.get("schema") or {}).get("openAPIV3Schema")
            return copy.deepcopy(found) if isinstance(found, dict) else None
    return None


def kind_schema(
    components: Components, store: storage.Storage, info: resources.ResourceInfo, version: str
) -> str:
    """Add the schema of a served kind (tagged with its group-version-kind); its component name."""
    model = None if info.custom else model_for(info, version)
    if model is not None:
        name = components.model(model)
        components.schemas[name]["x-kubernetes-group-version-kind"] = _gvk(info, version)
        return name
    meta = components.model("V1ObjectMeta")
    schema = _crd_schema(store, info, version) or {
        "type": "object", "properties": {"spec": dict(_PRESERVE), "status": dict(_PRESERVE)}}
    schema.setdefault("type", "object")
    schema["properties"] = {
        **schema.get("properties", {}),
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"$ref": REF_PREFIX + meta},
    }
    schema["x-kubernetes-group-version-kind"] = _gvk(info, version)
    name = f"{info.group}.{version}.{info.kind}"
    components.schemas[name] = schema
    return name


def resolve(schema: Obj, schemas: dict[str, Obj]) -> Obj:
    """Follow a `$ref` (or a single-element `allOf` around one) to the schema it names."""
    while True:
        ref = schema.get("$ref")
        if ref is None and len(schema.get("allOf") or ()) == 1 and "properties" not in schema:
            ref = schema["allOf"][0].get("$ref")
        if not isinstance(ref, str) or not ref.startswith(REF_PREFIX):
            return schema
        schema = schemas.get(ref[len(REF_PREFIX) :], {})
