"""Endpoints and EndpointSlice controllers: publish the pods a Service selects, ready and not ready.

Part of the sandbox cluster; it writes only Endpoints and EndpointSlices of Services that have a selector,
through the Storage API.
"""

from __future__ import annotations

import logging
from typing import Any

from sandbox.apiserver import selectors
from sandbox.apiserver import storage as storage_mod
from sandbox.cluster import pods

__all__ = ["SERVICE_NAME_LABEL", "EndpointsController"]

log = logging.getLogger(__name__)
SLICES = "endpointslices.discovery.k8s.io"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY = {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}

Port = tuple[str, int, str]  # (name, port, protocol)
Groups = list[tuple[tuple[Port, ...], list[dict[str, Any]]]]


def _ports_for(service: dict[str, Any], pod: dict[str, Any]) -> tuple[Port, ...]:
    """The Service ports resolved against one pod (named targetPorts it lacks are left out, as upstream)."""
    resolved: list[Port] = []
    for sp in (service.get("spec") or {}).get("ports") or []:
        target = sp.get("targetPort", sp.get("port"))
        number = pods.container_port(pod, target) if isinstance(target, str) else target
        if isinstance(number, int):
            resolved.append((str(sp.get("name") or ""), number, str(sp.get("protocol") or "TCP")))
    return tuple(resolved)


def _target_ref(pod: dict[str, Any]) -> dict[str, Any]:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}


def _groups(service: dict[str, Any], selected: list[dict[str, Any]]) -> Groups:
    """Pods grouped by their resolved port set, ordered deterministically."""
    grouped: dict[tuple[Port, ...], list[dict[str, Any]]] = {}
    for pod in selected:
        ports = _ports_for(service, pod)
        if ports:
            grouped.setdefault(ports, []).append(pod)
    return sorted(grouped.items())


class _Selectors:
    """Every selector Service's `spec.selector`, followed from the change stream, found from a pod's labels.

    Each Service is filed under one pair of its selector (the first key), so a pod's few labels name the few
    Services that can select it, instead of a scan of every Service in the namespace per pod event. It may
    lag the store by the events not yet handled; each of those events syncs its Service anyway.
    """

    def __init__(self) -> None:
        self._selector: dict[tuple[str, str], dict[str, Any]] = {}
        self._filed: dict[tuple[str, str, Any], set[str]] = {}

    def _slot(self, namespace: str, selector: dict[str, Any]) -> tuple[str, str, Any] | None:
        key = min(selector)
        value = selector[key]
        return (namespace, key, value) if isinstance(value, str) else None

    def put(self, namespace: str, name: str, selector: dict[str, Any] | None) -> None:
        old = self._selector.pop((namespace, name), None)
        if old and (slot := self._slot(namespace, old)) is not None:
            self._filed.get(slot, set()).discard(name)
        if isinstance(selector, dict) and selector:
            self._selector[(namespace, name)] = dict(selector)
            slot = self._slot(namespace, selector)
            self._filed.setdefault(slot or (namespace, "", None), set()).add(name)

    def selecting(self, namespace: str, labels: dict[str, Any] | None) -> set[str]:
        """Names of the Services in `namespace` whose selector matches these labels."""
        if not isinstance(labels, dict):
            return set()
        names = set(self._filed.get((namespace, "", None), ()))  # selectors with non-string values
        for key, value in labels.items():
            if isinstance(value, str):
                names |= self._filed.get((namespace, key, value), set())
        return {n for n in names if selectors.labels_match_map(self._selector[(namespace, n)], labels)}


