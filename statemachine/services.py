"""Which pod-template hash each Service of a canary should select (reference §4, steps 5 and 6), and which
Services to hand back.

Room: plan (pure). Mirrors reconcilePingAndPongService and reconcileStableAndCanaryService from the status as
observed (a promotion moves the stable Service on the next cycle, as in the reference). Never touches a
Service; `service/` patches the selector label `rollouts-pod-template-hash` with these hashes. A Service the
managed-by annotation ties to a Rollout that is deleted or no longer names it is released: the annotation and
that selector key removed (the reference's service controller, service/service.go).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from statemachine import ingress_checks, models, weights
from statemachine.snapshot import Snapshot

__all__ = ["named_services", "observed_services", "ping_pong_roles", "release_patch", "service_selectors",
           "stable_and_canary_services", "to_release"]


def ping_pong_roles(stable_ping_pong: str, ping_service: str, pong_service: str) -> tuple[str, str]:
    """(stable, canary) for ping-pong: ping is stable only when the status says "ping" (reference §1.3)."""
    if stable_ping_pong == "ping":
        return ping_service, pong_service
    return pong_service, ping_service


def stable_and_canary_services(snapshot: Snapshot) -> tuple[str, str]:
    """(stable, canary) Service names; ping-pong wins when set (reference §1.3)."""
    canary = snapshot.rollout.canary
    if canary is None:
        return "", ""
    if canary.ping_pong is not None:
        return ping_pong_roles(
            snapshot.rollout.status.canary.stable_ping_pong,
            canary.ping_pong.ping_service,
            canary.ping_pong.pong_service,
        )
    return canary.stable_service, canary.canary_service


def service_selectors(snapshot: Snapshot, desired_weight: int) -> tuple[tuple[str, str], ...]:
    """(Service, pod hash) pairs to apply this cycle.

    The canary Service follows the new ReplicaSet once it has an available pod; while aborted it points at
    the stable ReplicaSet (with dynamicStableScale only once the canary weight is back to 0); while
    dynamically rolling back to stable it is left alone; with ping-pong it is left alone once promoted.
    """
    rollout = snapshot.rollout
    canary = rollout.canary
    if canary is None:
        return ()
    stable_service, canary_service = stable_and_canary_services(snapshot)
    new, stable = snapshot.new_rs, snapshot.stable_rs
    promoted = weights.is_fully_promoted(rollout)
    pairs: list[tuple[str, str]] = []
    if stable_service and stable is not None:
        pairs.append((stable_service, stable.hash))
    if not canary_service:
        return tuple(pairs)
    if rollout.status.abort and not promoted:
        if stable is not None and (not canary.dynamic_stable_scale or desired_weight == 0):
            pairs.append((canary_service, stable.hash))
    elif weights.rolling_back_to_stable(snapshot) is None and not (canary.ping_pong is not None and promoted):
        if new is not None and new.available_replicas > 0:
            pairs.append((canary_service, new.hash))
    return tuple(pairs)


def observed_services(rollout: models.Rollout) -> tuple[str, ...]:
    """The Services whose selectors and endpoints traffic safety watches: (stable, canary), or for a
    blue-green Rollout (active, preview); "" for one the spec leaves out."""
    blue_green = rollout.blue_green
    if blue_green is not None:
        return blue_green.active_service, blue_green.preview_service
    return stable_and_canary_services(Snapshot(rollout=rollout))


def named_services(rollout: models.Rollout) -> frozenset[str]:
    """Every Service the spec names (canary, stable, ping, pong; active and preview), whatever its role this
    cycle (as the reference's GetRolloutServiceKeys)."""
    blue_green = rollout.blue_green
    if blue_green is not None:
        return frozenset(name for name in (blue_green.active_service, blue_green.preview_service) if name)
    canary = rollout.canary
    if canary is None:
        return frozenset()
    names = {canary.canary_service, canary.stable_service}
    if canary.ping_pong is not None:
        names |= {canary.ping_pong.ping_service, canary.ping_pong.pong_service}
    return frozenset(name for name in names if name)


def to_release(services: Iterable[Mapping[str, Any]], namespace: str, rollout: str,
               keep: Collection[str] = ()) -> list[Mapping[str, Any]]:
    """The Services of `namespace` whose managed-by annotation names `rollout`, but for `keep`; by name.

    A Service annotated for another Rollout, or not at all, is never listed: its selector is not ours.
    """
    found: dict[str, Mapping[str, Any]] = {}
    for service in services:
        metadata = service.get("metadata")
        if not isinstance(metadata, Mapping) or metadata.get("namespace") != namespace:
            continue
        name = str(metadata.get("name") or "")
        if name and name not in keep and ingress_checks.managed_by(service) == rollout:
            found[name] = service
    return [found[name] for name in sorted(found)]


def release_patch(service: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch handing `service` back: `null` removes the managed-by annotation and the pod-hash
    selector key (other selector keys stay); its resourceVersion is the precondition."""
    metadata: dict[str, Any] = {"annotations": {ingress_checks.MANAGED_BY_ANNOTATION: None}}
    # another Rollout may adopt it between our read and this write: a 409 beats undoing its adoption
    version = (service.get("metadata") or {}).get("resourceVersion")
    if version:
        metadata["resourceVersion"] = str(version)
    patch: dict[str, Any] = {"metadata": metadata}
    selector = (service.get("spec") or {}).get("selector")
    if isinstance(selector, Mapping) and models.POD_TEMPLATE_HASH_LABEL in selector:
        patch["spec"] = {"selector": {models.POD_TEMPLATE_HASH_LABEL: None}}
    return patch
