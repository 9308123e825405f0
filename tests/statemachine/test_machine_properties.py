"""The planner only ever picks legal triggers, over whole lives of a Rollout (hypothesis).

Aspects: a simulated world (a cluster whose ReplicaSets scale at once or lag, an ALB that confirms, refuses or
is denied, a clock) drives one Rollout through random user actions: template changes mid-canary (and back to
the stable one), the plugin's exact promote / promote --full / abort / retry / pause patches (abort during
verification and promote --full while paused included), spec.paused, an invalid spec and its fix, time
passing, controller restarts (the model rebuilt from status), Services whose endpoints lag their selectors and
target groups that do or do not serve yet. After every reconcile the plan's trigger is one of the table's
rows, the machine accepts it, the model lands where the written status says (or in WaitingForTargets, which
is observed, not written), and the step index never moves past the steps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from statemachine import machine, parsing, planning
from statemachine.machine import States
from statemachine.snapshot import ReplicaSetView, Snapshot
from tests.statemachine.conftest import NOW, applied, merge, rollout_dict
from tests.statemachine.test_plugin_patches import ABORT, PAUSE, PROMOTE, PROMOTE_FULL, RETRY, UNPAUSE

STEPS = st.lists(st.one_of(
    st.builds(lambda w: {"setWeight": w}, st.integers(0, 100)),
    st.just({"pause": {}}),
    st.builds(lambda d: {"pause": {"duration": d}}, st.integers(1, 600)),
), min_size=0, max_size=4)

ACTIONS = st.lists(st.sampled_from([
    "update", "rollback", "promote", "promote_full", "abort", "retry", "pause", "unpause", "aws_yes",
    "aws_no", "aws_denied", "tick", "invalid", "valid", "restart", "pods_lag", "pods_ready", "endpoints_lag",
    "endpoints_ready", "targets_no", "targets_yes",
]), min_size=1, max_size=25)


@dataclass
class World:
    """One Rollout, its ReplicaSets (hash → spec replicas), the ALB's mood and the machine's model."""

    raw: dict[str, Any]
    template: str = "h0"
    specs: dict[str, int] = field(default_factory=dict)
    lagging: bool = False
    aws: str = "yes"
    answer: tuple[Any, bool, str | None] | None = None  # (weights it was about, verified, error)
    invalid: bool = False
    now: datetime = NOW
    revisions: int = 0
    machine: Any = None
    model: machine.RolloutModel | None = None
    moves: list[str] = field(default_factory=list)
    selectors: dict[str, str] = field(default_factory=lambda: {"stable": "", "canary": ""})
    endpoints_lag: bool = False
    targets: dict[str, str] = field(default_factory=dict)
    targets_ok: bool = True

    def endpoints(self) -> dict[str, frozenset[str]]:
        """The pod hashes behind each Service's ready endpoints (a lagging endpoint controller: the old)."""
        running = frozenset(h for h, n in self.specs.items() if n > 0 and not self.lagging)
        seen = {}
        for service, pod_hash in self.selectors.items():
            behind = running if not pod_hash else running & {pod_hash}
            seen[service] = frozenset() if self.endpoints_lag else behind
        return seen

    def view(self, pod_hash: str) -> ReplicaSetView:
        spec = self.specs.get(pod_hash, 0)
        return ReplicaSetView(name=f"demo-{pod_hash}", hash=pod_hash, spec_replicas=spec,
                              available_replicas=0 if self.lagging else spec,
                              ready_replicas=0 if self.lagging else spec, revision=int(pod_hash[1:]) + 1)

    def snapshot(self) -> Snapshot:
        rollout = parsing.parse_rollout(self.raw)
        self.specs.setdefault(self.template, 0)  # claim creates the new ReplicaSet with 0 replicas
        stable_hash = rollout.status.stable_rs
        stable = self.view(stable_hash) if stable_hash in self.specs else None
        others = tuple(self.view(h) for h in self.specs if h not in (self.template, stable_hash))
        verified = error = None
        weights = rollout.status.canary.weights
        if self.answer is not None and weights is not None and self.answer[0] == _key(weights):
            verified, error = self.answer[1], self.answer[2]
        return Snapshot(rollout=rollout, new_rs=self.view(self.template), stable_rs=stable, others=others,
                        template_hash=self.template, verify_weights=True, verified=verified,
                        verify_error=error, invalid_spec="spec.bad: invalid" if self.invalid else None,
                        selectors=dict(self.selectors), endpoints=self.endpoints(),
                        targets=dict(self.targets))

    def reconcile(self) -> planning.Plan:
        snap = self.snapshot()
        if self.model is None:
            self.machine = machine.build_machine()
            self.model = machine.add_rollout(self.machine, snap.rollout)
        plan = planning.plan(snap, now=self.now, source=self.model.state)
        assert plan.trigger is not None, f"no row for {plan.move}"
        outcomes = machine.fire(self.machine, self.model, plan.trigger, plan.move, now=self.now)
        self.moves.append(plan.trigger)
        self.raw = applied(self.raw, plan.status_patch)
        after = parsing.parse_rollout(self.raw)
        if self.model.state is not States.WaitingForTargets:  # a wait is observed, not written
            assert self.model.state is machine.state_from_status(after), "the model and status disagree"
        index, steps = after.status.current_step_index, len(after.steps)
        assert index is None or 0 <= index <= steps
        if "scale_replicasets" in outcomes and plan.canary_replicas is not None:
            self.specs[self.template] = plan.canary_replicas
        scaled = "scale_replicasets" in outcomes
        if scaled and plan.stable_replicas is not None and snap.stable_rs is not None:
            self.specs[snap.stable_rs.hash] = plan.stable_replicas
        if "point_services" in outcomes:
            for service, pod_hash in plan.selectors:
                if self.selectors.get(service) != pod_hash:
                    self.targets.pop(service, None)
                self.selectors[service] = pod_hash
        if "check_targets" in outcomes and plan.wait is not None and self.targets_ok:
            self.targets[plan.wait.service] = plan.wait.pod_hash
        if "verify_weights" in outcomes and plan.traffic.weights is not None:
            error = "AccessDenied: elasticloadbalancing:DescribeRules" if self.aws == "denied" else None
            self.answer = (_key(plan.traffic.weights), self.aws == "yes", error)
        return plan

    def settle(self) -> None:
        for _ in range(16):
            plan = self.reconcile()
            if plan.trigger == "sync" and plan.status_patch is None:
                return
            if plan.requeue_after:
                self.now += timedelta(seconds=plan.requeue_after)

    def act(self, action: str) -> None:
        patches = {"promote": PROMOTE, "promote_full": PROMOTE_FULL, "abort": ABORT, "retry": RETRY,
                   "pause": PAUSE, "unpause": UNPAUSE}
        if action in patches:
            self.raw = merge(self.raw, json.loads(patches[action]))
        elif action == "update":
            self.revisions += 1
            self.template = f"h{self.revisions}"
        elif action == "rollback":
            stable = str((self.raw.get("status") or {}).get("stableRS") or "")
            self.template = stable or self.template
        elif action.startswith("aws_"):
            self.aws = action.removeprefix("aws_")
        elif action == "tick":
            self.now += timedelta(minutes=15)
        elif action in ("invalid", "valid"):
            self.invalid = action == "invalid"
        elif action == "restart":
            self.model = None
        elif action.startswith("targets_"):
            self.targets_ok = action == "targets_yes"
        elif action.startswith("endpoints_"):
            self.endpoints_lag = action == "endpoints_lag"
        else:
            self.lagging = action == "pods_lag"


