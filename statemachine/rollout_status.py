"""A Rollout's `status`: frozen dataclasses for the parts of it that ALB canaries use.

Room: plan (pure). Each `models.Rollout` carries one; timestamps stay the RFC 3339 strings the API writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "AlbStatus",
    "AnalysisRunRef",
    "AwsResourceRef",
    "CanaryStatus",
    "Condition",
    "PauseCondition",
    "RolloutStatus",
    "TrafficWeights",
    "WeightDestination",
]


@dataclass(frozen=True, slots=True)
class WeightDestination:
    weight: int
    service_name: str = ""
    pod_template_hash: str = ""


@dataclass(frozen=True, slots=True)
class TrafficWeights:
    canary: WeightDestination
    stable: WeightDestination
    additional: tuple[WeightDestination, ...] = ()
    verified: bool | None = None


@dataclass(frozen=True, slots=True)
class AwsResourceRef:
    name: str = ""
    arn: str = ""
    full_name: str = ""


@dataclass(frozen=True, slots=True)
class AlbStatus:
    load_balancer: AwsResourceRef = field(default_factory=AwsResourceRef)
    canary_target_group: AwsResourceRef = field(default_factory=AwsResourceRef)
    stable_target_group: AwsResourceRef = field(default_factory=AwsResourceRef)
    ingress: str = ""


@dataclass(frozen=True, slots=True)
class AnalysisRunRef:
    """RolloutAnalysisRunStatus: the current AnalysisRun of one kind, its phase and message."""

    name: str
    status: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class CanaryStatus:
    weights: TrafficWeights | None = None
    stable_ping_pong: str = ""
    step_analysis: AnalysisRunRef | None = None
    """`currentStepAnalysisRunStatus`."""
    background_analysis: AnalysisRunRef | None = None
    """`currentBackgroundAnalysisRunStatus`."""


@dataclass(frozen=True, slots=True)
class PauseCondition:
    reason: str
    start_time: str


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_update_time: str = ""
    last_transition_time: str = ""


@dataclass(frozen=True, slots=True)
class RolloutStatus:
    abort: bool = False
    aborted_at: str | None = None
    pause_conditions: tuple[PauseCondition, ...] = ()
    controller_pause: bool = False
    current_pod_hash: str = ""
    current_step_index: int | None = None
    stable_rs: str = ""
    promote_full: bool = False
    phase: str = ""
    message: str = ""
    conditions: tuple[Condition, ...] = ()
    observed_generation: str = ""
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    hpa_replicas: int = 0
    """`HPAReplicas`: what the scale subresource reports (statusReplicasPath), for an HPA on the Rollout."""
    selector: str = ""
    """The pod selector as a label-selector string (labelSelectorPath of the scale subresource)."""
    workload_observed_generation: str = ""
    """`workloadObservedGeneration`: the referenced workload's generation the template was resolved from."""
    canary: CanaryStatus = field(default_factory=CanaryStatus)
    alb: AlbStatus | None = None
    albs: tuple[AlbStatus, ...] | None = None

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)
