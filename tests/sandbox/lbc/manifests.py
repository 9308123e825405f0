"""Object builders shared by the LBC simulator, traffic-probe, control and whole-sandbox tests."""

from __future__ import annotations

import json
from typing import Any

from sandbox.apiserver.storage import Storage

INGRESSES = "ingresses.networking.k8s.io"
SLICES = "endpointslices.discovery.k8s.io"
TGBS = "targetgroupbindings.elbv2.k8s.aws"

__all__ = [
    "INGRESSES", "SLICES", "TGBS", "action_paths", "backend_pair", "endpoint_slice", "forward", "ingress",
    "pod_ips", "ready_pod", "replica_set", "replicated_pair", "service",
]


def service(name: str, *, port: int = 80, target_port: int | str = 8080, port_name: str = "http",
            namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": name},
                 "ports": [{"name": port_name, "port": port, "targetPort": target_port, "protocol": "TCP"}]},
    }


def endpoint_slice(service_name: str, ready: list[str], not_ready: tuple[str, ...] = (), *, port: int = 8080,
                   port_name: str = "http", namespace: str = "default") -> dict[str, Any]:
    endpoints = [{"addresses": [ip], "conditions": {"ready": True}} for ip in ready]
    endpoints += [{"addresses": [ip], "conditions": {"ready": False}} for ip in not_ready]
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": f"{service_name}-slice", "namespace": namespace,
                     "labels": {"kubernetes.io/service-name": service_name}},
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        "endpoints": endpoints,
    }


def forward(*groups: tuple[str, int], port: str = "80", sticky: int | None = None) -> str:
    """The annotation value Argo Rollouts writes (canary first, stable last)."""
    config: dict[str, Any] = {"TargetGroups": [{"ServiceName": name, "ServicePort": port, "Weight": weight}
                                               for name, weight in groups]}
    if sticky is not None:
        config["TargetGroupStickinessConfig"] = {"Enabled": True, "DurationSeconds": sticky}
    return json.dumps({"Type": "forward", "ForwardConfig": config}, separators=(",", ":"))


def action_paths(*actions: str) -> list[dict[str, Any]]:
    """One `/` Prefix path per action name, each a `use-annotation` backend (a header route goes first)."""
    return [{"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": action, "port": {"name": "use-annotation"}}}}
            for action in actions]


def ingress(name: str = "app", *, annotations: dict[str, str] | None = None, backend: str = "stable",
            use_annotation: bool = True, class_name: str | None = "alb",
            paths: list[dict[str, Any]] | None = None, host: str | None = None,
            namespace: str = "default") -> dict[str, Any]:
    port = {"name": "use-annotation"} if use_annotation else {"number": 80}
    default_paths = [{"path": "/", "pathType": "Prefix",
                      "backend": {"service": {"name": backend, "port": port}}}]
    rule: dict[str, Any] = {"http": {"paths": paths if paths is not None else default_paths}}
    if host:
        rule["host"] = host
    spec: dict[str, Any] = {"rules": [rule]}
    if class_name is not None:
        spec["ingressClassName"] = class_name
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace, "annotations": dict(annotations or {})},
        "spec": spec,
    }


def ready_pod(storage: Storage, name: str, ip: str, *, ready: bool = True, app: str = "stable") -> None:
    """A pod with an IP and a Ready condition (status goes through the status subresource, as kubelet's)."""
    storage.create("pods", {"apiVersion": "v1", "kind": "Pod",
                            "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
                            "spec": {"containers": [{"name": "app", "image": "app"}]}})
    status = {"phase": "Running", "podIP": ip,
              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    storage.merge_patch("pods", "default", name, {"status": status}, subresource="status")


def replica_set(name: str, replicas: int, *, app: str) -> dict[str, Any]:
    labels = {"app": app}
    container = {"name": "app", "image": "app:1", "ports": [{"name": "http", "containerPort": 8080}]}
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}},
    }


def pod_ips(storage: Storage, app: str, *, ready: bool = True) -> set[str]:
    """IPs of the pods labelled app=<app> that are (or, with ready=False, are not) Ready."""
    found = set()
    for pod in storage.list("pods", "default", label_selector=f"app={app}"):
        status = pod.get("status") or {}
        conditions = status.get("conditions") or []
        is_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        if status.get("podIP") and is_ready == ready:
            found.add(status["podIP"])
    return found


def backend_pair(storage: Storage, *, stable: list[str], canary: list[str]) -> None:
    """Services stable and canary with EndpointSlices listing the given ready IPs."""
    for name, ips in (("stable", stable), ("canary", canary)):
        storage.create("services", service(name))
        storage.create(SLICES, endpoint_slice(name, ips))


def replicated_pair(storage: Storage, *, stable: int, canary: int) -> None:
    """Services stable and canary backed by ReplicaSets of these sizes (the cluster makes the pods)."""
    for name, replicas in (("stable", stable), ("canary", canary)):
        storage.create("services", service(name))
        storage.create("replicasets.apps", replica_set(name, replicas, app=name))
