"""Builders for the ReplicaSet tests: a raw Rollout, reference-made ReplicaSets, owner references."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["DEPLOYMENT", "FOREIGN", "HASH", "NEW_TEMPLATE", "NON_CONTROLLER", "OURS", "TEMPLATE", "UID",
           "names", "rollout", "rs"]

HASH = "rollouts-pod-template-hash"
UID = "0b6c1f9e-rollout"
TEMPLATE: dict[str, Any] = {"metadata": {"labels": {"app": "demo"}},
                            "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}
NEW_TEMPLATE: dict[str, Any] = {"metadata": {"labels": {"app": "demo"}},
                                "spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}
OURS = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "demo", "uid": UID,
        "controller": True, "blockOwnerDeletion": True}
FOREIGN = {**OURS, "uid": "another-rollout"}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo", "uid": "d-1", "controller": True}
NON_CONTROLLER = {"apiVersion": "v1", "kind": "ConfigMap", "name": "keep", "uid": "cm-1"}


def rollout(template: dict[str, Any] | None = None, *, annotations: dict[str, str] | None = None,
            replicas: int | None = 5, selector: Any = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"selector": {"matchLabels": {"app": "demo"}} if selector is None else selector,
                            "template": copy.deepcopy(TEMPLATE if template is None else template), **spec}
    if replicas is not None:
        body["replicas"] = replicas
    metadata = {"name": "demo", "namespace": "default", "uid": UID, "annotations": annotations or {}}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": metadata, "spec": body,
            "status": {}}


def rs(pod_hash: str, *, template: dict[str, Any] | None = None, owner: dict[str, Any] | None = OURS,
       revision: str | None = "1", labels: dict[str, str] | None = None, namespace: str = "default",
       created: str = "2026-11-01T00:00:00Z", annotations: dict[str, str] | None = None,
       **extra: Any) -> dict[str, Any]:
    """A ReplicaSet as the reference made it: hash in its labels, selector and pod template."""
    pod = copy.deepcopy(TEMPLATE if template is None else template)
    pod["metadata"]["labels"][HASH] = pod_hash
    metadata: dict[str, Any] = {
        "name": f"demo-{pod_hash}", "namespace": namespace, "uid": f"rs-{pod_hash}", "resourceVersion": "42",
        "creationTimestamp": created,
        "labels": {"app": "demo", HASH: pod_hash} if labels is None else labels,
        "annotations": {**({"rollout.argoproj.io/revision": revision} if revision is not None else {}),
                        **(annotations or {})},
    }
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    metadata.update(extra)
    selector = {"matchLabels": {"app": "demo", HASH: pod_hash}}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": metadata,
            "spec": {"replicas": 5, "selector": selector, "template": pod},
            "status": {"replicas": 5, "readyReplicas": 5, "availableReplicas": 5}}


def names(items: list[Any]) -> list[str]:
    return [item["metadata"]["name"] for item in items]
