"""Which pod-template hash each Service of a canary should select (reference §4, steps 5 and 6).

Room: plan (pure). Mirrors reconcilePingAndPongService and reconcileStableAndCanaryService from the status as
observed (a promotion moves the stable Service on the next cycle, as in the reference). Never touches a
Service; `service/` patches the selector label `rollouts-pod-template-hash` with these hashes.
"""

from __future__ import annotations

from statemachine import weights
from statemachine.snapshot import Snapshot

__all__ = ["ping_pong_roles", "service_selectors", "stable_and_canary_services"]


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
