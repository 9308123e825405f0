"""The pods/eviction subresource (policy/v1 Eviction): delete a pod unless its PodDisruptionBudget forbids it.

Part of the sandbox API emulator; it reads and deletes through storage only. It follows the API server's
eviction rules (pkg/registry/core/pod/storage/eviction.go), computing the budget's disruption controller
numbers at the moment of the request instead of reading a PodDisruptionBudget status nobody maintains here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sandbox.apiserver import errors, routing, storage

__all__ = ["evict"]

Obj = dict[str, Any]
PDBS = "poddisruptionbudgets.policy"
_KINDS = {"Eviction", None}
_TOO_MANY = "Cannot evict pod as it would violate the pod's disruption budget."
_SEVERAL = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."


def _selects(selector: Any, labels: Mapping[str, Any]) -> bool:
    """A policy/v1 LabelSelector: null selects nothing, {} selects every pod."""
    if not isinstance(selector, Mapping):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for term in selector.get("matchExpressions") or []:
        key, operator, values = term.get("key"), term.get("operator"), set(term.get("values") or [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if (operator == "Exists") != (key in labels) and operator in ("Exists", "DoesNotExist"):
            return False
    return True


def _ready(pod: Obj) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _scaled(value: Any, total: int) -> int:
    """intstr.GetScaledValueFromIntOrPercent rounding up, as the disruption controller resolves a budget."""
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%") or not text[:-1].isdigit():
        raise errors.invalid("policy", "PodDisruptionBudget", "", f"invalid value for IntOrString: {text!r}")
    return math.ceil(int(text[:-1]) * total / 100)


def _controller(store: storage.Storage, namespace: str, pod: Obj) -> tuple[str, int] | None:
    """The uid and spec.replicas of the pod's controlling ReplicaSet; None when it has none."""
    ref = next((r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
    if ref is None or ref.get("kind") != "ReplicaSet":
        return None
    owner = store.get("replicasets.apps", namespace, str(ref.get("name")))
    if owner is None or owner["metadata"]["uid"] != ref.get("uid"):
        return None
    return owner["metadata"]["uid"], int((owner.get("spec") or {}).get("replicas", 1))


def _expected(store: storage.Storage, namespace: str, pods: list[Obj]) -> int:
    """The scale of the pods' controllers (each ReplicaSet once); a pod with no ReplicaSet counts itself."""
    alone, scales = 0, {}
    for pod in pods:
        found = _controller(store, namespace, pod)
        if found is None:
            alone += 1
        else:
            scales[found[0]] = found[1]
    return alone + sum(scales.values())


def _healthy(store: storage.Storage, pdb: Obj, namespace: str) -> tuple[int, int]:
    """(currentHealthy, desiredHealthy) of a budget, as its disruption controller would write them."""
    spec = pdb.get("spec") or {}
    pods = [p for p in store.list("pods", namespace)
            if _selects(spec.get("selector"), p["metadata"].get("labels") or {})]
    current = sum(1 for p in pods if _ready(p))
    if spec.get("maxUnavailable") is not None:
        expected = _expected(store, namespace, pods)
        return current, max(expected - _scaled(spec["maxUnavailable"], expected), 0)
    minimum = spec.get("minAvailable")
    if isinstance(minimum, int):
        return current, minimum
    if minimum is not None:
        return current, _scaled(minimum, _expected(store, namespace, pods))
    return current, 0


def _check_body(route: routing.Route, body: Any) -> None:
    if not isinstance(body, dict) or body.get("kind") not in _KINDS:
        raise errors.bad_request("the body of the request must be an Eviction")
    if (body.get("metadata") or {}).get("name") != route.name:
        raise errors.bad_request("name in URL does not match name in Eviction object")


def _refuse(pdb: Obj, current: int, desired: int) -> errors.ApiError:
    name = pdb["metadata"]["name"]
    message = f"The disruption budget {name} needs {desired} healthy pods and has {current} currently"
    cause = {"reason": "DisruptionBudget", "message": message}
    return errors.ApiError(429, "TooManyRequests", _TOO_MANY, details={"causes": [cause]})


def evict(route: routing.Route, store: storage.Storage, body: Any, *, dry_run: bool) -> Obj:
    """POST .../pods/<name>/eviction: delete the pod (a `Success` Status, served as 201) or refuse it."""
    assert route.name is not None and route.namespace is not None
    _check_body(route, body)
    pod = store.get("pods", route.namespace, route.name)
    if pod is None:
        raise errors.not_found("", "pods", route.name)
    phase = (pod.get("status") or {}).get("phase")
    # a terminating, pending or finished pod disrupts nothing more: no budget is consulted (canIgnorePDB)
    if not pod["metadata"].get("deletionTimestamp") and phase not in ("Pending", "Succeeded", "Failed"):
        labels = pod["metadata"].get("labels") or {}
        budgets = [b for b in store.list(PDBS, route.namespace)
                   if _selects((b.get("spec") or {}).get("selector"), labels)]
        if len(budgets) > 1:
            raise errors.ApiError(500, "InternalError", _SEVERAL)
        if budgets:
            pdb = budgets[0]
            current, desired = _healthy(store, pdb, route.namespace)
            always = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow"
            if _ready(pod):
                allowed = current - desired > 0
            else:  # IfHealthyBudget: an unready pod may go while the application is not disrupted already
                allowed = always or (current >= desired and desired > 0) or current - desired > 0
            if not allowed:
                raise _refuse(pdb, current, desired)
    if not dry_run:
        store.delete("pods", route.namespace, route.name)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
