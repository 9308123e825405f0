"""Blue-green flows on the sandbox, through the real wire (issue 10): the plugin's patches and the clock.

Aspects: `autoPromotionSeconds` holds the switch in `BlueGreenPause` until the clock passes it;
`previewReplicaCount` runs the preview at its count until the pause completes (`scaleUpPreviewCheckPoint`),
then scales up, switches and promotes (the checkpoint cleared); `promote --full` during the pause promotes
(`Full promotion requested`) and clears `promoteFull`; abort then retry resumes the update to completion;
going back to the previous template within `scaleDownDelaySeconds` is a fast rollback (no pause); a second
controller (a restart) on the same sandbox continues a paused update from the status, recreating no pod;
`spec.paused` holds the switch after a promote until it is lifted; the debug API's `blueGreen` view shows
each Service's selected hash and endpoints, the status selectors and each ReplicaSet's role and deadline.
"""

from __future__ import annotations

from typing import Any

from service import reconciling

from .test_bluegreen import _deploy, _selects
from .test_restart import _next_second
from .world import NS, ROLLOUTS, World, template


def _patch_status(w: World, body: dict[str, Any]) -> None:
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": body}, subresource="status")


def _promote(w: World) -> None:
    """`kubectl argo rollouts promote demo` while paused by the controller."""
    _patch_status(w, {"pauseConditions": None})


def _update(w: World, image: str = "app:2") -> None:
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template(image)}})


def _reasons(w: World) -> list[str]:
    return [str(c.get("reason")) for c in w.status().get("pauseConditions") or []]


def _replicas(w: World, pod_hash: str) -> int:
    return int(w.replica_sets()[f"demo-{pod_hash}"]["spec"]["replicas"])


async def _paused(w: World) -> tuple[str, str]:
    """Update to app:2 and settle in the BlueGreenPause; (old hash, new hash)."""
    h1 = str(w.status()["stableRS"])
    _update(w)
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused before the switch")
    h2 = str(w.status()["currentPodHash"])
    assert w.status()["message"] == "BlueGreenPause" and _reasons(w) == ["BlueGreenPause"]
    assert _selects(w, "active") == h1 and _selects(w, "preview") == h2
    return h1, h2


def _promoted(w: World, h2: str) -> bool:
    return w.status().get("stableRS") == h2 and w.status().get("phase") == "Healthy"


async def test_auto_promotion_seconds_switches_once_the_clock_passes_them(world: Any) -> None:
    w: World = await world()
    await _deploy(w, autoPromotionSeconds=10)
    h1, h2 = await _paused(w)
    assert w.status()["controllerPause"] is True
    w.clock.advance(9.0)
    await w.settle(lambda: True, what="still paused")
    assert w.status()["phase"] == "Paused" and _selects(w, "active") == h1
    w.clock.advance(1.5)
    await w.settle(lambda: _promoted(w, h2), what="promoted")
    assert _selects(w, "active") == h2 and w.status()["blueGreen"]["activeSelector"] == h2
    assert "pauseConditions" not in w.status() and not w.status().get("controllerPause")
    assert w.events("RolloutCompleted")[-1] == (
        f"Rollout completed update to revision 2 ({h2}): Completed blue-green update")


async def test_preview_replica_count_scales_up_after_the_pause(world: Any) -> None:
    w: World = await world()
    await _deploy(w, autoPromotionEnabled=False, previewReplicaCount=1)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"replicas": 3}})
    await w.settle(lambda: w.status().get("phase") == "Healthy" and w.status().get("availableReplicas") == 3,
                   what="three replicas")
    h1, h2 = await _paused(w)
    assert _replicas(w, h2) == 1 and _replicas(w, h1) == 3
    assert not w.status()["blueGreen"].get("scaleUpPreviewCheckPoint")
    assert w.status()["updatedReplicas"] == 1
    _promote(w)
    await w.settle(lambda: bool(w.status()["blueGreen"].get("scaleUpPreviewCheckPoint")),
                   what="checkpoint", quiet=False)
    assert _selects(w, "active") == h1
    await w.settle(lambda: _promoted(w, h2), what="promoted")
    assert _replicas(w, h2) == 3 and _selects(w, "active") == h2
    assert "scaleUpPreviewCheckPoint" not in w.status()["blueGreen"]
    assert w.events("RolloutCompleted")[-1].endswith(f"({h2}): Completed blue-green update")


async def test_promote_full_during_the_pause(world: Any) -> None:
    w: World = await world()
    await _deploy(w, autoPromotionEnabled=False)
    _, h2 = await _paused(w)
    # kubectl argo rollouts promote demo --full
    _patch_status(w, {"promoteFull": True})
    await w.settle(lambda: _promoted(w, h2), what="promoted")
    assert _selects(w, "active") == h2
    assert not w.status().get("promoteFull") and "pauseConditions" not in w.status()
    assert w.events("RolloutCompleted")[-1] == (
        f"Rollout completed update to revision 2 ({h2}): Full promotion requested")