class EndpointsController:
    """Keeps one Endpoints object and one EndpointSlice per port set for every selector Service."""

    def __init__(self, store: storage_mod.Storage) -> None:
        self._store = store
        self._selectors = _Selectors()

    def resync(self) -> None:
        for svc in self._store.list("services"):
            self._follow(svc, deleted=False)
            self.sync(svc["metadata"]["namespace"], svc["metadata"]["name"])

    def _follow(self, svc: dict[str, Any], *, deleted: bool) -> None:
        meta = svc["metadata"]
        selector = None if deleted else (svc.get("spec") or {}).get("selector")
        self._selectors.put(meta["namespace"], meta["name"], selector)

    def on_event(self, event: storage_mod.WatchEvent) -> None:
        meta = event.object["metadata"]
        if event.resource == "services":
            self._follow(event.object, deleted=event.type == "DELETED")
            self.sync(meta["namespace"], meta["name"])
        elif event.resource == "pods":
            # A Service cares if it selects the pod now or did before (labels can change either way).
            ns = meta["namespace"]
            names = self._selectors.selecting(ns, meta.get("labels"))
            if event.previous is not None:
                names |= self._selectors.selecting(ns, event.previous["metadata"].get("labels"))
            for name in sorted(names):
                self.sync(meta["namespace"], name)

    def sync(self, namespace: str, name: str) -> None:
        service = self._store.get("services", namespace, name)
        selector = ((service or {}).get("spec") or {}).get("selector") or {}
        if service is None or not selector:
            if service is None:
                self._store.delete("endpoints", namespace, name)
                for stale in self._store.list(SLICES, namespace, f"{SERVICE_NAME_LABEL}={name}"):
                    self._store.delete(SLICES, namespace, stale["metadata"]["name"])
            return
        selected = [
            p
            for p in self._store.selected("pods", namespace, selector)
            if (p.get("status") or {}).get("podIP") and not p["metadata"].get("deletionTimestamp")
        ]
        groups = _groups(service, selected)
        self._write_endpoints(service, groups)
        self._write_slices(service, groups)

    def _write_endpoints(self, service: dict[str, Any], groups: Groups) -> None:
        meta = service["metadata"]
        subsets = []
        for ports, members in groups:
            subset: dict[str, Any] = {}
            ready = [p for p in members if pods.is_ready(p)]
            unready = [p for p in members if not pods.is_ready(p)]
            for key, chosen in (("addresses", ready), ("notReadyAddresses", unready)):
                if chosen:
                    subset[key] = [
                        {"ip": p["status"]["podIP"], "nodeName": pods.NODE_NAME, "targetRef": _target_ref(p)}
                        for p in sorted(chosen, key=lambda p: p["status"]["podIP"])
                    ]
            subset["ports"] = [{"name": n, "port": num, "protocol": proto} for n, num, proto in ports]
            subsets.append(subset)
        desired: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "labels": meta.get("labels") or {},
            },
            "subsets": subsets,
        }
        current = self._store.get("endpoints", meta["namespace"], meta["name"])
        if current is None:
            self._store.create("endpoints", desired)
        elif (current.get("subsets"), current["metadata"].get("labels")) != (
            subsets,
            desired["metadata"]["labels"],
        ):
            current["subsets"] = subsets
            current["metadata"]["labels"] = desired["metadata"]["labels"]
            self._store.replace("endpoints", current)

    def _write_slices(self, service: dict[str, Any], groups: Groups) -> None:
        meta = service["metadata"]
        ns, name = meta["namespace"], meta["name"]
        existing = self._store.list(SLICES, ns, f"{SERVICE_NAME_LABEL}={name}")
        wanted = [self._slice_body(service, ports, members) for ports, members in groups] or [
            self._slice_body(service, (), [])
        ]
        for index, body in enumerate(wanted):
            if index < len(existing):
                current = existing[index]
                if (current.get("endpoints"), current.get("ports")) != (body["endpoints"], body["ports"]):
                    current["endpoints"], current["ports"] = body["endpoints"], body["ports"]
                    self._store.replace(SLICES, current)
            else:
                self._store.create(SLICES, body)
        for extra in existing[len(wanted) :]:
            self._store.delete(SLICES, ns, extra["metadata"]["name"])

    @staticmethod
    def _slice_body(service: dict[str, Any], ports: tuple[Port, ...], members: list[Any]) -> dict[str, Any]:
        meta = service["metadata"]
        endpoints = [
            {
                "addresses": [p["status"]["podIP"]],
                "conditions": {"ready": pods.is_ready(p), "serving": pods.is_ready(p), "terminating": False},
                "nodeName": pods.NODE_NAME,
                "targetRef": _target_ref(p),
            }
            for p in sorted(members, key=lambda p: p["status"]["podIP"])
        ]
        owner = {
            "apiVersion": "v1",
            "kind": "Service",
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "generateName": f"{meta['name']}-",
                "namespace": meta["namespace"],
                "labels": {**(meta.get("labels") or {}), SERVICE_NAME_LABEL: meta["name"], **MANAGED_BY},
                "ownerReferences": [owner],
            },
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": [{"name": n, "port": num, "protocol": proto} for n, num, proto in ports],
        }
