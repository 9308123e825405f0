"""What one reconcile decided: the frozen `Plan` the machine and the effects take, and its `Traffic`.

Room: plan (pure). `statemachine.planning` builds one per cycle, for a canary and for a blue-green Rollout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from statemachine import canary_analysis, events, models, traffic_safety
from statemachine.guards import Move
from statemachine.states import States

__all__ = ["Counts", "Plan", "Traffic"]

Counts = tuple[int | None, int | None]


@dataclass(frozen=True, slots=True)
class Traffic:
    """What the Ingress effect writes and whether AWS must confirm it.

    `weights` is the desired `status.canary.weights`; `write` False means traffic is not touched this cycle;
    `verify` asks for the weights to be confirmed by ELBv2; `remove_routes` removes the managed header routes;
    `header_route` is the setHeaderRoute step to apply now (from revision 2 on, as the reference does);
    `row` names the weight rule that decided the weight (for reasons and `alb-rollouts plan`).
    """

    weights: models.TrafficWeights | None = None
    write: bool = False
    verify: bool = False
    remove_routes: bool = False
    header_route: models.SetHeaderRoute | None = None
    row: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything one reconcile should do, decided up front: the move, and what its effects need.

    `move` and `trigger` are the machine's (the trigger is chosen from the table's rows); `replicas` the
    (canary, stable) ReplicaSet sizes (None: leave it); `selectors` (Service, pod-template hash) pairs;
    `status_patch` the `/status` merge patch or None; `after` the Rollout once that status is written;
    `wait` the target group that traffic waits for (the `check_targets` effect asks about it); `others`
    (ReplicaSet, size) for older ReplicaSets a basic canary (or a blue-green plan) resizes; `deadlines`
    (ReplicaSet, RFC 3339 or None to remove) the `scale-down-deadline` changes a blue-green plan decided;
    `analysis` the AnalysisRuns to create and terminate (statemachine.canary_analysis).
    """

    move: Move
    trigger: str | None
    reason: str
    traffic: Traffic
    replicas: Counts
    selectors: tuple[tuple[str, str], ...]
    status_patch: dict[str, Any] | None
    events: tuple[events.Event, ...]
    requeue_after: float | None
    after: models.Rollout
    wait: traffic_safety.Wait | None = None
    others: tuple[tuple[str, int], ...] = ()
    deadlines: tuple[tuple[str, str | None], ...] = ()
    analysis: canary_analysis.AnalysisDecision | None = None

    @property
    def key(self) -> str:
        return self.after.key

    @property
    def source(self) -> States:
        return self.move.source

    @property
    def target(self) -> States:
        return self.move.target

    @property
    def status(self) -> models.RolloutStatus:
        return self.after.status

    @property
    def step_index(self) -> int | None:
        return self.after.status.current_step_index

    @property
    def canary_weight(self) -> int:
        weights = self.traffic.weights
        return weights.canary.weight if weights else 0

    @property
    def stable_weight(self) -> int:
        weights = self.traffic.weights
        return weights.stable.weight if weights else 100

    @property
    def additional(self) -> tuple[models.WeightDestination, ...]:
        weights = self.traffic.weights
        return weights.additional if weights else ()

    @property
    def canary_replicas(self) -> int | None:
        return self.replicas[0]

    @property
    def stable_replicas(self) -> int | None:
        return self.replicas[1]
