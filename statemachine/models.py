"""The Rollout domain model: frozen dataclasses for the parts of a Rollout that ALB canaries use.

Room: plan (pure). Built from the raw API dict by `statemachine.parsing.parse_rollout`; never mutated,
never does I/O. Timestamps stay as the RFC 3339 strings the API carries so status round-trips exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from statemachine.rollout_status import (
    AlbStatus,
    AnalysisRunRef,
    AwsResourceRef,
    CanaryStatus,
    Condition,
    PauseCondition,
    RolloutStatus,
    TrafficWeights,
    WeightDestination,
)

if TYPE_CHECKING:  # bluegreen_spec imports this module
    from statemachine.bluegreen_spec import BlueGreenStrategy

# the status dataclasses live in rollout_status; callers know them as `models.RolloutStatus` and so on
__all__ = [
    "DEFAULT_ANNOTATION_PREFIX",
    "INSTANCE_ID_LABEL",
    "POD_TEMPLATE_HASH_LABEL",
    "REVISION_ANNOTATION",
    "ROLLOUT_API_VERSION",
    "WORKLOAD_GENERATION_ANNOTATION",
    "AlbRouting",
    "AlbStatus",
    "Analysis",
    "AnalysisRunRef",
    "AwsResourceRef",
    "CanaryStatus",
    "CanaryStrategy",
    "Condition",
    "Experiment",
    "HeaderMatch",
    "InvalidSpec",
    "Pause",
    "PauseCondition",
    "PingPong",
    "Plugin",
    "Rollout",
    "RolloutStatus",
    "SetCanaryScale",
    "SetHeaderRoute",
    "SetMirrorRoute",
    "SetWeight",
    "Step",
    "Stickiness",
    "TrafficWeights",
    "WeightDestination",
    "WorkloadRef",
    "format_time",
    "parse_rollout",
    "parse_time",
]

DEFAULT_ANNOTATION_PREFIX = "alb.ingress.kubernetes.io"
INSTANCE_ID_LABEL = "argo-rollouts.argoproj.io/controller-instance-id"
POD_TEMPLATE_HASH_LABEL = "rollouts-pod-template-hash"
REVISION_ANNOTATION = "rollout.argoproj.io/revision"
ROLLOUT_API_VERSION = "argoproj.io/v1alpha1"
WORKLOAD_GENERATION_ANNOTATION = "rollout.argoproj.io/workload-generation"
"""The generation of the workload a Rollout's spec.workloadRef names (statemachine.workload_refs)."""


