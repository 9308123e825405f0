"""Builders for the validation tests: a valid Rollout, Ingresses and Services, dotted-path edits, `run`."""

from __future__ import annotations

import copy
from typing import Any

from statemachine import parsing, validation

__all__ = [
    "ALB",
    "DELETE",
    "HEADER_ROUTE",
    "ING",
    "PING_PONG",
    "PREFIX",
    "TR",
    "UNSUPPORTED",
    "C",
    "Changes",
    "apply",
    "default_ingresses",
    "default_services",
    "header_steps",
    "ingress_dict",
    "odd_ingress",
    "rollout_dict",
    "root_ingress",
    "run",
    "service_dict",
    "service_path",
]

DELETE = object()
PREFIX = 'The Rollout "demo" is invalid: '
ALB = "spec.strategy.canary.trafficRouting.alb"
UNSUPPORTED = "step type not supported by alb-rollouts yet"
Changes = dict[str, Any]


def rollout_dict() -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "demo", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "demo"}},
            "template": {"metadata": {"labels": {"app": "demo"}},
                         "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
            "strategy": {"canary": {
                "canaryService": "canary-svc",
                "stableService": "stable-svc",
                "trafficRouting": {"alb": {"ingress": "ing", "servicePort": 80}},
                "steps": [{"setWeight": 20}, {"pause": {"duration": 10}}, {"setWeight": 50}, {"pause": {}}],
            }},
        },
    }


def service_path(service: str, port: Any = None) -> dict[str, Any]:
    return {"path": "/*", "pathType": "ImplementationSpecific",
            "backend": {"service": {"name": service, "port": port or {"name": "use-annotation"}}}}


def ingress_dict(*paths: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "ing", "namespace": "default", "annotations": {"a": "b"}},
            "spec": {"ingressClassName": "alb",
                     "rules": [{"http": {"paths": list(paths) or [service_path("stable-svc")]}}]}}


def service_dict(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "default"}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata,
            "spec": {"selector": {"app": "demo"}}}


def default_ingresses() -> dict[str, Any]:
    return {"ing": ingress_dict(), "other": ingress_dict()}


def default_services() -> dict[str, Any]:
    return {name: service_dict(name) for name in ("stable-svc", "canary-svc", "ping-svc", "pong-svc")}


def apply(obj: dict[str, Any], changes: Changes) -> dict[str, Any]:
    """A copy of obj with each dotted path set (or removed with DELETE); missing or non-object parents
    become objects."""
    result = copy.deepcopy(obj)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = result
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = copy.deepcopy(value)
    return result


def run(changes: Changes, ingresses: dict[str, Any] | None = None,
        services: dict[str, Any] | None = None) -> str | None:
    rollout = parsing.parse_rollout(apply(rollout_dict(), changes))
    return validation.validate(
        rollout,
        ingresses=default_ingresses() if ingresses is None else ingresses,
        services=default_services() if services is None else services,
    )


C = "spec.strategy.canary"
TR = f"{C}.trafficRouting"
PING_PONG = {f"{C}.pingPong": {"pingService": "ping-svc", "pongService": "pong-svc"},
             f"{TR}.alb.rootService": "root-svc"}
HEADER_ROUTE = {"setHeaderRoute": {"name": "hr",
                                   "match": [{"headerName": "x", "headerValue": {"exact": "1"}}]}}


def header_steps(*matches: dict[str, Any]) -> Changes:
    return {f"{C}.steps": [{"setWeight": 10}, {"setHeaderRoute": {"name": "hr", "match": list(matches)}}],
            f"{TR}.managedRoutes": [{"name": "hr"}]}


def root_ingress(*paths: dict[str, Any]) -> dict[str, Any]:
    return {"ing": ingress_dict(*(paths or (service_path("root-svc"),)))}


def odd_ingress(changes: Changes) -> dict[str, Any]:
    return {"ing": apply(ingress_dict(), changes)}


ING = f'{ALB}.ingress: Invalid value: "ing": ingress `ing`'
