"""LBC simulator, view room: the cluster objects one plan reads, as plain API dicts, looked up by name.

Built once per plan from the storage's objects (never copies of them, never written to). The lookups a plan
makes for every rule and binding go to `lookups` (the storage's own indexes) when given; else to indexes built
on first use from the lists, instead of scanning every Service and EndpointSlice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SERVICE_NAME", "ClusterView", "Lookups", "meta", "named"]

SERVICE_NAME = "kubernetes.io/service-name"

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Lookups:
    """Indexed reads of the stored objects (sandbox.apiserver.storage's `peek_one` and `peek_labelled`)."""

    one: Callable[[str, str, str], Obj | None]
    """(resource, namespace, name) -> the object or None."""
    labelled: Callable[[str, str, str, str], list[Obj]]
    """(resource, namespace, label, value) -> the objects carrying it, sorted by name."""


@dataclass(slots=True)
class ClusterView:
    """The objects the LBC reads, as plain API dicts."""

    ingresses: list[Obj] = field(default_factory=list)
    services: list[Obj] = field(default_factory=list)
    endpoint_slices: list[Obj] = field(default_factory=list)
    endpoints: list[Obj] = field(default_factory=list)
    ingress_classes: list[Obj] = field(default_factory=list)
    lookups: Lookups | None = None
    _by_key: dict[str, dict[tuple[str, str], list[Obj]]] = field(default_factory=dict)

    def service(self, namespace: str, name: str) -> Obj | None:
        if self.lookups is not None:
            return self.lookups.one("services", namespace, name)
        found = self._indexed("services", named)
        return next(iter(found.get((namespace, name), [])), None)

    def slices_of(self, namespace: str, service: str) -> list[Obj]:
        if self.lookups is not None:
            return self.lookups.labelled("endpointslices.discovery.k8s.io", namespace, SERVICE_NAME, service)
        found = self._indexed("slices", lambda s: (meta(s).get("namespace", ""),
                                                   (meta(s).get("labels") or {}).get(SERVICE_NAME, "")))
        return found.get((namespace, service), [])

    def endpoints_of(self, namespace: str, name: str) -> list[Obj]:
        if self.lookups is not None:
            found = self.lookups.one("endpoints", namespace, name)
            return [] if found is None else [found]
        found_all = self._indexed("endpoints", named)
        return found_all.get((namespace, name), [])

    def _indexed(self, kind: str, key: Callable[[dict[str, Any]], tuple[str, str]]
                 ) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """Objects by (namespace, name), built once per view: a plan looks up every Service of every rule."""
        index = self._by_key.get(kind)
        if index is None:
            source = {"services": self.services, "slices": self.endpoint_slices, "endpoints": self.endpoints}
            index = self._by_key[kind] = {}
            for obj in source[kind]:
                index.setdefault(key(obj), []).append(obj)
        return index


def meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = obj.get("metadata") or {}
    return found


def named(obj: Mapping[str, Any]) -> tuple[str, str]:
    return str(meta(obj).get("namespace", "")), str(meta(obj).get("name", ""))
