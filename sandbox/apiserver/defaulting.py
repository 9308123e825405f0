"""What a real API server fills in on write: namespace and pod phases, a Service's cluster IP, port protocol
and targetPort (kept across updates), and a CustomResourceDefinition's accepted names and conditions.

Part of the sandbox API emulator; pure functions over the object being written, called by storage only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["on_create", "on_update"]

Obj = dict[str, Any]
_CRDS = "customresourcedefinitions.apiextensions.k8s.io"


def _service_ports(spec: Obj) -> None:
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])


def on_create(resource: str, obj: Obj, *, now: str, cluster_ip: Callable[[], str]) -> None:
    """Fill in the defaults of a new object of storage key `resource`, in place."""
    if resource == "namespaces":
        obj["status"] = {"phase": "Active"}
    elif resource == "pods":
        obj["status"] = {"phase": "Pending"}
    elif resource == "services":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
            spec["clusterIP"] = cluster_ip()
            spec["clusterIPs"] = [spec["clusterIP"]]
        _service_ports(spec)
    elif resource == _CRDS:
        spec = obj.get("spec") or {}
        obj["status"] = {
            "acceptedNames": spec.get("names", {}),
            "conditions": [
                {"type": t, "status": "True", "reason": r, "lastTransitionTime": now, "message": ""}
                for t, r in (("NamesAccepted", "NoConflicts"), ("Established", "InitialNamesAccepted"))
            ],
            "storedVersions": [v.get("name") for v in spec.get("versions") or []],
        }


def on_update(resource: str, new: Obj, stored: Obj) -> None:
    """Fill in the defaults of an updated object, in place; a Service keeps the cluster IP it was given."""
    if resource != "services" or not isinstance(new.get("spec"), dict):
        return
    spec, old = new["spec"], stored.get("spec") or {}
    for key in ("type", "clusterIP", "clusterIPs"):
        if key not in spec and key in old:
            spec[key] = old[key]
    _service_ports(spec)
