"""Blue-green timelines of reference doc §7, replayed cycle by cycle on a simulated cluster.

Aspects: default auto-promotion (§7.1, with and without target verification), autoPromotionEnabled false and
the plugin's promote patches, autoPromotionSeconds (and promote completing it, §14 item 7),
previewReplicaCount with scaleUpPreviewCheckPoint, abort (switch-back even unsaturated, §14 item 4) and the
abort scale-down delay, retry, promote --full, fast rollback within the scale-down delay (its deadline kept
while widened), spec.paused (a promote made under it kept for the unpause), scaleDownDelaySeconds 0 (§14
item 7), selector drift (§14 item 0), the cutover made before it breaks (the active Service widened first, §14
item 5: with and without target verification, abort while widened, a promote or an expired countdown kept
while widened, a third ReplicaSet's pods), InvalidSpec; exact strings throughout.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from statemachine.bluegreen_decision import BlueGreenDecision
from statemachine.bluegreen_planning import plan_blue_green
from statemachine.bluegreen_spec import errors, parse_blue_green
from statemachine.states import States
from tests.statemachine.bluegreen_cluster import Cluster, bg_dict
from tests.statemachine.conftest import merge


def _promoted(**blue_green: Any) -> Cluster:
    """A Rollout settled on h1 (3 replicas), then updated to h2 (its ReplicaSet created with 0 replicas)."""
    cluster = Cluster(bg_dict(generation=1, revision="1", **blue_green))
    cluster.add_rs("h1")
    cluster.run()
    cluster.deploy("h2")
    return cluster


def _messages(decision: BlueGreenDecision) -> list[str]:
    return [f"{e.reason}: {e.message}" for e in decision.events]


def _bg(cluster: Cluster) -> dict[str, object]:
    result: dict[str, object] = cluster.status.get("blueGreen") or {}
    return result


def _condition(cluster: Cluster, type_: str) -> tuple[str, str, str]:
    found = next(c for c in cluster.status["conditions"] if c["type"] == type_)
    return found["status"], found["reason"], found["message"]


def test_default_auto_promotion_cycle_by_cycle() -> None:
    c = _promoted()
    r2 = c.cycle()  # template change: preview switched, status reset, nothing scaled
    assert r2.selectors == (("preview", "h2"), ("active", "h1"))
    assert r2.replicas == (None, None)
    assert _messages(r2) == ["SwitchService: Switched selector for service 'preview' from 'h1' to 'h2'",
                             "RolloutNotCompleted: Rollout not completed, started update to revision 2 (h2)"]
    assert (c.status["currentPodHash"], _bg(c)) == ("h2", {"previewSelector": "h2", "activeSelector": "h1"})
    assert (c.status["phase"], c.status["message"]) == ("Progressing", "more replicas need to be updated")
    assert r2.move.new_revision and r2.trigger == "update"
    c.lag = True
    r3 = c.cycle()  # scale up the preview; the stable stays whole
    assert r3.replicas == (3, 3)
    assert _messages(r3) == ["ScalingReplicaSet: Scaled up ReplicaSet demo-h2 (revision 2) from 0 to 3"]
    assert c.status["message"] == "more replicas need to be updated"  # status.replicas lags the spec
    c.sets["h2"].available = 2
    r = c.cycle()
    assert r.selectors == (("preview", "h2"), ("active", "h1"))  # not saturated: no switch
    c.sets["h2"].available = 3
    r4 = c.cycle()
    assert r4.selectors == (("preview", "h2"), ("active", "h2"))
    assert _messages(r4) == [
        "SwitchService: Switched selector for service 'active' from 'h1' to 'h2'",
        "RolloutCompleted: Rollout completed update to revision 2 (h2): Completed blue-green update"]
    assert (c.status["stableRS"], c.status["phase"], "message" in c.status) == ("h2", "Healthy", False)
    assert c.status["selector"] == "app=demo,rollouts-pod-template-hash=h2"
    assert _condition(c, "Completed") == ("True", "RolloutCompleted", "RolloutCompleted")
    assert _condition(c, "Available") == ("True", "AvailableReason", "Rollout has minimum availability")
    r5 = c.cycle()  # the old stable is "other" only now (BG-36): dated 30 s ahead
    assert r5.deadlines == (("demo-h1", "2026-11-26T12:00:30Z"),)
    assert r5.requeue_after == 30
    assert r5.others == ()
    c.now += timedelta(seconds=30)
    r6 = c.cycle()
    assert r6.others == (("demo-h1", 0),)
    assert _messages(r6) == ["ScalingReplicaSet: Scaled down ReplicaSet demo-h1 (revision 1) from 3 to 0"]
    assert c.cycle().status.replicas == 3  # the scale-down observed
    assert c.cycle().status_patch is None


def test_target_verification_holds_the_stable_promotion_and_the_scale_down() -> None:
    c = _promoted()
    c.verify, c.targets_verified = True, False
    c.run(limit=4, advance=False)
    last = c.log[-1]
    assert c.selectors["active"] == "h2"
    assert (last.verify_active, last.verify_hash, last.requeue_after) == (True, "h2", 10.0)
    assert c.status["stableRS"] == "h1"
    assert (c.status["phase"], c.status["message"]) == (
        "Progressing", "waiting for post-promotion verification to complete")
    assert last.move.target is States.WaitingForTargets
    assert c.sets["h1"].spec == 3 and not c.deadlines  # nothing is scaled down meanwhile
    c.targets_verified = True
    done = c.cycle()
    assert c.status["stableRS"] == "h2" and done.verify_active
    assert "RolloutCompleted: Rollout completed update to revision 2 (h2): Completed blue-green update" in (
        _messages(done))
    assert not c.cycle().verify_active  # promoted: nothing left to verify


def test_fresh_endpoint_slices_gate_the_promotion() -> None:
    c = _promoted()
    c.verify, c.targets_verified = True, True
    c.cycle()
    c.cycle()
    c.selectors["active"] = "h2"  # switched (the widened step is test_the_cutover_is_made_before_it_breaks)
    c.raw = merge(c.raw, {"status": {"blueGreen": {"activeSelector": "h2"}}})
    snapshot_endpoints = {"active": frozenset({"h1", "h2"})}  # the EndpointSlices have not narrowed yet
    snap = dataclasses.replace(c.snapshot(), endpoints=snapshot_endpoints)
    decision = plan_blue_green(snap, now=c.now, targets_verified=True, strategy=parse_blue_green(c.raw))
    assert decision.selectors[-1] == ("active", "h2")
    assert decision.status.stable_rs == "h1" and decision.requeue_after == 1.0
    assert decision.move.target is States.WaitingForTargets


def test_the_cutover_is_made_before_it_breaks() -> None:
    """Ours (§14 item 5): the active Service is widened to the old and the new pods, its new hash set only
    once the new pods serve in its target groups (the old then drain while the new serve); §3.8 as before."""
    c = _promoted()
    c.verify, c.targets_verified = True, False
    c.cycle()  # template change
    c.cycle()  # the preview scaled up (available at once)
    c.catch_up()
    widen = c.cycle()
    assert widen.selectors == (("preview", "h2"), ("active", ""))
    assert _messages(widen) == ["WidenService: Widened selector for service 'active' to pods 'h1' and 'h2' "
                                "before switching it to 'h2'"]
    assert _bg(c) == {"previewSelector": "h2", "activeSelector": "h1"}  # the reference's meaning
    assert (c.status["phase"], c.status["message"]) == ("Progressing", "active service cutover pending")
    assert c.status["selector"] == "app=demo,rollouts-pod-template-hash=h1"
    assert (widen.verify_active, widen.verify_hash, widen.requeue_after) == (True, "h2", 1.0)
    assert widen.move.target is States.WaitingForTargets
    held = c.cycle()  # the EndpointSlices still list the old pods alone: Kubernetes is looked at again soon
    assert (held.selectors[-1], held.events, held.requeue_after) == (("active", ""), (), 1.0)
    assert held.status_patch is None
    c.catch_up()  # both stacks behind the Service: ELBv2 is asked, once per verify retry interval
    asked = c.cycle()
    assert (asked.selectors[-1], asked.events, asked.requeue_after) == (("active", ""), (), 10.0)
    assert asked.move.target is States.WaitingForTargets and c.status["stableRS"] == "h1"
    c.targets_verified = True  # every endpoint registered and healthy
    narrow = c.cycle()
    assert narrow.selectors == (("preview", "h2"), ("active", "h2"))
    assert _messages(narrow) == ["SwitchService: Switched selector for service 'active' from 'h1' to 'h2'"]
    assert (_bg(c)["activeSelector"], c.status["stableRS"]) == ("h2", "h1")  # h2's own endpoints come next
    assert (narrow.verify_hash, narrow.move.target) == ("h2", States.WaitingForTargets)
    c.catch_up()
    done = c.cycle()
    assert _messages(done) == [
        "RolloutCompleted: Rollout completed update to revision 2 (h2): Completed blue-green update"]
    assert (c.status["stableRS"], c.status["phase"]) == ("h2", "Healthy")
    assert c.cycle().deadlines == (("demo-h1", "2026-11-26T12:00:30Z"),)  # the old stack, as in §7.1


def test_without_target_verification_the_cutover_waits_for_the_endpoint_slices() -> None:
    c = _promoted()
    c.cycle()
    c.cycle()
    c.catch_up()
    widen = c.cycle()
    assert widen.selectors[-1] == ("active", "") and not widen.verify_active
    assert widen.requeue_after == 1.0 and widen.move.target is States.WaitingForTargets
    c.catch_up()  # the EndpointSlices list the new pods as ready: all that Kubernetes can tell
    narrow = c.cycle()
    assert narrow.selectors[-1] == ("active", "h2")
    assert _messages(narrow) == [
        "SwitchService: Switched selector for service 'active' from 'h1' to 'h2'",
        "RolloutCompleted: Rollout completed update to revision 2 (h2): Completed blue-green update"]


def test_an_abort_while_widened_sets_the_old_hash_straight_back() -> None:
    c = _promoted()
    c.verify, c.targets_verified = True, False
    c.cycle()
    c.cycle()
    c.catch_up()
    c.cycle()  # widened
    c.catch_up()
    c.patch({"status": {"abort": True}})  # kubectl argo rollouts abort
    back = c.cycle()
    assert back.selectors == (("preview", "h2"), ("active", "h1"))
    assert [e.reason for e in back.events] == ["RolloutAborted"]  # the reference saw no switch
    assert (_bg(c)["activeSelector"], c.status["phase"]) == ("h1", "Degraded")
    assert (back.verify_hash, back.move.target) == ("h1", States.Aborted)


def test_a_promote_holds_while_the_service_is_widened() -> None:
    """controllerPause stays while widened: the promote is not lost to a new BlueGreenPause."""
    c = _promoted(autoPromotionEnabled=False)
    c.verify, c.targets_verified = True, False
    c.run(limit=4, advance=False)
    assert c.status["pauseConditions"][0]["reason"] == "BlueGreenPause"
    c.patch({"status": {"pauseConditions": None}})  # kubectl argo rollouts promote
    c.cycle()  # RolloutResumed, in a cycle of its own
    c.catch_up()
    widen = c.cycle()
    assert widen.selectors[-1] == ("active", "") and c.status["controllerPause"] is True
    c.catch_up()
    for _ in range(3):
        held = c.cycle()
        assert held.selectors[-1] == ("active", "") and "pauseConditions" not in c.status
    c.targets_verified = True
    narrow = c.cycle()
    assert narrow.selectors[-1] == ("active", "h2") and "controllerPause" not in c.status
    c.catch_up()
    c.cycle()
    assert c.status["stableRS"] == "h2"


def test_auto_promotion_seconds_end_with_the_widening() -> None:
    c = _promoted(autoPromotionSeconds=30)
    c.run(limit=4, advance=False)
    assert c.status["pauseConditions"][0]["reason"] == "BlueGreenPause"
    c.now += timedelta(seconds=31)
    c.catch_up()
    widen = c.cycle()
    assert widen.selectors[-1] == ("active", "")
    assert "RolloutResumed: Rollout is resumed" in _messages(widen)
    assert "pauseConditions" not in c.status and c.status["controllerPause"] is True
    c.cycle()  # Progressing RolloutResumed, in a cycle of its own
    c.catch_up()
    narrow = c.cycle()
    assert narrow.selectors[-1] == ("active", "h2") and c.status["stableRS"] == "h2"


def test_no_replicas_no_widening() -> None:
    """With `replicas: 0` there is no new pod to wait for: the reference's direct switch."""
    c = Cluster(bg_dict(generation=1, revision="1", replicas=0))
    c.add_rs("h1")
    c.run()
    c.deploy("h2")
    c.catch_up()
    c.run(limit=4, advance=False)
    assert c.selectors["active"] == "h2" and c.status["stableRS"] == "h2"
    assert not any(e.reason == "WidenService" for d in c.log for e in d.events)


