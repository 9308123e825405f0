"""Builders for the ALB rendering tests: Ingress dicts and a JSON merge-patch applier."""

from __future__ import annotations

import copy
from typing import Any


def service_path(service: str, port: object = "use-annotation", path: str = "/*") -> dict[str, Any]:
    port_ref = {"name": port} if isinstance(port, str) else {"number": port}
    return {
        "path": path,
        "pathType": "ImplementationSpecific",
        "backend": {"service": {"name": service, "port": port_ref}},
    }


def build_ingress(
    name: str = "ingress",
    *,
    namespace: str = "default",
    services: tuple[str, ...] = ("stable",),
    annotations: dict[str, str] | None = None,
    ingress_class: str | None = "alb",
    resource_version: str | None = "7",
    rules: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations is not None:
        metadata["annotations"] = dict(annotations)
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    spec: dict[str, Any] = {}
    if ingress_class is not None:
        spec["ingressClassName"] = ingress_class
    if rules is None:
        rules = [{"http": {"paths": [service_path(s) for s in services]}}]
    spec["rules"] = rules
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata, "spec": spec}


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, as the API server applies an `application/merge-patch+json` body."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result
