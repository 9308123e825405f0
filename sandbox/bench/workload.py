"""What `alb-rollouts bench` applies: per rollout a stable and a canary Service, an `alb` Ingress in one of A
IngressGroups (one ALB each) and a one-replica canary Rollout (setWeight 20, then an indefinite pause).

Room: the benchmark. Plain dicts as a user would `kubectl apply` them; no I/O here.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["ACTION_PREFIX", "IMAGES", "NAMESPACE", "Paths", "canary_resource_id", "canary_weight", "objects",
           "rollout_name"]

NAMESPACE = "bench"
IMAGES = ("nginx:1.26", "nginx:1.27")
ACTION_PREFIX = "alb.ingress.kubernetes.io/actions."
STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {}}]
SCALE_DOWN_DELAY = 2
"""The old ReplicaSet goes 2 s after the promotion (default 30 s): the fleet is quiet before the restart."""


class Paths:
    """API collection paths of one namespace."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.services = f"/api/v1/namespaces/{namespace}/services"
        self.ingresses = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses"
        self.rollouts = f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/rollouts"


def rollout_name(index: int) -> str:
    return f"ro-{index:04d}"


def canary_resource_id(namespace: str, name: str) -> str:
    """The LBC's `ingress.k8s.aws/resource` of the canary target group (`<ns>/<ingress>-<service>:<port>`)."""
    return f"{namespace}/{name}-{name}-canary:80"


def canary_weight(ingress: dict[str, Any]) -> int | None:
    """The canary Service's weight in the Ingress's actions annotation (None when there is none)."""
    name = str((ingress.get("metadata") or {}).get("name", ""))
    annotations = (ingress.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(f"{ACTION_PREFIX}{name}-stable")
    if not text:
        return None
    try:
        groups = json.loads(text)["ForwardConfig"]["TargetGroups"]
        return next((int(g["Weight"]) for g in groups if g.get("ServiceName") == f"{name}-canary"), None)
    except (ValueError, KeyError, TypeError):
        return None


def template(name: str, image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "web", "image": image,
                                     "ports": [{"name": "http", "containerPort": 8080}]}]}}


def objects(namespace: str, name: str, group: str) -> list[tuple[str, dict[str, Any]]]:
    """(collection path, body) of one rollout's objects, in the order they are created."""
    paths = Paths(namespace)

    def service(role: str) -> tuple[str, dict[str, Any]]:
        return paths.services, {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"{name}-{role}", "namespace": namespace},
            "spec": {"selector": {"app": name},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}

    backend = {"service": {"name": f"{name}-stable", "port": {"name": "use-annotation"}}}
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": name, "namespace": namespace,
                            "annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing",
                                            "alb.ingress.kubernetes.io/target-type": "ip",
                                            "alb.ingress.kubernetes.io/group.name": group}},
               "spec": {"ingressClassName": "alb", "rules": [{"host": f"{name}.{namespace}.example", "http": {
                   "paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}]}}
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
               "metadata": {"name": name, "namespace": namespace},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                        "template": template(name, IMAGES[0]),
                        "strategy": {"canary": {
                            "canaryService": f"{name}-canary", "stableService": f"{name}-stable",
                            "trafficRouting": {"alb": {"ingress": name, "servicePort": 80}},
                            "scaleDownDelaySeconds": SCALE_DOWN_DELAY, "steps": STEPS}}}}
    return [service("stable"), service("canary"), (paths.ingresses, ingress), (paths.rollouts, rollout)]