def test_a_third_replicaset_with_pods_gets_the_direct_switch() -> None:
    """Widened, the active Service would also send traffic to the pods of an older revision still up."""
    c = _promoted()
    c.cycle()
    c.add_rs("h0", spec=3)
    c.cycle()
    c.catch_up()
    direct = c.cycle()
    assert direct.selectors[-1] == ("active", "h2")
    assert "Service active switched directly: widened, it would also select the pods of demo-h0" in (
        direct.reason)


def test_auto_promotion_disabled_and_the_plugin_promote() -> None:
    c = _promoted(autoPromotionEnabled=False)
    c.run(limit=3, advance=False)
    paused = c.log[-1]
    assert c.status["pauseConditions"] == [{"reason": "BlueGreenPause", "startTime": "2026-11-26T12:00:00Z"}]
    assert c.status["controllerPause"] is True
    assert (c.status["phase"], c.status["message"]) == ("Paused", "BlueGreenPause")
    assert "RolloutPaused: Rollout is paused (BlueGreenPause)" in _messages(paused)
    assert c.selectors["active"] == "h1"
    conditions = c.cycle()  # checkPausedConditions: a cycle of its own
    assert conditions.reason == "pause conditions" and conditions.selectors == ()
    assert _condition(c, "Progressing") == ("Unknown", "RolloutPaused", "Rollout is paused")
    assert _condition(c, "Paused") == ("True", "RolloutPaused", "Rollout is paused")
    assert c.cycle().status_patch is None  # waits for a human
    c.patch({"status": {"pauseConditions": None}})  # kubectl argo rollouts promote
    resumed = c.cycle()
    assert _condition(c, "Progressing") == ("Unknown", "RolloutResumed", "Rollout is resumed")
    assert _condition(c, "Paused") == ("False", "RolloutPaused", "Rollout is paused")
    assert resumed.selectors == ()
    switch = c.cycle()
    assert switch.selectors[-1] == ("active", "h2")
    assert "controllerPause" not in c.status and c.status["stableRS"] == "h2"
    assert "RolloutResumed: Rollout is resumed" not in _messages(switch)  # a human cleared the condition


