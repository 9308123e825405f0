"""The frozen view of the world the planner decides from: a parsed Rollout plus what the cluster showed.

Room: plan (pure). `service/` builds a `Snapshot` from its caches and the last AWS answer; nothing here reads
a clock, a cache or the network. Every field is data the controller observed, never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from statemachine import models
from statemachine.raw import mapping as _mapping

__all__ = ["AnalysisRunView", "ReplicaSetView", "Snapshot"]


@dataclass(frozen=True, slots=True)
class ReplicaSetView:
    """What the planner needs of one ReplicaSet; `replicas` is status.replicas (None: use the spec count)."""

    name: str
    hash: str
    spec_replicas: int
    available_replicas: int = 0
    ready_replicas: int = 0
    replicas: int | None = None
    revision: int = 0
    created: str = ""
    """metadata.creationTimestamp (RFC 3339, as the API carries it)."""
    scale_down_deadline: str = ""
    """The `scale-down-deadline` annotation as written ("" when absent)."""

    @property
    def current_replicas(self) -> int:
        return self.spec_replicas if self.replicas is None else self.replicas


@dataclass(frozen=True, slots=True)
class AnalysisRunView:
    """What the planner reads of an AnalysisRun the Rollout controls."""

    name: str
    phase: str = ""
    message: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    terminate: bool = False
    created: str = ""

    @staticmethod
    def of(raw: Mapping[str, Any]) -> AnalysisRunView:
        """From the raw object (anything malformed reads as empty)."""
        metadata, spec, status = (_mapping(raw, key) for key in ("metadata", "spec", "status"))
        labels = _mapping(metadata, "labels")
        return AnalysisRunView(
            name=str(metadata.get("name") or ""), phase=str(status.get("phase") or ""),
            message=str(status.get("message") or ""),
            labels={str(k): str(v) for k, v in labels.items()}, terminate=spec.get("terminate") is True,
            created=str(metadata.get("creationTimestamp") or ""))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One reconcile's observations.

    `new_rs` is the ReplicaSet of the current pod template (None until created); `stable_rs` the one named by
    `status.stableRS` (None when unset or missing); `others` every other ReplicaSet of the Rollout.
    `template_hash` is the current template's pod-template hash (defaults to `new_rs.hash`).
    `verified` is the latest weight-verification answer for the weights in status (None: not checked);
    `weights_known` says whether the Ingress is known to carry the weights in status; `verify_weights` is the
    `--aws-verify-target-group` flag; `verify_error` the text of a failed verification (for example a denied
    permission); `invalid_spec` the validation message (None when the spec is valid).
    Traffic safety (observed only by the reconciler; a Service missing here is not gated): `selectors` maps a
    Service to the pod-template hash its selector names now; `endpoints` to the pod-template hashes behind
    its ready endpoints (EndpointSlices); `targets` to the hash whose pods AWS found registered and healthy
    in every target group bound to it (with `--aws-verify-target-group`).
    Analysis: `analysis_runs` the AnalysisRuns the Rollout controls; `analysis_templates` /
    `cluster_analysis_templates` the templates by name (what the informers hold); `raw` the Rollout as read
    (its fields feed `valueFrom.fieldRef` args).
    """

    rollout: models.Rollout
    new_rs: ReplicaSetView | None = None
    stable_rs: ReplicaSetView | None = None
    others: tuple[ReplicaSetView, ...] = ()
    template_hash: str = ""
    verified: bool | None = None
    weights_known: bool = True
    verify_weights: bool = False
    verify_error: str | None = None
    invalid_spec: str | None = None
    selectors: Mapping[str, str] = field(default_factory=dict)
    endpoints: Mapping[str, frozenset[str]] = field(default_factory=dict)
    targets: Mapping[str, str] = field(default_factory=dict)
    analysis_runs: tuple[AnalysisRunView, ...] = ()
    analysis_templates: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    cluster_analysis_templates: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)
    analysis_observed: bool = False
    """The analysis fields above were read (the reconciler); offline snapshots (`alb-rollouts plan`) leave
    runs and templates alone."""

    @property
    def pod_hash(self) -> str:
        """The hash of the current pod template: what `status.currentPodHash` must become."""
        if self.template_hash:
            return self.template_hash
        return self.new_rs.hash if self.new_rs else self.rollout.status.current_pod_hash

    @property
    def revision(self) -> int:
        """The revision of the update in flight (the new ReplicaSet's, else the Rollout's annotation)."""
        if self.new_rs is not None and self.new_rs.revision:
            return self.new_rs.revision
        return self.rollout.revision
