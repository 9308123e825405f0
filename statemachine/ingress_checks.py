"""Reading raw Ingress and Service dicts for validation, whatever their shape.

Room: plan (pure). Used by `statemachine.validation` and by anyone who needs to ask an Ingress or a Service
a question before acting. Every function accepts any JSON-like value and never raises; it never does I/O
and never mutates its input.

Helpers:
- `backend_service(path)`: the service a path routes to (networking/v1 `backend.service.name` or legacy
  `backend.serviceName`), None for a `resource` backend or any odd shape.
- `ingress_has_service(ingress, service)` / `rules_have_service(rules, service)`: whether any path of any
  http rule routes to `service`; odd shapes read as "no".
- `type_problem(ingress)`: the first field whose JSON type is wrong, as (field, "must be …"); shared with
  `service.alb.rules.check_shape`, which guards every write.
- `ingress_shape_problem(ingress, name)`: a sentence naming the Ingress and what is unusual about it
  (a field of the wrong type, a rule without `http`, zero paths, a path without a backend or with a
  `resource` backend), or None when every rule can be read and written.
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
    "type_problem",
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


_NOUNS: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}


def _wrong(value: Any, kind: type, where: str, *, required: bool = False) -> tuple[str, str] | None:
    """(where, "must be …") when `value` is not of `kind`; a missing value is fine unless `required`."""
    if (value is None and not required) or isinstance(value, kind):
        return None
    noun = _NOUNS[kind]
    return where, f"must be {noun}"


def _rule_type_problem(rule: Any, where: str) -> tuple[str, str] | None:
    problem = _wrong(rule, dict, where, required=True)
    if problem:
        return problem
    http = rule.get("http")
    problem = _wrong(http, dict, f"{where}.http")
    paths = http.get("paths") if isinstance(http, dict) else None
    problem = problem or _wrong(paths, list, f"{where}.http.paths")
    if problem:
        return problem
    for p, path in enumerate(paths or []):
        at = f"{where}.http.paths[{p}]"
        problem = _wrong(path, dict, at, required=True)
        backend = path.get("backend") if isinstance(path, dict) else None
        problem = problem or _wrong(backend, dict, f"{at}.backend")
        service = backend.get("service") if isinstance(backend, dict) else None
        problem = problem or _wrong(service, dict, f"{at}.backend.service")
        if problem:
            return problem
    return None


def type_problem(ingress: Any) -> tuple[str, str] | None:
    """(field, "must be …") for the first field we read or write whose JSON type is wrong, else None.

    Missing fields are fine here (no metadata, annotations, spec, rules, http, paths or backend): whether the
    Ingress can route is `ingress_shape_problem`'s question. `field` is "" for the object itself.
    """
    if not isinstance(ingress, dict):
        return "", "must be a JSON object"
    metadata, spec = ingress.get("metadata"), ingress.get("spec")
    problem = _wrong(metadata, dict, "metadata") or _wrong(spec, dict, "spec")
    if problem:
        return problem
    annotations = (metadata or {}).get("annotations")
    problem = _wrong(annotations, dict, "metadata.annotations")
    if problem:
        return problem
    for key, value in (annotations or {}).items():
        problem = problem or _wrong(value, str, f"metadata.annotations[{key}]", required=True)
    rules = (spec or {}).get("rules")
    problem = (problem or _wrong((spec or {}).get("ingressClassName"), str, "spec.ingressClassName")
               or _wrong(rules, list, "spec.rules"))
    if problem:
        return problem
    for r, rule in enumerate(rules or []):
        problem = _rule_type_problem(rule, f"spec.rules[{r}]")
        if problem:
            return problem
    return None


def _usability_problem(ingress: dict[str, Any]) -> str | None:
    for r, rule in enumerate(_rules(ingress)):
        where = f"spec.rules[{r}]"
        if rule.get("http") is None:
            return f"{where} has no http section: alb-rollouts can route only http rules"
        paths = _paths(rule)
        if not paths:
            return f"{where}.http has no paths"
        for p, path in enumerate(paths):
            backend = path.get("backend")
            if backend is None:
                return f"{where}.http.paths[{p}] has no backend"
            if backend.get("resource") is not None:
                return f"{where}.http.paths[{p}] has a resource backend: alb-rollouts routes only to Services"
            if backend_service(path) is None:
                return f"{where}.http.paths[{p}].backend names no service"
    return None


def ingress_shape_problem(ingress: Any, name: str) -> str | None:
    """Why an Ingress cannot be read rule by rule (a sentence naming it), or None when it can."""
    label = f"ingress `{name}`"
    wrong_type = type_problem(ingress)
    if wrong_type is not None:
        field, what = wrong_type
        return f"{label} {field} {what}" if field else f"{label} {what}"
    problem = _usability_problem(ingress)
    return f"{label} {problem}" if problem else None


def managed_by(service: Any) -> str | None:
    """The rollout named in a Service's managed-by annotation, or None when it has none."""
    metadata = service.get("metadata") if isinstance(service, dict) else None
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict) or MANAGED_BY_ANNOTATION not in annotations:
        return None
    value = annotations[MANAGED_BY_ANNOTATION]
    return value if isinstance(value, str) else str(value)