def _key(weights: Any) -> tuple[Any, ...]:
    return (weights.canary, weights.stable, weights.additional)


@settings(max_examples=200, deadline=None)
@given(steps=STEPS, actions=ACTIONS)
def test_the_planner_only_picks_legal_triggers(steps: list[dict[str, Any]], actions: list[str]) -> None:
    world = World(rollout_dict(steps, {}, replicas=4, revision=None))
    world.settle()
    for action in actions:
        world.act(action)
        world.settle()


def test_a_life_visits_most_of_the_table() -> None:
    """A fixed walk through the common moves, so that the property above is known to reach them."""
    world = World(rollout_dict([{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}], {}, replicas=4,
                               revision=None))
    world.settle()
    for action in ["aws_no", "update", "aws_yes", "promote", "abort", "retry", "pause", "unpause",
                   "promote_full", "update", "invalid", "valid", "aws_denied", "update", "rollback"]:
        world.act(action)
        world.settle()
    assert world.model is not None
    table = {row["trigger"] for row in machine.TRANSITIONS}
    seen = set(world.moves)
    assert seen <= table
    assert {"update", "verify", "weights_unverified", "complete_step", "pause", "resume", "promote", "abort",
            "retry", "invalidate", "revalidate", "sync", "wait_for_targets", "targets_ready"} <= seen
    assert world.model.state is States.Promoted  # rolled back to the stable template: nothing to do
