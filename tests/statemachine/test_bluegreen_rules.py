"""The §3 decision rules as tables: haltProgress, IsSaturated, NewRSNewReplicas, rollback detection,
fast-track, the widened active Service (ours), CompletedBlueGreenPause, reconcileBlueGreenPause, the active
hash, shouldFullPromote, the preview checkpoint; plus the §5.2 / §6.1 scale-down decisions and the §0 spec
and validation messages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from statemachine import bluegreen_rules as rules
from statemachine import bluegreen_scaledown as scaledown
from statemachine import bluegreen_spec, bluegreen_status, models, parsing
from statemachine.snapshot import ReplicaSetView, Snapshot
from tests.statemachine.bluegreen_cluster import bg_dict
from tests.statemachine.conftest import NOW

STABLE = ReplicaSetView("demo-h1", "h1", 3, 3, 3, 3, 1, "2026-11-26T12:01:00Z")
NEW = ReplicaSetView("demo-h2", "h2", 3, 3, 3, 3, 2, "2026-11-26T12:02:00Z")
MID = {"currentPodHash": "h2", "stableRS": "h1", "observedGeneration": "2",
       "blueGreen": {"activeSelector": "h1", "previewSelector": "h2"}}


def _cycle(status: dict[str, Any] | None = None, *, new: ReplicaSetView = NEW,
           stable: ReplicaSetView | None = STABLE, active: str = "h1", within: bool = False,
           paused: bool = False, **bg: Any) -> rules.Cycle:
    raw = bg_dict({**MID, **(status or {})}, paused=paused, **bg)
    rollout = parsing.parse_rollout(raw)
    strategy = bluegreen_spec.parse_blue_green(raw)
    assert strategy is not None
    snapshot = Snapshot(rollout=rollout, new_rs=new, stable_rs=stable, template_hash=new.hash)
    return rules.Cycle(snapshot, strategy, bluegreen_status.parse_status(rollout.raw_status), active, NOW,
                       new_within_delay=within)


PAUSE = {"pauseConditions": [{"reason": "BlueGreenPause", "startTime": "2026-11-26T12:00:00Z"}],
         "controllerPause": True}


@pytest.mark.parametrize(("paused", "status", "expected"), [
    pytest.param(False, {}, "", id="running"),
    pytest.param(True, {}, "user paused", id="spec.paused"),
    pytest.param(False, {"pauseConditions": [{"reason": "InconclusiveAnalysisRun", "startTime": "x"}]},
                 "inconclusive analysis", id="inconclusive"),
    pytest.param(False, PAUSE, "", id="blue-green pause does not halt"),
])
def test_halt_progress(paused: bool, status: dict[str, Any], expected: str) -> None:
    assert rules.halt_progress(_cycle(status, paused=paused).rollout) == expected


@pytest.mark.parametrize(("bg", "status", "active_rs", "expected"), [
    pytest.param({}, {}, "h1", 3, id="no previewReplicaCount"),
    pytest.param({"previewReplicaCount": 1}, {}, "h1", 1, id="preview"),
    pytest.param({"previewReplicaCount": 1}, {"blueGreen": {"activeSelector": "h2"}}, "h2", 3,
                 id="active is the new RS"),
    pytest.param({"previewReplicaCount": 1}, {"blueGreen": {"activeSelector": "zz"}}, "", 3,
                 id="no active RS"),
    pytest.param({"previewReplicaCount": 1}, {"promoteFull": True}, "h1", 3, id="promoteFull"),
    pytest.param({"previewReplicaCount": 1}, {"currentPodHash": "h0"}, "h1", 1, id="first sight"),
    pytest.param({"previewReplicaCount": 1},
                 {"blueGreen": {"activeSelector": "h1", "scaleUpPreviewCheckPoint": True}}, "h1", 3,
                 id="checkpoint, not paused"),
    pytest.param({"previewReplicaCount": 1},
                 {**PAUSE, "blueGreen": {"activeSelector": "h1", "scaleUpPreviewCheckPoint": True}}, "h1", 1,
                 id="checkpoint, paused"),
])
def test_new_rs_replicas(bg: dict[str, Any], status: dict[str, Any], active_rs: str, expected: int) -> None:
    assert rules.new_rs_replicas(_cycle(status, **bg)) == expected


@pytest.mark.parametrize(("size", "available", "expected"), [
    (3, 3, True), (3, 2, False), (2, 2, False), (4, 3, False)])
def test_is_saturated(size: int, available: int, expected: bool) -> None:
    rs = ReplicaSetView("demo-h2", "h2", 3, available)
    assert rules.is_saturated(_cycle().rollout, rs, size) is expected


@pytest.mark.parametrize(("status", "new", "within", "fast"), [
    pytest.param({}, NEW, False, False, id="update"),
    pytest.param({"stableRS": "h2"}, NEW, False, True, id="back to stable"),
    pytest.param({}, ReplicaSetView("demo-h0", "h0", 3, 3, created="2026-11-26T12:00:00Z"), True, True,
                 id="older RS within its scale-down delay"),
    pytest.param({}, ReplicaSetView("demo-h0", "h0", 3, 3, created="2026-11-26T12:00:00Z"), False, False,
                 id="older RS past its delay"),
])
def test_fast_rollback(status: dict[str, Any], new: ReplicaSetView, within: bool, fast: bool) -> None:
    assert rules.is_fast_rollback(_cycle(status, new=new, within=within)) is fast


@pytest.mark.parametrize(("status", "active", "expected"), [
    pytest.param({}, "h1", False, id="active on stable"),
    pytest.param({}, "h2", True, id="active already new"),
    pytest.param({"promoteFull": True}, "h1", True, id="promoteFull"),
    pytest.param({"stableRS": "", "blueGreen": {}}, "", True, id="adopted Service never switched"),
    pytest.param({}, "", False, id="drift is not adoption (§14 item 0)"),
])
def test_fast_tracked(status: dict[str, Any], active: str, expected: bool) -> None:
    assert rules.fast_tracked(_cycle(status, active=active)) is expected


@pytest.mark.parametrize(("status", "observed", "wanted", "expected"), [
    pytest.param({}, "", "h2", True, id="the switch wanted: our widening"),
    pytest.param({"abort": True}, "", "h1", True, id="aborted: our widening, set back"),
    pytest.param({}, "", "h1", False, id="no switch wanted: drift"),
    pytest.param({}, "h1", "h2", False, id="the key is there"),
    pytest.param({"blueGreen": {"activeSelector": "h2"}}, "", "h2", False, id="switched already: drift"),
    pytest.param({"blueGreen": {}, "stableRS": ""}, "", "h2", False, id="never switched: adoption"),
])
def test_widened(status: dict[str, Any], observed: str, wanted: str, expected: bool) -> None:
    """Ours (§14 item 5): a Service without its hash key mid-update is the planner's widening only when the
    rules want the cutover (or abort it); otherwise it is drift (§14 item 0)."""
    cycle = _cycle(status)
    assert rules.widened(cycle.status, cycle.bg, observed, wanted) is expected


LATER = NOW + timedelta(seconds=61)


@pytest.mark.parametrize(("bg", "status", "added", "now", "expected"), [
    pytest.param({}, {}, True, NOW, False, id="added this cycle"),
    pytest.param({}, {"blueGreen": {"activeSelector": "h1", "scaleUpPreviewCheckPoint": True}}, False, NOW,
                 True, id="checkpoint"),
    pytest.param({}, {}, False, NOW, True, id="auto, no seconds"),
    pytest.param({"autoPromotionSeconds": 60}, PAUSE, False, NOW, False, id="countdown running"),
    pytest.param({"autoPromotionSeconds": 60}, PAUSE, False, LATER, True, id="countdown over"),
    pytest.param({"autoPromotionSeconds": 60}, {}, False, NOW, False, id="never paused"),
    pytest.param({"autoPromotionSeconds": 60}, {"controllerPause": True}, False, NOW, True,
                 id="promote during countdown (§14 item 7)"),
    pytest.param({"autoPromotionEnabled": False}, PAUSE, False, NOW, False, id="manual, waiting"),
    pytest.param({"autoPromotionEnabled": False}, {"controllerPause": True}, False, NOW, True,
                 id="manual, promoted"),
    pytest.param({"autoPromotionEnabled": False}, {}, False, NOW, False, id="manual, never paused"),
])
def test_completed_pause(bg: dict[str, Any], status: dict[str, Any], added: bool, now: Any,
                         expected: bool) -> None:
    cycle = _cycle(status, **bg)
    cycle = rules.Cycle(cycle.snapshot, cycle.strategy, cycle.bg, cycle.active, now)
    assert rules.completed_pause(cycle, added=added) is expected


@pytest.mark.parametrize(("bg", "status", "ready", "paused", "active", "row", "action"), [
    pytest.param({}, {"abort": True}, True, False, "h1", 1, "nothing", id="aborted"),
    pytest.param({}, {}, False, False, "h1", 2, "nothing", id="not ready"),
    pytest.param({}, {}, True, True, "h1", 3, "nothing", id="halted"),
    pytest.param({}, {"promoteFull": True}, True, False, "h1", 4, "remove", id="fast-tracked"),
    pytest.param({"previewReplicaCount": 1},
                 {"blueGreen": {"activeSelector": "h1", "scaleUpPreviewCheckPoint": True}}, True, False, "h1",
                 6, "remove", id="checkpoint"),
    pytest.param({}, {}, True, False, "h1", 7, "remove", id="no controller pause"),
    pytest.param({"autoPromotionSeconds": 60}, PAUSE, True, False, "h1", 9, "nothing", id="counting"),
    pytest.param({"autoPromotionEnabled": False}, {}, True, False, "h1", 10, "add", id="pause"),
    pytest.param({"autoPromotionEnabled": False}, {"controllerPause": True}, True, False, "h1", 11, "nothing",
                 id="human resumed"),
])
def test_pause_decision(bg: dict[str, Any], status: dict[str, Any], ready: bool, paused: bool, active: str,
                        row: int, action: str) -> None:
    decision = rules.pause_decision(_cycle(status, paused=paused, active=active, **bg), ready=ready)
    assert (decision.row, decision.action.value) == (row, action)


def test_pause_decision_requeues_at_the_expiry() -> None:
    decision = rules.pause_decision(_cycle(PAUSE, autoPromotionSeconds=60), ready=True)
    assert decision.requeue_after == 60.0


@pytest.mark.parametrize(("status", "paused", "ready", "saturated", "done", "expected"), [
    pytest.param({}, False, True, True, True, "h2", id="pause done"),
    pytest.param({}, False, True, True, False, "h1", id="pause pending"),
    pytest.param({}, False, True, False, True, "h1", id="unsaturated"),
    pytest.param({}, True, True, True, True, "h1", id="halted"),
    pytest.param({"abort": True}, False, True, True, True, "h1", id="abort"),
    pytest.param({"abort": True}, True, False, False, False, "h1",
                 id="abort, unsaturated and paused (§14.4)"),
    pytest.param({"promoteFull": True}, False, True, True, False, "h2", id="fast-tracked"),
])
def test_desired_active(status: dict[str, Any], paused: bool, ready: bool, saturated: bool, done: bool,
                        expected: str) -> None:
    cycle = _cycle(status, paused=paused, active="h2" if status.get("abort") else "h1")
    assert rules.desired_active(cycle, ready=ready, saturated=saturated, pause_done=done) == expected


@pytest.mark.parametrize(("status", "stable", "active", "ok", "expected"), [
    pytest.param({"stableRS": ""}, None, "", True, "Initial deploy", id="no stable"),
    pytest.param({"blueGreen": {}, "stableRS": "h2"}, STABLE, "", True, "Initial deploy",
                 id="empty activeSelector, never switched"),
    pytest.param({}, STABLE, "", True, "", id="empty activeSelector after a switch (§14 item 0)"),
    pytest.param({}, None, "h1", True, "", id="stable RS deleted, not switched"),
    pytest.param({}, None, "h2", True, "Initial deploy", id="stable RS deleted, new available"),
    pytest.param({}, STABLE, "h1", True, "", id="not switched"),
    pytest.param({}, STABLE, "h2", False, "", id="unverified"),
    pytest.param({"promoteFull": True}, STABLE, "h2", True, "Full promotion requested", id="full"),
    pytest.param({"abort": True}, STABLE, "h2", True, "", id="aborted"),
    pytest.param({}, STABLE, "h2", True, "Completed blue-green update", id="completed"),
])
def test_full_promote_reason(status: dict[str, Any], stable: ReplicaSetView | None, active: str, ok: bool,
                             expected: str) -> None:
    cycle = _cycle(status, stable=stable)
    reason = rules.full_promote_reason(cycle, active_after=active, current_pod_hash="h2", targets_ok=ok,
                                       aborted=cycle.status.abort)
    assert reason == expected


def test_fast_rollback_reason() -> None:
    older = ReplicaSetView("demo-h0", "h0", 3, 3, created="2026-11-26T12:00:00Z")
    cycle = _cycle({"currentPodHash": "h0"}, new=older, within=True)
    assert rules.full_promote_reason(cycle, active_after="h0", current_pod_hash="h0", targets_ok=True,
                                     aborted=False) == "Fast rollback"


@pytest.mark.parametrize(("status", "available", "done", "expected"), [
    pytest.param({}, 1, True, True, id="pause done, preview available"),
    pytest.param({}, 1, False, False, id="pause pending"),
    pytest.param({}, 0, True, False, id="preview not available"),
    pytest.param({"blueGreen": {"activeSelector": "h1", "scaleUpPreviewCheckPoint": True}}, 0, False, True,
                 id="one-way"),
])
def test_scale_up_checkpoint(status: dict[str, Any], available: int, done: bool, expected: bool) -> None:
    new = ReplicaSetView("demo-h2", "h2", 1, available)
    cycle = _cycle(status, new=new, previewReplicaCount=1)
    assert rules.scale_up_checkpoint(cycle, pause_done=done) is expected


def _old(name: str, revision: int, spec: int = 3) -> ReplicaSetView:
    return ReplicaSetView(f"demo-{name}", name, spec, spec, revision=revision)


def test_old_scale_down_limit_and_deadlines() -> None:
    strategy = bluegreen_spec.BlueGreenStrategy(active_service="a", scale_down_delay_revision_limit=1)
    others = (_old("a", 1), _old("b", 2), _old("c", 3), _old("d", 4, spec=0), _old("e", 5))
    result = scaledown.old_scale_down(others, strategy=strategy, deadlines={"demo-c": "2026-11-26T12:00:10Z"},
                                      referenced={"e"}, paused_inconclusive=False, now=NOW)
    assert result.deadlines == ()  # c (newest unreferenced) holds the one dated slot
    assert result.sizes == (("demo-b", 0), ("demo-a", 0))
    assert result.requeue_after == 10.0


def test_old_scale_down_passed_deadline_and_zero_delay() -> None:
    strategy = bluegreen_spec.BlueGreenStrategy(active_service="a", scale_down_delay_seconds=0)
    result = scaledown.old_scale_down((_old("a", 1), _old("b", 2)), strategy=strategy,
                                      deadlines={"demo-b": "2026-11-26T11:59:00Z"}, referenced=(),
                                      paused_inconclusive=False, now=NOW)
    assert result.sizes == (("demo-b", 0), ("demo-a", 0))


def test_old_scale_down_waits_on_an_inconclusive_pause() -> None:
    strategy = bluegreen_spec.BlueGreenStrategy(active_service="a")
    result = scaledown.old_scale_down((_old("a", 1),), strategy=strategy, deadlines={}, referenced=(),
                                      paused_inconclusive=True, now=NOW)
    assert result.sizes == () and result.deadlines == ()


@pytest.mark.parametrize(("deadline", "stable_available", "serving", "size", "dated"), [
    pytest.param(None, 3, True, 3, "2026-11-26T12:00:30Z", id="date once stable whole and serving"),
    pytest.param(None, 2, True, 3, None, id="stable not whole"),
    pytest.param(None, 3, False, 3, None, id="stable not serving yet (§14 item 4)"),
    pytest.param("2026-11-26T12:00:10Z", 3, True, 3, None, id="deadline ahead"),
    pytest.param("2026-11-26T11:59:00Z", 3, True, 0, None, id="deadline passed"),
    pytest.param("garbage", 3, True, None, None, id="unreadable deadline"),
])
def test_abort_scale_down(deadline: str | None, stable_available: int, serving: bool, size: int | None,
                          dated: str | None) -> None:
    strategy = bluegreen_spec.BlueGreenStrategy(active_service="a")
    stable = ReplicaSetView("demo-h1", "h1", 3, stable_available)
    verdict = scaledown.abort_scale_down(NEW, stable, strategy=strategy, deadline=deadline, replicas=3,
                                         stable_serving=serving, now=NOW)
    assert (verdict.size, verdict.deadline) == (size, dated)


# --- §0: the spec and its validation --------------------------------------------------------------------


def test_defaults() -> None:
    strategy = bluegreen_spec.parse_blue_green(bg_dict())
    assert strategy is not None
    assert (strategy.auto_promotion_enabled, strategy.scale_down_delay, strategy.abort_scale_down_delay,
            strategy.revision_limit, strategy.needs_controller_pause) == (True, 30, 30, None, False)
    zero = bluegreen_spec.parse_blue_green(bg_dict(abortScaleDownDelaySeconds=0, scaleDownDelaySeconds=0))
    assert zero is not None and (zero.abort_scale_down_delay, zero.scale_down_delay) == (None, 0)


def test_shape_errors() -> None:
    with pytest.raises(models.InvalidSpec, match=r"blueGreen.autoPromotionSeconds: Invalid value"):
        bluegreen_spec.parse_blue_green(bg_dict(autoPromotionSeconds="1m"))


_P = 'The Rollout "demo" is invalid: '


@pytest.mark.parametrize(("raw", "message"), [
    pytest.param(bg_dict(previewService="active"),
                 'spec.strategy.activeService: Invalid value: "active": This rollout uses the same service '
                 "for the active and preview services, but two different services are required.",
                 id="same Service"),
    pytest.param(bg_dict(scaleDownDelayRevisionLimit=11),
                 "spec.strategy.scaleDownDelayRevisionLimit: Invalid value: 11: This rollout's revision "
                 "history limit can not be smaller than the rollout's scale down limit", id="revision limit"),
    pytest.param(bg_dict(antiAffinity={}),
                 'spec.strategy.antiAffinity: Invalid value: "antiAffinity.PreferredDuringScheduling'
                 'IgnoredDuringExecution: false '
                 'antiAffinity.RequiredDuringSchedulingIgnoredDuringExecution: false": '
                 "AntiAffinity must have exactly one strategy listed", id="anti-affinity neither"),
    pytest.param(bg_dict(antiAffinity={"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 0}}),
                 "spec.strategy.antiAffinity.weight: Invalid value: 0: "
                 "AntiAffinity weight must be between 1-100",
                 id="anti-affinity weight"),
])
def test_spec_messages(raw: dict[str, Any], message: str) -> None:
    assert bluegreen_spec.errors(raw) == [_P + message]


def test_empty_analysis_templates_count_as_none() -> None:
    assert bluegreen_spec.errors(bg_dict(prePromotionAnalysis={"analysisRunMetadata": {}})) == []


def _svc(selector: dict[str, str], owner: str | None = None) -> dict[str, Any]:
    annotations = {"argo-rollouts.argoproj.io/managed-by-rollouts": owner} if owner else {}
    return {"metadata": {"annotations": annotations}, "spec": {"selector": selector}}


@pytest.mark.parametrize(("services", "message"), [
    pytest.param({"preview": _svc({})}, 'spec.strategy.blueGreen.activeService: Invalid value: "active": '
                 'service "active" not found', id="active missing"),
    pytest.param({"active": _svc({})}, 'spec.strategy.blueGreen.previewService: Invalid value: "preview": '
                 'service "preview" not found', id="preview missing"),
    pytest.param({"active": _svc({"app": "other"}), "preview": _svc({})},
                 'spec.strategy.blueGreen.activeService: Invalid value: "active": '
                 'Service "active" has unmatch label "app" in rollout', id="unmatched label"),
    pytest.param({"active": _svc({}), "preview": _svc({"rollouts-pod-template-hash": "x"}, owner="other")},
                 'spec.strategy.blueGreen.previewService: Invalid value: "preview": '
                 'Service "preview" is managed by another Rollout', id="managed by another"),
])
def test_service_messages(services: dict[str, Any], message: str) -> None:
    assert bluegreen_spec.errors(bg_dict(), services=services) == [_P + message]


def test_valid_services() -> None:
    services = {"active": _svc({"app": "demo", "rollouts-pod-template-hash": "h1"}, owner="demo"),
                "preview": _svc({"app": "demo"})}
    assert bluegreen_spec.errors(bg_dict(), services=services) == []