def test_auto_promotion_seconds_counts_down_then_switches() -> None:
    c = _promoted(autoPromotionSeconds=60)
    c.run(limit=3, advance=False)
    waiting = c.log[-1]
    assert waiting.requeue_after == 60.0
    c.cycle()  # paused conditions
    c.now += timedelta(seconds=60)
    assert c.cycle().selectors[-1] == ("active", "h1")  # completes strictly after the expiry
    c.now += timedelta(seconds=1)
    switch = c.cycle()
    assert switch.selectors[-1] == ("active", "h2")
    assert "RolloutResumed: Rollout is resumed" in _messages(switch)
    assert c.status["stableRS"] == "h2" and "pauseConditions" not in c.status


def test_promote_completes_an_auto_promotion_countdown() -> None:
    """§14 item 7: the reference restarts the countdown after a plain promote; we switch."""
    c = _promoted(autoPromotionSeconds=600)
    c.run(limit=3, advance=False)
    c.cycle()
    c.patch({"status": {"pauseConditions": None}})
    c.cycle()  # RolloutResumed conditions
    assert c.cycle().selectors[-1] == ("active", "h2")
    assert c.status["stableRS"] == "h2"


def test_preview_replica_count_and_the_scale_up_checkpoint() -> None:
    c = _promoted(previewReplicaCount=1, autoPromotionEnabled=False)
    c.cycle()
    assert c.cycle().replicas == (1, 3)
    paused = c.cycle()
    assert paused.status.pause_conditions and c.selectors["active"] == "h1"
    assert (c.status["phase"], c.status["message"]) == ("Paused", "BlueGreenPause")
    c.cycle()
    c.patch({"status": {"pauseConditions": None}})
    c.cycle()
    checkpoint = c.cycle()
    assert _bg(c).get("scaleUpPreviewCheckPoint") is True
    assert checkpoint.selectors[-1] == ("active", "h1")
    up = c.cycle()
    assert up.replicas == (3, 3)
    assert c.cycle().selectors[-1] == ("active", "h2")
    assert c.status["stableRS"] == "h2" and "scaleUpPreviewCheckPoint" not in _bg(c)


