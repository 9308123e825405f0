"""Index functions for the informer caches: which Rollouts an Ingress, Service or Deployment (workloadRef)
concerns, which ReplicaSets an owner has, which EndpointSlices and TargetGroupBindings belong to a Service,
which objects a namespace holds (every store), which AnalysisRuns and ReplicaSets a Rollout controls, which
ReplicaSets have no controller, which Services a Rollout's managed-by annotation claims and which Ingresses'
bookkeeping annotation lists a Rollout.

Room: observe. Pure functions over raw objects: they never raise on malformed input (a bad object is simply
filed under nothing) and never do I/O. Values are "namespace/name" keys, or uids for owners.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.alb import bookkeeping
from service.kube import caches
from statemachine import ingress_checks, workload_refs

__all__ = [
    "ANALYSIS_RUN_INDEXERS",
    "BY_BOOKKEEPING",
    "BY_CONTROLLER",
    "BY_INGRESS",
    "BY_MANAGED_BY",
    "BY_NAMESPACE",
    "BY_ORPHAN_NAMESPACE",
    "BY_OWNER",
    "BY_SERVICE",
    "BY_WORKLOAD",
    "ENDPOINT_SLICE_INDEXERS",
    "INGRESS_INDEXERS",
    "REPLICA_SET_INDEXERS",
    "ROLLOUT_INDEXERS",
    "SERVICE_INDEXERS",
    "SERVICE_NAME_LABEL",
    "TARGET_GROUP_BINDING_INDEXERS",
    "bookkept_rollouts",
    "controller_uids",
    "endpoint_slice_services",
    "in_namespace",
    "managing_rollouts",
    "namespaces",
    "orphan_namespaces",
    "owner_uids",
    "rollout_ingresses",
    "rollout_services",
    "rollout_workloads",
    "target_group_binding_services",
    "with_namespace",
]

BY_INGRESS = "ingress"
BY_SERVICE = "service"
BY_OWNER = "owner"
BY_WORKLOAD = "workload"
BY_NAMESPACE = "namespace"
BY_CONTROLLER = "controller"
BY_ORPHAN_NAMESPACE = "orphan-namespace"
BY_MANAGED_BY = "managed-by"
BY_BOOKKEEPING = "bookkeeping"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _namespace(obj: Mapping[str, Any]) -> str:
    namespace = _map(obj.get("metadata")).get("namespace")
    return namespace if isinstance(namespace, str) else ""


def _keys(namespace: str, names: list[Any]) -> list[str]:
    return [f"{namespace}/{name}" for name in names if isinstance(name, str) and name]


def _canary(rollout: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(_map(_map(rollout.get("spec")).get("strategy")).get("canary"))


def rollout_ingresses(rollout: caches.RawObject) -> list[str]:
    """The Ingresses a Rollout's ALB traffic routing names (`ingress` and `ingresses`), as keys."""
    alb = _map(_map(_canary(rollout).get("trafficRouting")).get("alb"))
    names: list[Any] = [alb.get("ingress")]
    many = alb.get("ingresses")
    if isinstance(many, list):
        names.extend(many)
    return _keys(_namespace(rollout), names)


def rollout_services(rollout: caches.RawObject) -> list[str]:
    """The Services a Rollout routes through: canary, stable, ALB root, and ping/pong, as keys."""
    canary = _canary(rollout)
    ping_pong = _map(canary.get("pingPong"))
    alb = _map(_map(canary.get("trafficRouting")).get("alb"))
    names = [
        canary.get("canaryService"),
        canary.get("stableService"),
        alb.get("rootService"),
        ping_pong.get("pingService"),
        ping_pong.get("pongService"),
    ]
    return _keys(_namespace(rollout), names)


def rollout_workloads(rollout: caches.RawObject) -> list[str]:
    """The Deployment a Rollout's `spec.workloadRef` names (apps Deployment only), as a key."""
    key = workload_refs.referenced(rollout)
    return [key] if key is not None else []


def owner_uids(obj: caches.RawObject) -> list[str]:
    """The uids of an object's owners (a ReplicaSet's Rollout is one of them)."""
    refs = _map(obj.get("metadata")).get("ownerReferences")
    if not isinstance(refs, list):
        return []
    uids = (_map(ref).get("uid") for ref in refs)
    return [uid for uid in uids if isinstance(uid, str) and uid]


