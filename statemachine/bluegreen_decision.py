"""What one blue-green cycle decided (`BlueGreenDecision`), its machine state, and its status bookkeeping.

Room: plan (pure). The decision is data for `service/`: sizes, Service selectors, `scale-down-deadline`
changes, the status (and its merge patch), events and a requeue. The helpers here turn a planned status into
replica accounting (§4.1), pause/abort fields (§4.1 persistRolloutStatus) and the events of §9.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from statemachine import events, models, status
from statemachine.bluegreen_analysis import BlueGreenAnalysis
from statemachine.bluegreen_status import BlueGreenStatus, blue_green_patch
from statemachine.guards import Move
from statemachine.snapshot import ReplicaSetView, Snapshot
from statemachine.states import States

__all__ = [
    "SELECTOR_RESTORED",
    "SWITCH_SERVICE",
    "WIDEN_SERVICE",
    "BlueGreenDecision",
    "accounted",
    "bluegreen_state",
    "pause_events",
    "scaling_event",
    "selector_restored",
    "switch_service",
    "widen_service",
]

SWITCH_SERVICE = "SwitchService"
SELECTOR_RESTORED = "ServiceSelectorRestored"
"""Ours (§14 item 0): a Warning when an active Service lost its hash key and the expected hash came back."""
WIDEN_SERVICE = "WidenService"
"""Ours (§14 item 5): the active Service's hash key was dropped for a cutover; `SwitchService` follows once
the new pods serve (docs/bluegreen.md)."""
ROLLOUT_PAUSED = "RolloutPaused"
ROLLOUT_RESUMED = "RolloutResumed"
SCALING_REPLICA_SET = "ScalingReplicaSet"
Counts = tuple[int | None, int | None]


@dataclass(frozen=True, slots=True)
class BlueGreenDecision:
    """Everything one blue-green reconcile should do.

    `replicas` the (new, stable) ReplicaSet sizes (None: leave it); `selectors` the (Service, hash) pairs to
    apply now, preview first; `others` (ReplicaSet, size) for older ReplicaSets; `deadlines` (ReplicaSet,
    RFC 3339 to add, or None to remove) `scale-down-deadline` changes; `verify_active` the active Service's
    target groups must be checked to serve the pods of `verify_hash` (the answer comes back as
    `targets_verified`); `after` the Rollout once `status` is written (`status_patch`, None: unchanged).
    """

    status: models.RolloutStatus
    blue_green: BlueGreenStatus
    status_patch: dict[str, Any] | None
    replicas: Counts
    selectors: tuple[tuple[str, str], ...]
    others: tuple[tuple[str, int], ...]
    deadlines: tuple[tuple[str, str | None], ...]
    events: tuple[events.Event, ...]
    requeue_after: float | None
    reason: str
    verify_active: bool
    verify_hash: str
    move: Move
    trigger: str | None
    after: models.Rollout
    analysis: BlueGreenAnalysis | None = None
    """The pre/post-promotion AnalysisRuns to create and terminate (statemachine.bluegreen_analysis)."""

    @property
    def source(self) -> States:
        return self.move.source

    @property
    def target(self) -> States:
        return self.move.target

    @property
    def new_replicas(self) -> int | None:
        return self.replicas[0]

    @property
    def stable_replicas(self) -> int | None:
        return self.replicas[1]


def full_patch(raw_status: Mapping[str, Any], new: models.RolloutStatus,
               bg: BlueGreenStatus) -> dict[str, Any] | None:
    """The `/status` merge patch: the managed fields (`statemachine.status`) plus `blueGreen`."""
    patch = status.status_patch(raw_status, new)
    body: dict[str, Any] = dict(patch["status"]) if patch else {}
    bg_patch = blue_green_patch(raw_status, bg)
    if bg_patch:
        body["blueGreen"] = bg_patch
    return {"status": body} if body else None


def bluegreen_state(rollout: models.Rollout, *, waiting_for_targets: bool = False) -> States:
    """The machine state a blue-green status derives to; the first match wins."""
    st = rollout.status
    invalid = st.condition("InvalidSpec")
    if invalid is not None and invalid.status == "True":
        return States.Degraded
    if st.abort:
        return States.Aborted
    if st.stable_rs and st.stable_rs == st.current_pod_hash:
        return States.Promoted
    if rollout.paused or st.pause_conditions:
        return States.Paused
    return States.WaitingForTargets if waiting_for_targets else States.Progressing


def _rs_selector(rollout: models.Rollout, pod_hash: str) -> str:
    labels = rollout.selector.get("matchLabels")
    match = dict(labels) if isinstance(labels, Mapping) else {}
    return status.label_selector({**rollout.selector, "matchLabels": {**match, models.POD_TEMPLATE_HASH_LABEL:
                                                                      pod_hash}})


def accounted(snapshot: Snapshot, new: models.RolloutStatus,
              active: ReplicaSetView | None) -> models.RolloutStatus:
    """calculateBaseStatus and the blue-green accounting (§4.1): counts over every ReplicaSet, then
    HPAReplicas, selector, available and ready from the active ReplicaSet when there is one."""
    rollout = snapshot.rollout
    sets = {rs.name: rs for rs in (snapshot.new_rs, snapshot.stable_rs, *snapshot.others) if rs is not None}
    new_rs = snapshot.new_rs
    new = dataclasses.replace(
        new, observed_generation=str(rollout.generation),
        replicas=sum(rs.current_replicas for rs in sets.values()),
        updated_replicas=new_rs.current_replicas if new_rs else 0,
        ready_replicas=sum(rs.ready_replicas for rs in sets.values()),
    )
    if active is not None:
        return dataclasses.replace(new, hpa_replicas=active.current_replicas,
                                   selector=_rs_selector(rollout, active.hash),
                                   available_replicas=active.available_replicas,
                                   ready_replicas=active.ready_replicas)
    return dataclasses.replace(new, hpa_replicas=new.replicas,
                               selector=status.label_selector(rollout.selector),
                               available_replicas=sum(rs.available_replicas for rs in sets.values()))


def switch_service(service: str, old: str, new: str) -> events.Event:
    """`SwitchService` (§1.2): `<old>` is '' when the Service had no hash key."""
    return events.Event(events.NORMAL, SWITCH_SERVICE,
                        f"Switched selector for service '{service}' from '{old}' to '{new}'")


def widen_service(service: str, old: str, new: str) -> events.Event:
    """`WidenService` (ours): the active Service selects the pods of `old` and `new` until it switches."""
    return events.Event(events.NORMAL, WIDEN_SERVICE,
                        f"Widened selector for service '{service}' to pods '{old}' and '{new}' before "
                        f"switching it to '{new}'")


def selector_restored(service: str, pod_hash: str) -> events.Event:
    return events.Event(events.WARNING, SELECTOR_RESTORED,
                        f"Service '{service}' lost its {models.POD_TEMPLATE_HASH_LABEL} selector: "
                        f"restored '{pod_hash}'")


def scaling_event(rs: ReplicaSetView, size: int) -> events.Event:
    """`ScalingReplicaSet` (§5.1): `Scaled up|down ReplicaSet <rs> (revision <n>) from <a> to <b>`."""
    verb = "up" if size > rs.spec_replicas else "down"
    return events.Event(events.NORMAL, SCALING_REPLICA_SET,
                        f"Scaled {verb} ReplicaSet {rs.name} (revision {rs.revision}) "
                        f"from {rs.spec_replicas} to {size}")


def pause_events(old: models.RolloutStatus, new: models.RolloutStatus) -> tuple[events.Event, ...]:
    """`RolloutPaused` when pause conditions appear, `RolloutResumed` when the controller removed the last one
    (not on abort; a human promote clears them before we look, so it gets none)."""
    if not old.pause_conditions and new.pause_conditions:
        first = new.pause_conditions[0].reason
        return (events.Event(events.NORMAL, ROLLOUT_PAUSED, f"Rollout is paused ({first})"),)
    if old.pause_conditions and not new.pause_conditions and not new.abort:
        return (events.Event(events.NORMAL, ROLLOUT_RESUMED, "Rollout is resumed"),)
    return ()