def test_abort_switches_back_even_unsaturated_then_scales_the_preview_down() -> None:
    c = _promoted(autoPromotionEnabled=False)
    c.run(limit=4, advance=False)
    c.sets["h2"].available = 2  # the preview lost a pod: the reference would not switch back (§12.4)
    c.selectors["active"] = "h2"  # say the switch happened and the user aborts afterwards
    c.patch({"status": {"abort": True}})
    aborted = c.cycle()
    assert aborted.selectors == (("preview", "h2"), ("active", "h1"))
    assert "SwitchService: Switched selector for service 'active' from 'h2' to 'h1'" in _messages(aborted)
    assert "RolloutAborted: Rollout aborted update to revision 2" in _messages(aborted)
    assert c.status["abort"] is True and c.status["abortedAt"] == "2026-11-26T12:00:00Z"
    assert "pauseConditions" not in c.status and "controllerPause" not in c.status
    assert (c.status["phase"], c.status["message"]) == (
        "Degraded", "RolloutAborted: Rollout aborted update to revision 2")
    assert _condition(c, "Progressing") == ("False", "RolloutAborted", "Rollout aborted update to revision 2")
    assert aborted.replicas == (3, 3)
    assert aborted.deadlines == (("demo-h2", "2026-11-26T12:00:30Z"),)  # stable whole and serving
    assert aborted.move.target is States.Aborted and aborted.trigger == "abort"
    c.now += timedelta(seconds=31)
    down = c.cycle()
    assert down.replicas == (0, 3)
    assert _messages(down) == ["ScalingReplicaSet: Scaled down ReplicaSet demo-h2 (revision 2) from 3 to 0"]


