"""What the traffic-safety rules need to see: each Service's selector and the pods behind its endpoints.

Room: reconcile (observe). Read from the informer caches only (Services, EndpointSlices); the planner's
`statemachine.traffic_safety` decides from it whether weight may move onto a target group and whether a
Service may switch. No call, no write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from service.kube import indexes, informers
from statemachine import models, services
from statemachine.snapshot import ReplicaSetView

__all__ = ["TrafficView", "observe"]


@dataclass(frozen=True, slots=True)
class TrafficView:
    """Per Service (the Rollout's stable and canary): its selector's pod hash, the pod hashes behind its ready
    endpoints ("" for a pod of no ReplicaSet of the Rollout) and the ready endpoint addresses."""

    selectors: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, frozenset[str]] = field(default_factory=dict)
    addresses: dict[str, frozenset[str]] = field(default_factory=dict)


def _pod_hash(pod: str, replica_sets: Iterable[ReplicaSetView]) -> str:
    return next((rs.hash for rs in replica_sets if pod.startswith(f"{rs.name}-")), "")


def _ready(slices: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    for eps in slices:
        for endpoint in eps.get("endpoints") or []:
            # an unset `ready` means "unknown", which consumers treat as ready (EndpointConditions API doc)
            if (endpoint.get("conditions") or {}).get("ready") is not False:
                yield endpoint


def observe(caches: informers.Informers, rollout: models.Rollout,
            replica_sets: Iterable[ReplicaSetView]) -> TrafficView:
    """The stable and canary (or active and preview) Services of `rollout` as the caches show them (a missing
    Service is left out)."""
    view = TrafficView()
    sets = tuple(replica_sets)
    for name in services.observed_services(rollout):
        key = f"{rollout.namespace}/{name}"
        service = caches.services.store.get(key) if name else None
        if service is None:
            continue
        selector = (service.get("spec") or {}).get("selector") or {}
        view.selectors[name] = str(selector.get(models.POD_TEMPLATE_HASH_LABEL) or "")
        ready = list(_ready(caches.endpoint_slices.store.by_index(indexes.BY_SERVICE, key)))
        view.endpoints[name] = frozenset(_pod_hash(str((e.get("targetRef") or {}).get("name") or ""), sets)
                                         for e in ready)
        view.addresses[name] = frozenset(str(a) for e in ready for a in e.get("addresses") or [])
    return view