class InvalidSpec(Exception):
    """A Rollout that cannot be served; `message` is the text shown after `InvalidSpec: `."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- steps -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetWeight:
    weight: int


@dataclass(frozen=True, slots=True)
class Pause:
    """A pause step; `duration_seconds` None means indefinite; `raw` is the spec value as written."""

    duration_seconds: int | None = None
    raw: str | int | None = None


@dataclass(frozen=True, slots=True)
class SetCanaryScale:
    weight: int | None = None
    replicas: int | None = None
    match_traffic_weight: bool = False


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    """One `setHeaderRoute.match` entry; exactly one of exact/prefix/regex is expected (validation checks)."""

    header_name: str
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None
    has_value: bool = True


@dataclass(frozen=True, slots=True)
class SetHeaderRoute:
    """`match` None removes the route (reference §1.6)."""

    name: str
    match: tuple[HeaderMatch, ...] | None = None


@dataclass(frozen=True, slots=True)
class SetMirrorRoute:
    name: str


@dataclass(frozen=True, slots=True)
class Experiment:
    """Unsupported for now (SPEC §7): kept so validation can name it."""


@dataclass(frozen=True, slots=True)
class Analysis:
    """An analysis step: its RolloutAnalysis as written (templates, args, dryRun, measurementRetention,
    analysisRunMetadata); statemachine.canary_analysis reads it."""

    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Plugin:
    """Unsupported for now (SPEC §7): kept so validation can name it."""

    name: str = ""


Step = SetWeight | Pause | SetCanaryScale | SetHeaderRoute | SetMirrorRoute | Experiment | Analysis | Plugin


# --- spec --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stickiness:
    enabled: bool
    duration_seconds: int


@dataclass(frozen=True, slots=True)
class AlbRouting:
    """`...trafficRouting.alb`; `ingresses` is None when unset (an empty list counts as set)."""

    ingress: str | None
    ingresses: tuple[str, ...] | None
    service_port: int
    root_service: str = ""
    annotation_prefix: str = ""
    stickiness: Stickiness | None = None

    @property
    def prefix(self) -> str:
        return self.annotation_prefix or DEFAULT_ANNOTATION_PREFIX

    @property
    def ingress_names(self) -> tuple[str, ...]:
        """The ingresses to patch, in spec order (reference §1.5).

        An empty `ingresses` list falls back to `ingress`: validation already treats it as unset, and the
        reference's quirk of then patching nothing at all would only strand the rollout.
        """
        if self.ingresses:
            return self.ingresses
        return (self.ingress,) if self.ingress else ()


@dataclass(frozen=True, slots=True)
class PingPong:
    ping_service: str
    pong_service: str


@dataclass(frozen=True, slots=True)
class CanaryStrategy:
    canary_service: str = ""
    stable_service: str = ""
    ping_pong: PingPong | None = None
    steps: tuple[Step, ...] = ()
    alb: AlbRouting | None = None
    managed_routes: tuple[str, ...] = ()
    max_traffic_weight: int | None = None
    has_traffic_routing: bool = False
    other_traffic_routers: tuple[str, ...] = ()
    dynamic_stable_scale: bool = False
    abort_scale_down_delay_seconds: int | None = None
    scale_down_delay_seconds: int | None = None
    min_pods_per_replica_set: int | None = None
    max_surge: int | str | None = None
    max_unavailable: int | str | None = None
    anti_affinity: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    """`canary.antiAffinity` as written (statemachine.anti_affinity reads it; validation checks it)."""
    unsupported_fields: tuple[str, ...] = ()
    """Canary fields the reference honours and we do not yet (refused with InvalidSpec, never ignored)."""
    analysis: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    """`canary.analysis` (background analysis, with `startingStep`) as written."""

    @property
    def basic(self) -> bool:
        """A basic canary: no trafficRouting, so setWeight is a replica ratio and nothing is routed."""
        return not self.has_traffic_routing

    @property
    def action_service(self) -> str:
        """The service named in the action key: rootService, else stableService (reference §1.1)."""
        root = self.alb.root_service if self.alb else ""
        return root or self.stable_service


@dataclass(frozen=True, slots=True)
class WorkloadRef:
    """`spec.workloadRef`: the workload whose pod template the Rollout runs (statemachine.workload_refs)."""

    api_version: str = ""
    kind: str = ""
    name: str = ""
    scale_down: str = ""
    """never (also ""), onsuccess or progressively: what happens to the referenced Deployment's replicas."""


# --- the Rollout -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rollout:
    """A parsed Rollout. `template` and `raw_status` stay raw dicts: they are hashed or patched, not read."""

    namespace: str
    name: str
    uid: str = ""
    generation: int = 0
    resource_version: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    replicas: int = 1
    paused: bool = False
    restart_at: str | None = None
    progress_deadline_seconds: int = 600
    """spec.progressDeadlineSeconds: no progress this long turns Progressing into ProgressDeadlineExceeded."""
    progress_deadline_abort: bool = False
    rollback_window_revisions: int | None = None
    """spec.rollbackWindow.revisions: going back to one of that many recent ReplicaSets skips the steps."""
    selector: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    has_selector: bool = True
    """False when spec.selector is absent or null (`selector` is then {})."""
    template: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    workload_ref: WorkloadRef | None = None
    template_resolved: bool = False
    """True when `template` (and a missing selector) came from `workload_ref` (the reference's
    TemplateResolvedFromRef): set by the reconciler after `statemachine.workload_refs.resolve`."""
    canary: CanaryStrategy | None = None
    strategy_kind: str = "canary"
    blue_green: BlueGreenStrategy | None = None
    revision_history_limit: int = 10
    status: RolloutStatus = field(default_factory=RolloutStatus)
    raw_status: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def label(self, name: str) -> str | None:
        return dict(self.labels).get(name)

    def annotation(self, name: str) -> str | None:
        return dict(self.annotations).get(name)

    @property
    def revision(self) -> int:
        """The `rollout.argoproj.io/revision` annotation as an int (0 when absent or not a number)."""
        value = self.annotation(REVISION_ANNOTATION) or ""
        return int(value) if value.isdigit() else 0

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.canary.steps if self.canary else ()


def parse_time(value: str | None) -> datetime | None:
    """Parse an RFC 3339 timestamp as the API writes it; None for empty or malformed values."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(moment: datetime) -> str:
    """Format like Kubernetes' metav1.Time: UTC, second precision, trailing Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rollout(obj: Any, *, template_resolved: bool = False) -> Rollout:
    """Parse a raw Rollout dict; raises only `InvalidSpec` (see `statemachine.parsing`).

    `template_resolved`: the dict is a Rollout whose template was taken from its workloadRef.
    """
    from statemachine import parsing  # parsing imports this module; import late to avoid a cycle

    return parsing.parse_rollout(obj, template_resolved=template_resolved)