def test_abort_waits_for_the_stable_targets_before_dating_the_preview() -> None:
    c = _promoted()
    c.verify, c.targets_verified = True, False
    c.run(limit=4, advance=False)
    c.patch({"status": {"abort": True}})
    aborted = c.cycle()
    assert aborted.selectors[-1] == ("active", "h1")
    assert (aborted.verify_active, aborted.verify_hash) == (True, "h1")
    assert aborted.deadlines == () and aborted.replicas == (3, 3)
    c.targets_verified = True
    assert c.cycle().deadlines == (("demo-h2", "2026-11-26T12:00:30Z"),)


def test_abort_scale_down_delay_zero_keeps_the_preview() -> None:
    c = _promoted(autoPromotionEnabled=False, abortScaleDownDelaySeconds=0)
    c.run(limit=4, advance=False)
    c.patch({"status": {"abort": True}})
    c.cycle()
    c.now += timedelta(hours=1)
    assert c.cycle().replicas == (3, 3)


def test_retry_after_abort() -> None:
    c = _promoted(autoPromotionEnabled=False)
    c.run(limit=4, advance=False)
    c.cycle()
    c.patch({"status": {"abort": True}})
    c.cycle()
    c.patch({"status": {"abort": False}})  # kubectl argo rollouts retry rollout
    retry = c.cycle()
    assert retry.reason == "pause conditions"
    assert _condition(c, "Progressing") == ("Unknown", "RolloutRetry", "Retrying Rollout after abort")
    assert c.cycle().reason == "pause conditions"  # the Paused condition, blocked by the abort before
    assert _condition(c, "Paused") == ("False", "RolloutPaused", "Rollout is paused")
    again = c.cycle()
    assert again.deadlines == (("demo-h2", None),)  # the abort deadline goes, the preview stays up
    assert not c.status.get("abort") and "abortedAt" not in c.status
    c.run(limit=4, advance=False)
    assert c.status["pauseConditions"][0]["reason"] == "BlueGreenPause"  # the pause re-runs


def test_promote_full_skips_the_pause() -> None:
    c = _promoted(autoPromotionEnabled=False)
    c.run(limit=4, advance=False)
    c.cycle()
    c.patch({"status": {"promoteFull": True}})
    full = c.cycle()
    assert full.selectors[-1] == ("active", "h2")
    assert "RolloutCompleted: Rollout completed update to revision 2 (h2): Full promotion requested" in (
        _messages(full))
    assert "promoteFull" not in c.status and "pauseConditions" not in c.status


def test_fast_rollback_within_the_scale_down_delay() -> None:
    c = _promoted()
    c.run()  # h2 promoted; h1 dated, then scaled down after 30 s
    c.deploy("h3")
    c.run(limit=5, advance=False)  # h3 promoted, h2 dated
    assert c.status["stableRS"] == "h3" and "demo-h2" in c.deadlines
    c.deploy("h2")  # back to the previous revision, still within its delay
    c.cycle()
    fast = c.cycle()
    assert ("demo-h2", None) in fast.deadlines
    assert fast.selectors[-1] == ("active", "h2")
    assert "RolloutCompleted: Rollout completed update to revision 2 (h2): Fast rollback" in _messages(fast)


