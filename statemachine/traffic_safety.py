"""Traffic follows targets (SPEC §4.11): when weight may move onto a target group, and a Service may move.

Room: plan (pure). Two rules, from what the reconciler observed (`Snapshot.selectors/endpoints/targets`):
- weight moves onto a Service's target group only once that group serves the pods it should: the Service's
  ready endpoints are exactly that ReplicaSet's pods and, with `--aws-verify-target-group`, ELBv2 reports
  them registered and `healthy` (`initial` never serves: ALB sends nothing to a target still in its first
  health checks; fail-open only applies to targets that are all `unhealthy`). Without the flag the
  EndpointSlices are all Kubernetes can tell (pod readiness gates make them mean "healthy in the ALB");
- a Service's selector moves away from its pods only while its target group carries no weight.
A Service the reconciler did not observe is not gated (planner unit tests build snapshots without them).
A blue-green cutover (ours, docs/bluegreen.md) first widens the active Service: a selector pair whose hash is
`WIDE` drops the hash key, and while a plan keeps a Service widened its wait is for the new pods to be among
its endpoints (`caught_up`), every endpoint then registered and healthy.
Scaling down follows traffic too: an older ReplicaSet still referenced (by the status weights, the status
hashes, or a Service's selector) is never scaled down, and none is while the Rollout has no availability to
spare (the reference's isReplicaSetReferenced and its minAvailable guard).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from statemachine import basic_canary, models, services
from statemachine.snapshot import Snapshot

__all__ = [
    "WIDE",
    "Wait",
    "allowed_selectors",
    "caught_up",
    "referenced",
    "scale_down_budget",
    "serving",
    "wait_for_targets",
    "widens",
]

WIDE = ""
"""The hash of a (Service, hash) selector pair that drops `rollouts-pod-template-hash` from the Service's
selector, so that it selects the pods of every ReplicaSet (a blue-green cutover's make-before-break; ours)."""


@dataclass(frozen=True, slots=True)
class Wait:
    """Weight waits for `service`'s target groups to serve the pods of `pod_hash`."""

    service: str
    pod_hash: str

    def describe(self) -> str:
        return f"waiting for Service {self.service}'s targets to serve pods {self.pod_hash}"


def widens(selectors: Iterable[tuple[str, str]], service: str) -> bool:
    """Does a plan's (Service, hash) pairs widen (or keep widened) `service`?"""
    return (service, WIDE) in selectors


def caught_up(endpoints: frozenset[str] | None, pod_hash: str, *, widened: bool = False) -> bool:
    """Do a Service's ready endpoints (their pods' hashes; None: not observed) show what a wait for the pods
    of `pod_hash` needs before AWS is asked: exactly those pods, or, the Service `widened`, at least them."""
    if endpoints is None:
        return False
    return pod_hash in endpoints if widened else endpoints == frozenset({pod_hash})


def serving(snapshot: Snapshot, service: str, pod_hash: str, *, new_pods: bool = True) -> bool:
    """Does `service`'s target group serve the pods of `pod_hash` (True when not observed)?

    ELBv2 is consulted for `new_pods` only: more weight for pods the group already carried traffic to (the
    next step of the same canary, an abort back to the stable) needs their endpoints alone, since targets
    not registered yet just get no request.
    """
    if not service or service not in snapshot.endpoints:
        return True
    if snapshot.endpoints[service] != frozenset({pod_hash}):
        return False
    return not (snapshot.verify_weights and new_pods) or snapshot.targets.get(service) == pod_hash


def _gains(previous: models.WeightDestination | None, candidate: models.WeightDestination) -> bool:
    if candidate.weight <= 0:
        return False
    if previous is None:
        return True
    return candidate.weight > previous.weight or candidate.pod_template_hash != previous.pod_template_hash


def wait_for_targets(snapshot: Snapshot, candidate: models.TrafficWeights) -> Wait | None:
    """The target group that must serve before `candidate` may be written (None: write it now).

    The first weights of a Rollout move no traffic (the Ingress routed nothing through our action before).
    """
    previous = snapshot.rollout.status.canary.weights
    if previous is None:
        return None
    stable_service, canary_service = services.stable_and_canary_services(snapshot)
    moves = ((canary_service, previous.canary, candidate.canary),
             (stable_service, previous.stable, candidate.stable))
    for service, before, after in moves:
        new_pods = before.weight <= 0 or before.pod_template_hash != after.pod_template_hash
        pod_hash = after.pod_template_hash
        if _gains(before, after) and not serving(snapshot, service, pod_hash, new_pods=new_pods):
            return Wait(service, pod_hash)
    return None


def _weight_on(snapshot: Snapshot, service: str) -> int:
    """The weight the status gives `service`'s target group (by role: ping-pong names no Service in it)."""
    weights = snapshot.rollout.status.canary.weights
    if weights is None:
        return 0
    stable_service, canary_service = services.stable_and_canary_services(snapshot)
    return ((weights.canary.weight if service == canary_service else 0)
            + (weights.stable.weight if service == stable_service else 0))


def allowed_selectors(snapshot: Snapshot,
                      pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The (Service, hash) pairs that may be applied now: a switch waits while the Service carries weight."""
    allowed = []
    for service, pod_hash in pairs:
        current = snapshot.selectors.get(service)
        switching = service in snapshot.selectors and current not in ("", pod_hash)
        if switching and _weight_on(snapshot, service) > 0:
            continue
        allowed.append((service, pod_hash))
    return tuple(allowed)


def referenced(snapshot: Snapshot) -> frozenset[str]:
    """Pod hashes that may still receive traffic: stableRS, the current hash, every hash in the status weights
    and every hash a Service of the Rollout selects now (an Ingress action reaches pods through those)."""
    status = snapshot.rollout.status
    hashes = {status.stable_rs, status.current_pod_hash, snapshot.pod_hash, *snapshot.selectors.values()}
    weights = status.canary.weights
    if weights is not None:
        hashes |= {weights.canary.pod_template_hash, weights.stable.pod_template_hash,
                   *(destination.pod_template_hash for destination in weights.additional)}
    return frozenset(hashes - {""})


def scale_down_budget(snapshot: Snapshot) -> int:
    """Available pods beyond `replicas - maxUnavailable`: what older ReplicaSets may lose now (<= 0: none)."""
    rollout = snapshot.rollout
    canary = rollout.canary or models.CanaryStrategy()
    sets = {rs.name: rs for rs in (snapshot.new_rs, snapshot.stable_rs, *snapshot.others) if rs is not None}
    _, unavailable = basic_canary.resolve_surge_unavailable(canary.max_surge, canary.max_unavailable,
                                                            rollout.replicas)
    return sum(rs.available_replicas for rs in sets.values()) - (rollout.replicas - unavailable)