def controller_uids(obj: caches.RawObject) -> list[str]:
    """The uid of an object's controller (the ownerReference with `controller: true`), if any."""
    refs = _map(obj.get("metadata")).get("ownerReferences")
    if not isinstance(refs, list):
        return []
    uids = (_map(ref).get("uid") for ref in refs if _map(ref).get("controller") is True)
    return [uid for uid in uids if isinstance(uid, str) and uid]


def namespaces(obj: caches.RawObject) -> list[str]:
    """An object's namespace (client-go's MetaNamespaceIndexFunc); cluster-scoped objects: nothing."""
    namespace = _namespace(obj)
    return [namespace] if namespace else []


def orphan_namespaces(obj: caches.RawObject) -> list[str]:
    """The namespace of an object no ownerReference controls (what a Rollout may adopt), else nothing."""
    refs = _map(obj.get("metadata")).get("ownerReferences")
    # the test of statemachine.ownership.controller_ref: any mapping entry with `controller: true`, uid or not
    if isinstance(refs, list) and any(_map(ref).get("controller") is True for ref in refs):
        return []
    return namespaces(obj)


def managing_rollouts(service: caches.RawObject) -> list[str]:
    """The Rollout a Service's managed-by annotation names (ingress_checks.managed_by), as a key."""
    namespace = _namespace(service)
    rollout = ingress_checks.managed_by(service)
    return [f"{namespace}/{rollout}"] if namespace and rollout is not None else []


def bookkept_rollouts(ingress: caches.RawObject) -> list[str]:
    """The Rollouts an Ingress's bookkeeping annotation lists, as keys; a malformed annotation: nothing."""
    namespace = _namespace(ingress)
    value = _map(_map(ingress.get("metadata")).get("annotations")).get(bookkeeping.KEY)
    if not namespace or not isinstance(value, str):
        return []
    try:
        managed = bookkeeping.parse(value)
    except (ValueError, TypeError, RecursionError):  # an index function must never raise (caches' rule)
        return []
    return [f"{namespace}/{rollout}" for rollout in managed]


def with_namespace(indexers: Mapping[str, caches.IndexFunc] | None = None) -> dict[str, caches.IndexFunc]:
    """`indexers` plus the namespace index every namespaced store carries."""
    return {**(indexers or {}), BY_NAMESPACE: namespaces}


def in_namespace(store: caches.Store, namespace: str) -> list[caches.RawObject]:
    """The objects of `namespace`, in key order (as a filtered `list()` gave them), read off the namespace
    index so that a reconcile never walks other namespaces' objects."""
    return store.by_index(BY_NAMESPACE, namespace)


def endpoint_slice_services(slice_: caches.RawObject) -> list[str]:
    """The Service an EndpointSlice belongs to (label `kubernetes.io/service-name`), as a key."""
    labels = _map(_map(slice_.get("metadata")).get("labels"))
    return _keys(_namespace(slice_), [labels.get(SERVICE_NAME_LABEL)])


def target_group_binding_services(binding: caches.RawObject) -> list[str]:
    """The Service a TargetGroupBinding registers (`spec.serviceRef.name`), as a key."""
    ref = _map(_map(binding.get("spec")).get("serviceRef"))
    return _keys(_namespace(binding), [ref.get("name")])


ROLLOUT_INDEXERS: Mapping[str, caches.IndexFunc] = {
    BY_INGRESS: rollout_ingresses,
    BY_SERVICE: rollout_services,
    BY_WORKLOAD: rollout_workloads,
}
REPLICA_SET_INDEXERS: Mapping[str, caches.IndexFunc] = {
    BY_OWNER: owner_uids,
    BY_CONTROLLER: controller_uids,
    BY_ORPHAN_NAMESPACE: orphan_namespaces,
}
SERVICE_INDEXERS: Mapping[str, caches.IndexFunc] = {BY_MANAGED_BY: managing_rollouts}
INGRESS_INDEXERS: Mapping[str, caches.IndexFunc] = {BY_BOOKKEEPING: bookkept_rollouts}
ANALYSIS_RUN_INDEXERS: Mapping[str, caches.IndexFunc] = {BY_CONTROLLER: controller_uids}
ENDPOINT_SLICE_INDEXERS: Mapping[str, caches.IndexFunc] = {BY_SERVICE: endpoint_slice_services}
TARGET_GROUP_BINDING_INDEXERS: Mapping[str, caches.IndexFunc] = {BY_SERVICE: target_group_binding_services}