def test_a_fast_rollback_keeps_its_deadline_while_the_service_is_widened() -> None:
    """The deadline is what makes it fast (newRSWithinDelay): removed with the narrowing, not with the
    widening, else the next cycle takes it for a full update and pauses."""
    c = _promoted(autoPromotionEnabled=False)
    c.run(limit=4, advance=False)
    c.patch({"status": {"pauseConditions": None}})  # kubectl argo rollouts promote
    c.run(limit=6, advance=False)
    assert c.status["stableRS"] == "h2" and "demo-h1" in c.deadlines
    c.deploy("h1")  # back to the previous revision, still within its delay
    c.cycle()  # template change
    c.catch_up()
    widen = c.cycle()
    assert widen.selectors[-1] == ("active", "") and widen.deadlines == ()
    assert "pauseConditions" not in c.status
    c.catch_up()
    narrow = c.cycle()
    assert narrow.selectors[-1] == ("active", "h1") and narrow.deadlines == (("demo-h1", None),)
    assert _messages(narrow)[-1] == (
        "RolloutCompleted: Rollout completed update to revision 1 (h1): Fast rollback")
    assert (c.status["stableRS"], c.status["phase"]) == ("h1", "Healthy")


def test_a_promote_under_spec_paused_is_kept_for_the_unpause() -> None:
    """Ours: controllerPause stays while progress is halted, so the switch follows the unpause (the reference
    drops it in the halted cycle and pauses afresh)."""
    c = _promoted(autoPromotionEnabled=False)
    c.run(limit=4, advance=False)
    assert c.status["pauseConditions"][0]["reason"] == "BlueGreenPause"
    c.patch({"spec": {"paused": True}})  # kubectl argo rollouts pause
    c.cycle()
    c.patch({"status": {"pauseConditions": None}})
    for _ in range(2):
        held = c.cycle()
        assert held.selectors == (("active", "h1"),) and c.status["controllerPause"] is True
        assert (c.status["phase"], c.status["message"]) == ("Paused", "manually paused")
    c.patch({"spec": {"paused": False}})
    c.run(limit=6, advance=False)
    assert "pauseConditions" not in c.status
    assert c.selectors == {"preview": "h2", "active": "h2"} and c.status["stableRS"] == "h2"


def test_spec_paused_halts_the_switches_but_not_scaling() -> None:
    c = _promoted()
    c.patch({"spec": {"paused": True}})
    first = c.cycle()
    assert first.selectors == (("active", "h1"),)  # no preview switch while halted
    assert (c.status["phase"], c.status["message"]) == ("Paused", "manually paused")
    c.cycle()  # paused conditions
    scaled = c.cycle()
    assert scaled.replicas == (3, 3) and scaled.selectors == (("active", "h1"),)
    c.patch({"spec": {"paused": False}})
    c.run(limit=6, advance=False)
    assert c.selectors == {"preview": "h2", "active": "h2"} and c.status["stableRS"] == "h2"


def test_scale_down_delay_zero_scales_down_at_once() -> None:
    """§14 item 7: the reference keeps the old ReplicaSet forever (AR #1992)."""
    c = _promoted(scaleDownDelaySeconds=0)
    c.run(limit=3, advance=False)
    old = c.cycle()
    assert old.others == (("demo-h1", 0),) and old.deadlines == ()


def test_selector_drift_is_restored_not_adopted() -> None:
    """§12.9/§14 item 0: an active Service losing its hash key mid-update is not a first deploy."""
    c = _promoted(autoPromotionEnabled=False)
    c.lag = True
    c.cycle()
    c.cycle()
    c.selectors["active"] = ""  # a GitOps tool re-applied the Service manifest
    drift = c.cycle()
    assert drift.selectors[-1] == ("active", "h1")
    assert "ServiceSelectorRestored: Service 'active' lost its rollouts-pod-template-hash selector: " \
        "restored 'h1'" in _messages(drift)
    assert c.status["stableRS"] == "h1" and _bg(c)["activeSelector"] == "h1"


def test_invalid_spec() -> None:
    c = Cluster(bg_dict(previewService="active"))
    c.add_rs("h1")
    message = errors(c.raw)[0]
    decision = plan_blue_green(dataclasses.replace(c.snapshot(), invalid_spec=message), now=c.now,
                               strategy=parse_blue_green(c.raw))
    assert decision.status.phase == "Degraded"
    assert decision.status.message == f"InvalidSpec: {message}"
    assert decision.requeue_after == 20.0 and decision.events[0].reason == "InvalidSpec"
