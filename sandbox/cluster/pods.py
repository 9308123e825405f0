"""Pods as the simulated kubelet would run them: names, unique IPs, readiness conditions.

Part of the sandbox cluster; pure helpers that build or read pod dicts, they never write to storage.
"""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "IpAllocator",
    "container_port",
    "controller_uid",
    "is_ready",
    "new_pod",
    "ready_status",
    "running_status",
]

_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"
NODE_NAME = "sandbox-node"
HOST_IP = "10.1.0.1"


class IpAllocator:
    """Hands out "10.0.<x>.<y>" addresses, never the same one twice in a cluster's life."""

    def __init__(self) -> None:
        self._next = 0

    def allocate(self) -> str:
        n = self._next
        self._next += 1
        return f"10.0.{(n // 254) % 256}.{n % 254 + 1}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def controller_uid(obj: dict[str, Any]) -> str | None:
    """The uid of the object's controlling owner, if any."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def is_ready(pod: dict[str, Any]) -> bool:
    """Pod readiness: condition Ready is "True" (and the pod is not being deleted)."""
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def new_pod(rs: dict[str, Any]) -> dict[str, Any]:
    """A pod for ReplicaSet `rs`: "<rs>-<5 chars>", template labels and spec, controller ownerReference."""
    meta = rs["metadata"]
    template = (rs.get("spec") or {}).get("template") or {}
    template_meta = template.get("metadata") or {}
    spec = copy.deepcopy(template.get("spec") or {})
    spec.setdefault("containers", [])
    spec["nodeName"] = NODE_NAME
    pod_meta: dict[str, Any] = {
        "name": f"{meta['name']}-{''.join(random.choices(_SUFFIX_CHARS, k=5))}",
        "namespace": meta.get("namespace", "default"),
        "labels": dict(template_meta.get("labels") or {}),
        "ownerReferences": [
            {
                "apiVersion": rs.get("apiVersion", "apps/v1"),
                "kind": "ReplicaSet",
                "name": meta["name"],
                "uid": meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if template_meta.get("annotations"):
        pod_meta["annotations"] = dict(template_meta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


def _conditions(ready: bool, now: str) -> list[dict[str, Any]]:
    flag = "True" if ready else "False"
    return [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
        {"type": "Ready", "status": flag, "lastTransitionTime": now},
    ]


def running_status(pod: dict[str, Any], ip: str, *, ready: bool) -> dict[str, Any]:
    """The status the kubelet reports once the pod runs on the sandbox node."""
    now = _now()
    containers = (pod.get("spec") or {}).get("containers") or []
    return {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "hostIP": HOST_IP,
        "startTime": now,
        "conditions": _conditions(ready, now),
        "containerStatuses": [
            {
                "name": c.get("name", ""),
                "image": c.get("image", ""),
                "imageID": f"sandbox://{c.get('image', '')}",
                "containerID": f"sandbox://{pod['metadata']['uid']}/{c.get('name', '')}",
                "ready": ready,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            }
            for c in containers
        ],
    }


def ready_status(status: dict[str, Any], ready: bool) -> dict[str, Any]:
    """`status` with Ready/ContainersReady (and container readiness) switched to `ready`."""
    now = _now()
    new = copy.deepcopy(status)
    flag = "True" if ready else "False"
    for cond in new.get("conditions") or []:
        if cond.get("type") in ("Ready", "ContainersReady") and cond.get("status") != flag:
            cond["status"] = flag
            cond["lastTransitionTime"] = now
    for container in new.get("containerStatuses") or []:
        container["ready"] = ready
    return new


def container_port(pod: dict[str, Any], name: str) -> int | None:
    """The containerPort named `name` in the pod's containers, if any."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == name and isinstance(port.get("containerPort"), int):
                return int(port["containerPort"])
    return None