async def test_abort_then_retry_completes_the_update(world: Any) -> None:
    w: World = await world()
    await _deploy(w, autoPromotionEnabled=False)
    h1, h2 = await _paused(w)
    _patch_status(w, {"abort": True})
    await w.settle(lambda: w.status().get("phase") == "Degraded", what="aborted")
    assert w.status()["message"] == "RolloutAborted: Rollout aborted update to revision 2"
    assert _selects(w, "active") == h1 and w.status()["stableRS"] == h1
    # kubectl argo rollouts retry rollout demo
    _patch_status(w, {"abort": False})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused again")
    assert w.status()["message"] == "BlueGreenPause" and not w.status().get("abort")
    assert _replicas(w, h2) == 2 and _selects(w, "active") == h1
    _promote(w)
    await w.settle(lambda: _promoted(w, h2), what="promoted")
    assert _selects(w, "active") == h2
    assert w.events("RolloutCompleted")[-1] == (
        f"Rollout completed update to revision 2 ({h2}): Completed blue-green update")


async def test_rollback_within_the_scale_down_delay_is_fast(world: Any) -> None:
    w: World = await world()
    await _deploy(w, autoPromotionEnabled=False)
    # isRollback compares creationTimestamps (whole seconds): the revisions must not be born in one second
    await _next_second(w)
    h1, h2 = await _paused(w)
    _promote(w)
    await w.settle(lambda: _promoted(w, h2), what="promoted")
    assert "scale-down-deadline" in w.replica_sets()[f"demo-{h1}"]["metadata"]["annotations"]
    paused = len(w.events("RolloutPaused"))
    _update(w, "app:1")
    await w.settle(lambda: _promoted(w, h1), what="rolled back")
    assert _selects(w, "active") == h1 and _selects(w, "preview") == h1
    assert len(w.events("RolloutPaused")) == paused and "pauseConditions" not in w.status()
    assert w.events("RolloutCompleted")[-1] == f"Rollout completed update to revision 3 ({h1}): Fast rollback"
    assert "scale-down-deadline" not in (w.replica_sets()[f"demo-{h1}"]["metadata"].get("annotations") or {})
    assert "scale-down-deadline" in w.replica_sets()[f"demo-{h2}"]["metadata"]["annotations"]


async def test_a_restarted_controller_continues_a_paused_update(world: Any) -> None:
    w: World = await world()
    await _deploy(w, autoPromotionEnabled=False)
    h1, h2 = await _paused(w)
    pods = w.pod_uids()
    # a new process (leader failover): its memory is empty, the status is all it has
    w.reconciler = reconciling.Reconciler(informers=w.informers, writer=w.writer,
                                          recorder=w.reconciler.recorder, verifiers=None,
                                          settings=w.reconciler.settings, clock=w.clock)
    await w.settle(lambda: True, what="still paused")
    assert w.status()["phase"] == "Paused" and w.status()["message"] == "BlueGreenPause"
    assert _selects(w, "active") == h1 and w.pod_uids() == pods
    _promote(w)
    await w.settle(lambda: _promoted(w, h2), what="promoted")
    assert _selects(w, "active") == h2 and w.pod_uids() == pods


async def test_spec_paused_holds_the_switch_after_a_promote(world: Any) -> None:
    w: World = await world()
    await _deploy(w, autoPromotionEnabled=False)
    h1, h2 = await _paused(w)
    # kubectl argo rollouts pause demo
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"paused": True}})
    await w.settle(lambda: w.status().get("message") == "manually paused", what="manually paused")
    assert w.status()["phase"] == "Paused"
    _promote(w)
    await w.settle(lambda: "pauseConditions" not in w.status(), what="pause condition gone")
    assert w.status()["phase"] == "Paused" and w.status()["message"] == "manually paused"
    assert _selects(w, "active") == h1 and w.status()["stableRS"] == h1
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"paused": False}})
    await w.settle(lambda: _promoted(w, h2), what="promoted")
    assert _selects(w, "active") == h2


async def test_the_debug_view_shows_the_cutover(world: Any) -> None:
    w: World = await world()
    await _deploy(w, autoPromotionEnabled=False)
    h1, h2 = await _paused(w)
    view = (w.reconciler.describe(f"{NS}/demo") or {})["blueGreen"]
    assert view["services"] == {"active": {"name": "active", "selects": h1, "endpoints": [h1]},
                                "preview": {"name": "preview", "selects": h2, "endpoints": [h2]}}
    assert (view["activeSelector"], view["previewSelector"]) == (h1, h2)
    sets = [(rs["role"], rs["hash"], rs["replicas"], rs["scaleDownDeadline"]) for rs in view["replicaSets"]]
    assert sets == [("new", h2, 2, None), ("stable", h1, 2, None)]
    _promote(w)
    await w.settle(lambda: _promoted(w, h2), what="promoted")
    await w.reconcile()
    view = (w.reconciler.describe(f"{NS}/demo") or {})["blueGreen"]
    assert view["services"]["active"] == {"name": "active", "selects": h2, "endpoints": [h2]}
    roles = {rs["role"]: rs for rs in view["replicaSets"]}
    assert set(roles) == {"stable", "older"} and roles["stable"]["hash"] == h2
    assert roles["older"]["hash"] == h1 and roles["older"]["scaleDownDeadline"]
