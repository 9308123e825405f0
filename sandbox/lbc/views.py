"""LBC simulator, view room: the cluster objects one plan reads, as plain API dicts, looked up by name.

Built once per plan from the storage's objects (never copies of them, never written to); the lookups a plan
makes for every rule are indexed on first use instead of scanning every Service and EndpointSlice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ClusterView", "meta", "named"]

_SERVICE_NAME = "kubernetes.io/service-name"


@dataclass(slots=True)
class ClusterView:
    """The objects the LBC reads, as plain API dicts."""

    ingresses: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    endpoint_slices: list[dict[str, Any]] = field(default_factory=list)
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    ingress_classes: list[dict[str, Any]] = field(default_factory=list)
    _by_key: dict[str, dict[tuple[str, str], list[dict[str, Any]]]] = field(default_factory=dict)

    def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = self._indexed("services", named)
        return next(iter(found.get((namespace, name), [])), None)

    def slices_of(self, namespace: str, service: str) -> list[dict[str, Any]]:
        found = self._indexed("slices", lambda s: (meta(s).get("namespace", ""),
                                                   (meta(s).get("labels") or {}).get(_SERVICE_NAME, "")))
        return found.get((namespace, service), [])

    def endpoints_of(self, namespace: str, name: str) -> list[dict[str, Any]]:
        found = self._indexed("endpoints", named)
        return found.get((namespace, name), [])

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
