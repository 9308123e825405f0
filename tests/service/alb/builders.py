"""Builders for the ALB rendering tests: Ingress dicts, and the JSON merge-patch applier (shared with the
planner tests)."""

from __future__ import annotations

from typing import Any

from tests.statemachine.conftest import merge as apply_merge_patch

__all__ = ["apply_merge_patch", "build_ingress", "service_path"]


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
