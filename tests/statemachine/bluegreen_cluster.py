"""A tiny simulated cluster for blue-green planner tests: Rollout dict, ReplicaSets, Service selectors, time.

Each `cycle()` plans at `now`, applies the decision as `service/` would (status merge patch, Service
selectors, ReplicaSet sizes, `scale-down-deadline` changes) and, unless `lag` is set, makes scaled pods
available at once. The EndpointSlices are not observed unless a test sets `endpoints` (`catch_up()` makes them
follow the selectors), as a planner test without a cluster.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from statemachine import bluegreen_spec, parsing
from statemachine.bluegreen_decision import BlueGreenDecision
from statemachine.bluegreen_planning import plan_blue_green
from statemachine.snapshot import ReplicaSetView, Snapshot
from statemachine.states import States
from tests.statemachine.conftest import NOW, applied, merge

__all__ = ["Cluster", "bg_dict"]


def bg_dict(status: dict[str, Any] | None = None, *, replicas: int = 3, paused: bool = False,
            generation: int = 2, revision: str = "2", **blue_green: Any) -> dict[str, Any]:
    """A blue-green Rollout `demo` (active `active`, preview `preview` unless overridden)."""
    strategy = {"activeService": "active", "previewService": "preview", **blue_green}
    spec: dict[str, Any] = {
        "replicas": replicas, "selector": {"matchLabels": {"app": "demo"}},
        "template": {"metadata": {"labels": {"app": "demo"}}, "spec": {"containers": [{"name": "c"}]}},
        "strategy": {"blueGreen": {k: v for k, v in strategy.items() if v is not None}},
    }
    if paused:
        spec["paused"] = True
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "demo", "namespace": "default", "generation": generation,
                         "annotations": {"rollout.argoproj.io/revision": revision}},
            "spec": spec, "status": status or {}}


@dataclass
class _RS:
    hash: str
    revision: int
    created: str
    spec: int = 0
    available: int = 0

    def view(self) -> ReplicaSetView:
        return ReplicaSetView(name=f"demo-{self.hash}", hash=self.hash, spec_replicas=self.spec,
                              available_replicas=self.available, ready_replicas=self.available,
                              replicas=self.spec, revision=self.revision, created=self.created)


@dataclass
class Cluster:
    raw: dict[str, Any]
    template: str = "h1"
    now: Any = NOW
    sets: dict[str, _RS] = field(default_factory=dict)
    selectors: dict[str, str] = field(default_factory=dict)
    deadlines: dict[str, str] = field(default_factory=dict)
    verify: bool = False
    targets_verified: bool | None = None
    lag: bool = False
    endpoints: dict[str, frozenset[str]] | None = None
    """Per Service, the hashes behind its ready endpoints (None: not observed)."""
    log: list[BlueGreenDecision] = field(default_factory=list)
    state: States | None = None
    """The machine model's state (the last decision's target), passed as `source`."""

    def add_rs(self, pod_hash: str, *, spec: int = 0, available: int | None = None) -> None:
        revision = len(self.sets) + 1
        created = (NOW + timedelta(minutes=revision)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.sets[pod_hash] = _RS(pod_hash, revision, created, spec, spec if available is None else available)

    def deploy(self, pod_hash: str, *, generation_bump: bool = True) -> None:
        """A new pod template: its ReplicaSet is created with 0 replicas (or found) by `service/`."""
        if pod_hash not in self.sets:
            self.add_rs(pod_hash)
        self.template = pod_hash
        rev = self.sets[pod_hash].revision
        self.raw = merge(self.raw, {"metadata": {"annotations": {"rollout.argoproj.io/revision": str(rev)}}})
        if generation_bump:
            self.bump()

    def catch_up(self) -> None:
        """The EndpointSlices follow the selectors: each Service lists the available pods it selects."""
        available = frozenset(h for h, rs in self.sets.items() if rs.available > 0)
        self.endpoints = {service: available if not pod_hash else available & {pod_hash}
                          for service, pod_hash in self.selectors.items()}

    def bump(self) -> None:
        self.raw = merge(self.raw, {"metadata": {"generation": self.raw["metadata"]["generation"] + 1}})

    def patch(self, body: dict[str, Any]) -> None:
        """A user's merge patch (the kubectl plugin); a spec change bumps the generation."""
        self.raw = merge(self.raw, body)
        if "spec" in body:
            self.bump()

    @property
    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.raw.get("status") or {}
        return result

    def snapshot(self) -> Snapshot:
        rollout = parsing.parse_rollout(copy.deepcopy(self.raw))
        stable_hash = rollout.status.stable_rs
        new = self.sets[self.template].view() if self.template in self.sets else None
        stable = self.sets[stable_hash].view() if stable_hash in self.sets else None
        others = tuple(rs.view() for h, rs in self.sets.items() if h not in (self.template, stable_hash))
        return Snapshot(rollout=rollout, new_rs=new, stable_rs=stable, others=others,
                        template_hash=self.template, selectors=dict(self.selectors),
                        endpoints=dict(self.endpoints or {}), verify_weights=self.verify)

    def cycle(self) -> BlueGreenDecision:
        snapshot = self.snapshot()
        decision = plan_blue_green(snapshot, now=self.now, source=self.state,
                                   targets_verified=self.targets_verified,
                                   strategy=bluegreen_spec.parse_blue_green(self.raw),
                                   deadlines=dict(self.deadlines))
        self.log.append(decision)
        self.state = decision.target
        self.raw = applied(self.raw, decision.status_patch)
        for service, pod_hash in decision.selectors:
            self.selectors[service] = pod_hash
        for name, deadline in decision.deadlines:
            if deadline is None:
                self.deadlines.pop(name, None)
            else:
                self.deadlines[name] = deadline
        sizes = list(decision.others)
        new_size, stable_size = decision.replicas
        if new_size is not None and snapshot.new_rs is not None:
            sizes.append((snapshot.new_rs.name, new_size))
        if stable_size is not None and snapshot.stable_rs is not None:
            sizes.append((snapshot.stable_rs.name, stable_size))
        by_name = {f"demo-{h}": rs for h, rs in self.sets.items()}
        for name, size in sizes:
            rs = by_name[name]
            rs.spec = size
            if size == 0:
                self.deadlines.pop(name, None)
            if not self.lag:
                rs.available = size
        return decision

    def run(self, *, limit: int = 12, advance: bool = True) -> list[BlueGreenDecision]:
        """Cycles until one writes nothing and has no requeue (time jumps to each requeue when `advance`;
        without it, at most `limit` cycles)."""
        out = []
        for _ in range(limit):
            decision = self.cycle()
            out.append(decision)
            idle = (decision.status_patch is None and not _moves(decision))
            if idle and decision.requeue_after is None:
                return out
            if idle and advance and decision.requeue_after is not None:
                self.now += timedelta(seconds=decision.requeue_after)
            elif idle:
                return out
        if not advance:
            return out  # a bounded walk
        raise AssertionError("did not settle: " + " | ".join(d.reason for d in out[-4:]))


def _moves(decision: BlueGreenDecision) -> bool:
    return bool(decision.deadlines or decision.others or any(
        e.reason in ("ScalingReplicaSet", "SwitchService") for e in decision.events))
