"""Reading raw Ingress and Service dicts for validation, whatever their shape.

Room: plan (pure). Used by `statemachine.validation` and by anyone who needs to ask an Ingress or a Service
a question before acting. Every function accepts any JSON-like value and never raises; it never does I/O
and never mutates its input.

Helpers:
- `backend_service(path)`: the service a path routes to (networking/v1 `backend.service.name` or legacy
  `backend.serviceName`), None for a `resource` backend or any odd shape.
- `ingress_has_service(ingress, service)` / `rules_have_service(rules, service)`: whether any path of any
  http rule routes to `service`; odd shapes read as "no".
- `ingress_shape_problem(ingress, name)`: a sentence naming the Ingress and what is unusual about it
  (annotations not a map of strings, rules not a list, a rule without `http`, zero paths, a path without
  a backend or with a `resource` backend), or None when every rule can be read and written.
- `service_ports(ingress, service)`: where `service` is routed, as (location, port) pairs; with
  `is_use_annotation(port)` and `describe_port(port)` callers check the port the LBC needs to read an action.
- `managed_by(service)`: the `argo-rollouts.argoproj.io/managed-by-rollouts` annotation of a Service.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = [
    "MANAGED_BY_ANNOTATION",
    "USE_ANNOTATION",
    "backend_service",
    "describe_port",
    "ingress_has_service",
    "ingress_shape_problem",
    "is_use_annotation",
    "managed_by",
    "rules_have_service",
    "service_ports",
]

MANAGED_BY_ANNOTATION = "argo-rollouts.argoproj.io/managed-by-rollouts"
USE_ANNOTATION = "use-annotation"


def _rules(ingress: Any) -> list[Any]:
    spec = ingress.get("spec") if isinstance(ingress, dict) else None
    rules = spec.get("rules") if isinstance(spec, dict) else None
    return rules if isinstance(rules, list) else []


def _paths(rule: Any) -> list[Any]:
    http = rule.get("http") if isinstance(rule, dict) else None
    paths = http.get("paths") if isinstance(http, dict) else None
    return paths if isinstance(paths, list) else []


def _backend_service(path: Any) -> tuple[str | None, Any]:
    """The service name a path routes to and its port value, or (None, None)."""
    backend = path.get("backend") if isinstance(path, dict) else None
    if not isinstance(backend, dict):
        return None, None
    service = backend.get("service")
    if isinstance(service, dict):
        name = service.get("name")
        return (name, service.get("port")) if isinstance(name, str) else (None, None)
    legacy = backend.get("serviceName")
    return (legacy, backend.get("servicePort")) if isinstance(legacy, str) else (None, None)


def _located_paths(ingress: Any) -> Iterator[tuple[str, Any]]:
    for r, rule in enumerate(_rules(ingress)):
        for p, path in enumerate(_paths(rule)):
            yield f"spec.rules[{r}].http.paths[{p}]", path


def backend_service(path: Any) -> str | None:
    """The service a path routes to, or None for a `resource` backend, no backend or an odd shape."""
    return _backend_service(path)[0]


def rules_have_service(rules: Any, service: str) -> bool:
    """Whether any path of any rule in `spec.rules` routes to `service` (rules without `http` route none)."""
    rule_list = rules if isinstance(rules, list) else []
    return any(backend_service(path) == service for rule in rule_list for path in _paths(rule))


def ingress_has_service(ingress: Any, service: str) -> bool:
    """Whether any path of any http rule routes to `service` (reference HasRuleWithService, crash-free)."""
    return rules_have_service(_rules(ingress), service)


def service_ports(ingress: Any, service: str) -> list[tuple[str, Any]]:
    """(location, port) for every path routing to `service`; port is the raw `port`/`servicePort` value."""
    found = []
    for where, path in _located_paths(ingress):
        name, port = _backend_service(path)
        if name == service:
            found.append((where, port))
    return found


def is_use_annotation(port: Any) -> bool:
    """Whether a backend port tells the LBC to read the action annotation (v1 `{name: use-annotation}`)."""
    name = port.get("name") if isinstance(port, dict) else port
    return isinstance(name, str) and name == USE_ANNOTATION


def describe_port(port: Any) -> str:
    """A port as a user reads it: `port 80`, `port name "http"`, `no port`."""
    if isinstance(port, dict):
        if isinstance(port.get("name"), str) and port["name"]:
            return f'port name "{port["name"]}"'
        number = port.get("number")
        return f"port {number}" if number is not None else "no port"
    if isinstance(port, str) and port and not port.isdigit():
        return f'port name "{port}"'
    return f"port {port}" if port is not None and port != "" else "no port"


def _annotations_problem(ingress: dict[str, Any], label: str) -> str | None:
    metadata = ingress.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        return f"{label} metadata must be an object"
    annotations = metadata.get("annotations")
    if annotations is None:
        return None  # no annotations is ordinary: we add ours
    if not isinstance(annotations, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
    ):
        return f"{label} metadata.annotations must be a map of strings"
    return None


def _path_problem(path: Any, label: str, where: str) -> str | None:
    if not isinstance(path, dict):
        return f"{label} {where} must be an object"
    backend = path.get("backend")
    if not isinstance(backend, dict):
        return f"{label} {where} has no backend"
    if backend.get("resource") is not None:
        return f"{label} {where} has a resource backend: alb-rollouts routes only to Services"
    if backend_service(path) is None:
        return f"{label} {where}.backend names no service"
    return None


def ingress_shape_problem(ingress: Any, name: str) -> str | None:
    """Why an Ingress cannot be read rule by rule (a sentence naming it), or None when it can."""
    label = f"ingress `{name}`"
    if not isinstance(ingress, dict):
        return f"{label} must be a JSON object"
    problem = _annotations_problem(ingress, label)
    if problem:
        return problem
    spec = ingress.get("spec")
    if spec is None:
        return None
    if not isinstance(spec, dict):
        return f"{label} spec must be an object"
    rules = spec.get("rules")
    if rules is None:
        return None
    if not isinstance(rules, list):
        return f"{label} spec.rules must be a list"
    for r, rule in enumerate(rules):
        where = f"spec.rules[{r}]"
        if not isinstance(rule, dict):
            return f"{label} {where} must be an object"
        http = rule.get("http")
        if http is None:
            return f"{label} {where} has no http section: alb-rollouts can route only http rules"
        if not isinstance(http, dict):
            return f"{label} {where}.http must be an object"
        paths = http.get("paths")
        if paths is not None and not isinstance(paths, list):
            return f"{label} {where}.http.paths must be a list"
        if not paths:
            return f"{label} {where}.http has no paths"
        for p, path in enumerate(paths):
            problem = _path_problem(path, label, f"{where}.http.paths[{p}]")
            if problem:
                return problem
    return None


def managed_by(service: Any) -> str | None:
    """The rollout named in a Service's managed-by annotation, or None when it has none."""
    metadata = service.get("metadata") if isinstance(service, dict) else None
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict) or MANAGED_BY_ANNOTATION not in annotations:
        return None
    value = annotations[MANAGED_BY_ANNOTATION]
    return value if isinstance(value, str) else str(value)
