"""Desired traffic weights and ReplicaSet sizes of a canary (reference §4.1 and §4.2 counts).

Room: plan (pure). Each rule mirrors the reference's weight table row by row; the row that won is returned
with the weight so tests and the debug API can say why. Never reads a clock; never returns a weight
outside 0..100.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from statemachine import basic_canary, models
from statemachine.snapshot import Snapshot

__all__ = [
    "DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS",
    "WeightDecision",
    "abort_scale_down_delay",
    "abort_weight",
    "at_desired_replica_counts",
    "basic_next_scale",
    "basic_weight",
    "canary_scale_override",
    "clamp_weight",
    "current_set_weight",
    "current_step",
    "desired_weight",
    "is_fully_promoted",
    "replicas_for_weight",
    "rolling_back_to_stable",
    "split",
    "step_index",
    "traffic_routed_counts",
    "traffic_weight_message",
    "weight_status",
    "weights_differ",
]

DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS = 30


@dataclass(frozen=True, slots=True)
class WeightDecision:
    """The desired canary weight, the §4.1 row that chose it, and the canary hash the weights carry.

    `hold` means the stable ReplicaSet cannot take the stable share yet, so traffic must not be touched.
    """

    weight: int
    row: str
    canary_hash: str
    remove_routes: bool = False
    hold: bool = False


def clamp_weight(weight: int) -> int:
    return max(0, min(100, weight))


def split(desired: int, additional: tuple[int, ...] = ()) -> tuple[int, tuple[int, ...], int]:
    """(canary, additional, stable) clamped (SPEC §4.6): canary 0..100, each experiment in order takes at most
    what is left, the stable the rest; all within 0..100, summing to 100 (the reference could go negative)."""
    canary = clamp_weight(desired)
    left = 100 - canary
    extra: list[int] = []
    for weight in additional:
        taken = max(0, min(weight, left))
        extra.append(taken)
        left -= taken
    return canary, tuple(extra), left


def step_index(rollout: models.Rollout) -> int | None:
    """`status.currentStepIndex` as the reference reads it: nil is 0 when steps exist, None without steps."""
    if not rollout.steps:
        return None
    return max(rollout.status.current_step_index or 0, 0)


def current_step(rollout: models.Rollout) -> tuple[models.Step | None, int | None]:
    """The current step and index; the step is None past the last step (GetCurrentCanaryStep)."""
    index = step_index(rollout)
    if index is None or index >= len(rollout.steps):
        return None, index
    return rollout.steps[index], index


def current_set_weight(rollout: models.Rollout) -> int:
    """The latest setWeight at or before the current index; 100 past the last step; 0 when aborted."""
    if rollout.status.abort:
        return 0
    step, index = current_step(rollout)
    if step is None or index is None:
        return 100
    for earlier in reversed(rollout.steps[: index + 1]):
        if isinstance(earlier, models.SetWeight):
            return clamp_weight(earlier.weight)
    return 0


def _previous_set_weight(rollout: models.Rollout, index: int) -> int:
    for earlier in reversed(rollout.steps[: min(index, len(rollout.steps))]):
        if isinstance(earlier, models.SetWeight):
            return clamp_weight(earlier.weight)
    return 0


def abort_scale_down_delay(rollout: models.Rollout) -> int:
    canary = rollout.canary
    value = canary.abort_scale_down_delay_seconds if canary else None
    return DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS if value is None else value


def canary_scale_override(rollout: models.Rollout) -> models.SetCanaryScale | None:
    """The setCanaryScale in force (UseSetCanaryScale): matchTrafficWeight cancels it; abort ignores it
    unless abortScaleDownDelaySeconds is 0."""
    canary = rollout.canary
    if canary is None or not canary.has_traffic_routing:
        return None
    step, index = current_step(rollout)
    if step is None or index is None:
        return None
    for earlier in reversed(rollout.steps[: index + 1]):
        if not isinstance(earlier, models.SetCanaryScale):
            continue
        if earlier.match_traffic_weight:
            return None
        if rollout.status.abort and abort_scale_down_delay(rollout) != 0:
            return None
        return earlier
    return None


def replicas_for_weight(replicas: int, weight: int) -> int:
    """ceil(replicas * weight / 100), in integers."""
    return -(-(replicas * weight) // 100) if replicas > 0 and weight > 0 else 0


def _min_pods(rollout: models.Rollout, count: int) -> int:
    canary = rollout.canary
    if count == 0 or canary is None or canary.min_pods_per_replica_set is None:
        return count
    if not canary.has_traffic_routing:
        return count
    return max(count, canary.min_pods_per_replica_set)


def is_fully_promoted(rollout: models.Rollout) -> bool:
    """stableRS == currentPodHash, as the reference compares them (two empty strings count)."""
    return rollout.status.stable_rs == rollout.status.current_pod_hash


def traffic_routed_counts(rollout: models.Rollout, weights: models.TrafficWeights | None) -> tuple[int, int]:
    """Desired (canary, stable) ReplicaSet sizes (CalculateReplicaCountsForTrafficRoutedCanary)."""
    replicas = rollout.replicas
    status = rollout.status
    fixed: int | None = None
    weight = 100
    if not (status.promote_full or is_fully_promoted(rollout)):
        override = canary_scale_override(rollout)
        if override is not None and override.replicas is not None:
            fixed, weight = override.replicas, 0
        elif override is not None and override.weight is not None:
            weight = clamp_weight(override.weight)
        else:
            weight = current_set_weight(rollout)
    canary = fixed if fixed is not None else _min_pods(rollout, replicas_for_weight(replicas, weight))
    if rollout.canary is None or not rollout.canary.dynamic_stable_scale:
        return canary, replicas
    stable = replicas_for_weight(replicas, 100 - weight)
    if weights is not None:
        stable = max(stable, replicas_for_weight(replicas, weights.stable.weight))
        if status.abort:
            canary = max(replicas_for_weight(replicas, weights.canary.weight), canary)
    return _min_pods(rollout, canary), _min_pods(rollout, stable)


def basic_weight(rollout: models.Rollout) -> int:
    """The replica share of the new ReplicaSet in a basic canary (GetCanaryReplicasOrWeight)."""
    status = rollout.status
    if status.promote_full or not status.stable_rs or is_fully_promoted(rollout):
        return 100
    return current_set_weight(rollout)


def basic_next_scale(snapshot: Snapshot, rollout: models.Rollout | None = None) -> dict[str, int]:
    """What one reconcile of a basic canary scales: ReplicaSet name -> spec.replicas (one role at a time)."""
    rollout = rollout or snapshot.rollout
    canary = rollout.canary or models.CanaryStrategy()
    return basic_canary.next_scale(
        replicas=rollout.replicas, weight=basic_weight(rollout), max_surge=canary.max_surge,
        max_unavailable=canary.max_unavailable, new_rs=snapshot.new_rs, stable_rs=snapshot.stable_rs,
        others=snapshot.others)


def at_desired_replica_counts(snapshot: Snapshot, rollout: models.Rollout | None = None) -> bool:
    """Both ReplicaSets are sized and available as desired and no other ReplicaSet has available pods."""
    rollout = rollout or snapshot.rollout
    strategy = rollout.canary
    if strategy is not None and strategy.basic:
        return basic_canary.at_desired_counts(
            replicas=rollout.replicas, weight=basic_weight(rollout), max_surge=strategy.max_surge,
            max_unavailable=strategy.max_unavailable, new_rs=snapshot.new_rs, stable_rs=snapshot.stable_rs,
            others=snapshot.others)
    canary, stable = traffic_routed_counts(rollout, None)
    new, old = snapshot.new_rs, snapshot.stable_rs
    if new is None or new.spec_replicas != canary or new.available_replicas != canary:
        return False
    if old is None or old.spec_replicas != stable or old.available_replicas != stable:
        return False
    return all(other.available_replicas == 0 for other in snapshot.others)


def abort_weight(snapshot: Snapshot) -> int:
    """Weight while aborting or rolling back: 0, or with dynamicStableScale what the stable can carry, never
    more than the weight already set."""
    rollout = snapshot.rollout
    if rollout.canary is None or not rollout.canary.dynamic_stable_scale:
        return 0
    available = snapshot.stable_rs.available_replicas if snapshot.stable_rs else 0
    weight = 100 - (100 * available) // rollout.replicas if rollout.replicas > 0 else 0
    weights = rollout.status.canary.weights
    if weights is not None:
        weight = min(weight, weights.canary.weight)
    return clamp_weight(weight)


def rolling_back_to_stable(snapshot: Snapshot) -> str | None:
    """The previous canary hash when dynamically rolling back to the stable ReplicaSet, else None."""
    rollout, new = snapshot.rollout, snapshot.new_rs
    canary = rollout.canary
    weights = rollout.status.canary.weights
    if canary is None or not canary.dynamic_stable_scale or not canary.has_traffic_routing:
        return None
    if new is None or weights is None or not is_fully_promoted(rollout):
        return None
    previous = weights.canary.pod_template_hash
    if previous != new.hash and new.available_replicas < rollout.replicas:
        return previous
    return None


def desired_weight(snapshot: Snapshot) -> WeightDecision:
    """The desired canary weight: the first matching row of reference §4.1 wins."""
    rollout, new = snapshot.rollout, snapshot.new_rs
    status = rollout.status
    canary_hash = new.hash if new else ""
    dynamic = rollout.canary is not None and rollout.canary.dynamic_stable_scale
    previous = rolling_back_to_stable(snapshot)
    if previous is not None:
        return _checked(snapshot, WeightDecision(abort_weight(snapshot), "rollback-to-stable", previous))
    if is_fully_promoted(rollout):
        return _checked(snapshot, WeightDecision(0, "fully-promoted", canary_hash, remove_routes=True))
    if status.abort:
        return _checked(snapshot, WeightDecision(abort_weight(snapshot), "aborted", canary_hash, True))
    if new is None or new.available_replicas == 0:
        return _checked(snapshot, WeightDecision(0, "canary-unavailable", canary_hash, remove_routes=True))
    if status.promote_full:
        if dynamic and rollout.replicas > 0:
            weight = (100 * new.available_replicas) // rollout.replicas
        else:
            weight = status.canary.weights.canary.weight if status.canary.weights else 0
        return _checked(snapshot, WeightDecision(clamp_weight(weight), "promote-full", canary_hash, True))
    index = step_index(rollout)
    if index is None:
        return _checked(snapshot, WeightDecision(0, "no-steps", canary_hash))
    if not at_desired_replica_counts(snapshot):
        return _checked(snapshot, WeightDecision(_previous_set_weight(rollout, index), "previous-set-weight",
                                                 canary_hash))
    if index < len(rollout.steps):
        weight = current_set_weight(rollout)
        return _checked(snapshot, WeightDecision(weight, "current-set-weight", canary_hash))
    return _checked(snapshot, WeightDecision(100, "end-of-steps", canary_hash))


def _checked(snapshot: Snapshot, decision: WeightDecision) -> WeightDecision:
    """Hold traffic when the stable ReplicaSet cannot carry its share yet (reference §4.1, "Then")."""
    stable, replicas = snapshot.stable_rs, snapshot.rollout.replicas
    if stable is not None and stable.available_replicas < ((100 - decision.weight) * replicas) // 100:
        return dataclasses.replace(decision, hold=True)
    return decision


def weight_status(rollout: models.Rollout, desired: int, canary_hash: str, stable_hash: str,
                  additional: tuple[models.WeightDestination, ...] = ()) -> models.TrafficWeights:
    """`status.canary.weights` for a desired weight; the stable share is clamped so it is never negative."""
    canary = rollout.canary or models.CanaryStrategy()
    weight, extra, stable = split(desired, tuple(destination.weight for destination in additional))
    return models.TrafficWeights(
        canary=models.WeightDestination(weight, canary.canary_service, canary_hash),
        stable=models.WeightDestination(stable, canary.stable_service, stable_hash),
        additional=tuple(dataclasses.replace(d, weight=w) for d, w in zip(additional, extra, strict=True)),
    )


def weights_differ(previous: models.TrafficWeights | None, new: models.TrafficWeights) -> bool:
    """Whether the weights changed (verification state aside), as calculateWeightStatus compares them."""
    return (previous is None or previous.canary != new.canary or previous.stable != new.stable
            or previous.additional != new.additional)


def _go_destinations(destinations: tuple[models.WeightDestination, ...]) -> str:
    return "[" + " ".join(f"{{{d.weight} {d.service_name} {d.pod_template_hash}}}" for d in destinations) \
        + "]"


def traffic_weight_message(previous: models.TrafficWeights | None, new: models.TrafficWeights) -> str:
    """`Traffic weight updated <details>` exactly as the reference words it."""
    details = []
    if previous is None:
        details.append(f"to {new.canary.weight}")
    elif previous.canary.weight != new.canary.weight:
        details.append(f"from {previous.canary.weight} to {new.canary.weight}")
    if previous is not None and previous.additional != new.additional:
        details.append(f"additional: {_go_destinations(new.additional)}")
    return "Traffic weight updated " + ", ".join(details)
