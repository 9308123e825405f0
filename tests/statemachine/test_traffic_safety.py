"""Traffic follows targets (SPEC §4.11) in the planner: weight waits for its target group; a Service for 0.

Aspects: more canary weight waits until the canary Service's endpoints are the new pods and (with
verification) AWS found them healthy — the plan then holds the weights unwritten, does not complete the step,
lands in WaitingForTargets and looks again soon (EndpointSlices) or after the retry interval (ELBv2); once
serving, the weights move; the weight returning to the stable Service after promotion waits the same way;
the first weights of a Rollout never wait; a Service not observed is not gated; a Service's selector switch
waits while its target group carries weight, and goes once it carries none.
"""

from __future__ import annotations

from typing import Any

from statemachine import planning, traffic_safety
from statemachine.states import States
from tests.statemachine.conftest import NOW, rs, snapshot
from tests.statemachine.conftest import progressing_status as ps
from tests.statemachine.conftest import rollout_dict as ro

STEPS = [{"setWeight": 20}, {"pause": {}}]
CLUSTER: dict[str, Any] = {"new": rs("new", 2), "stable": rs("old", 10)}


def _raw(**status: Any) -> dict[str, Any]:
    return ro(STEPS, ps(0, canary_weight=0, **status), replicas=10)


def test_more_canary_weight_waits_for_the_canary_endpoints() -> None:
    seen = {"selectors": {"canary": "new", "stable": "old"},
            "endpoints": {"canary": frozenset({"old"}), "stable": frozenset({"old"})}}
    plan = planning.plan(snapshot(_raw(), **CLUSTER, **seen), now=NOW)
    assert plan.wait == traffic_safety.Wait("canary", "new")
    assert (plan.target, plan.trigger) == (States.WaitingForTargets, "wait_for_targets")
    assert (plan.traffic.write, plan.step_index) == (False, 0)
    assert "canary" not in (plan.status_patch or {}).get("status", {})  # the weights in status stay
    assert plan.requeue_after == planning.TARGET_WAIT_RETRY
    assert plan.reason == "waiting for Service canary's targets to serve pods new"

    switched = {**seen, "endpoints": {"canary": frozenset({"new"}), "stable": frozenset({"old"})}}
    moved = planning.plan(snapshot(_raw(), **CLUSTER, **switched), now=NOW, source=States.WaitingForTargets)
    assert moved.wait is None and moved.traffic.write and moved.canary_weight == 20
    assert (moved.target, moved.trigger) == (States.WeightSet, "targets_ready")


def test_with_verification_aws_must_find_the_targets_healthy() -> None:
    seen: dict[str, Any] = {"selectors": {"canary": "new", "stable": "old"},
                            "endpoints": {"canary": frozenset({"new"}), "stable": frozenset({"old"})},
                            "verify_weights": True}
    plan = planning.plan(snapshot(_raw(verified=True), **CLUSTER, **seen), now=NOW, verify_retry_interval=7.0)
    assert plan.wait == traffic_safety.Wait("canary", "new")
    assert plan.requeue_after == 7.0  # ELBv2 is asked once per retry interval
    healthy = planning.plan(snapshot(_raw(verified=True), **CLUSTER, **seen, targets={"canary": "new"}),
                            now=NOW, source=States.WaitingForTargets)
    assert healthy.wait is None and healthy.canary_weight == 20
    stale = planning.plan(snapshot(_raw(verified=True), **CLUSTER, **seen, targets={"canary": "old"}),
                          now=NOW)
    assert stale.wait == traffic_safety.Wait("canary", "new")


def test_weight_back_to_stable_after_promotion_waits_for_the_stable_targets() -> None:
    status = {**ps(2, canary_weight=100), "stableRS": "new"}
    raw = ro(STEPS, status, replicas=10)
    cluster: dict[str, Any] = {"new": rs("new", 10), "stable": rs("new", 10)}
    seen = {"selectors": {"canary": "new", "stable": "new"},
            "endpoints": {"canary": frozenset({"new"}), "stable": frozenset({"old"})}}
    plan = planning.plan(snapshot(raw, **cluster, **seen), now=NOW, source=States.Promoted)
    assert plan.wait == traffic_safety.Wait("stable", "new")
    assert (plan.target, plan.trigger, plan.traffic.write) == (States.WaitingForTargets, "wait_for_targets",
                                                              False)
    served = {**seen, "endpoints": {"canary": frozenset({"new"}), "stable": frozenset({"new"})}}
    back = planning.plan(snapshot(raw, **cluster, **served), now=NOW, source=States.WaitingForTargets)
    assert (back.canary_weight, back.stable_weight, back.trigger) == (0, 100, "targets_ready")


def test_first_weights_and_unobserved_services_do_not_wait() -> None:
    first = ro(STEPS, {"currentPodHash": "new", "stableRS": "old", "currentStepIndex": 0}, replicas=10)
    seen = {"selectors": {"canary": "new"}, "endpoints": {"canary": frozenset({"old"})}}
    assert planning.plan(snapshot(first, **CLUSTER, **seen), now=NOW).wait is None
    assert planning.plan(snapshot(_raw(), **CLUSTER), now=NOW).wait is None


def test_a_service_switch_waits_while_its_target_group_carries_weight() -> None:
    carrying = ro(STEPS, ps(0, canary_weight=20, verified=True), replicas=10)
    snap = snapshot(carrying, new=rs("new", 2), stable=rs("old", 10),
                    selectors={"canary": "older", "stable": "old"})
    wanted = (("canary", "new"), ("stable", "old"))
    assert traffic_safety.allowed_selectors(snap, wanted) == (("stable", "old"),)
    empty = snapshot(_raw(), new=rs("new", 2), stable=rs("old", 10), selectors={"canary": "older"})
    assert traffic_safety.allowed_selectors(empty, (("canary", "new"),)) == (("canary", "new"),)
    unset = snapshot(carrying, new=rs("new", 2), selectors={"canary": ""})
    assert traffic_safety.allowed_selectors(unset, (("canary", "new"),)) == (("canary", "new"),)


def test_referenced_hashes_are_status_weights_and_service_selectors() -> None:
    raw = ro(STEPS, ps(0, canary_weight=20, currentPodHash="v3"), replicas=10)
    raw["status"]["canary"]["weights"]["additional"] = [
        {"weight": 0, "serviceName": "exp", "podTemplateHash": "exp"}]
    seen = snapshot(raw, new=rs("v3", 2), stable=rs("old", 10), others=(rs("new", 2), rs("gone", 1)),
                    selectors={"canary": "sel", "stable": ""})
    assert traffic_safety.referenced(seen) == frozenset({"v3", "old", "new", "exp", "sel"})


def test_scale_down_budget_is_availability_beyond_max_unavailable() -> None:
    raw = ro(STEPS, ps(0), replicas=10)  # maxUnavailable 25% of 10 -> 2: at least 8 available
    assert traffic_safety.scale_down_budget(snapshot(raw, new=rs("new", 2), stable=rs("old", 10, 7),
                                                     others=(rs("v1", 1),))) == 2
    short = snapshot(raw, new=rs("new", 2, 0), stable=rs("old", 10, 7))
    assert traffic_safety.scale_down_budget(short) == -1
    raw["spec"]["strategy"]["canary"]["maxUnavailable"] = 0
    assert traffic_safety.scale_down_budget(snapshot(raw, new=rs("new", 2), stable=rs("old", 10))) == 2
