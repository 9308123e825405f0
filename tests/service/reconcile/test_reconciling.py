"""Reconciling a Rollout against the in-process sandbox (API server, cluster, LBC simulator, moto).

Aspects: initial deploy (ReplicaSet created, pods ready, stable promoted, Healthy, annotation 0/100,
Services pointed); a new template → canary ReplicaSet, setWeight 20 byte-exact on the Ingress and followed by
the ALB, pause → Paused/CanaryPauseStep, the plugin's promote patch → next step, end → promoted, stable
Service switched, old ReplicaSet scaled down only after scaleDownDelaySeconds (the Result asks to look again
then); the machine's transitions with their reasons; abort → weight 0 and Degraded.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client as kube_client

from statemachine import machine

from .world import ACTION, HASH, NS, ROLLOUTS, World, forward, template


def _hash(rs: dict[str, Any]) -> str:
    return str(rs["metadata"]["labels"][HASH])


async def deployed(w: World, **options: Any) -> str:
    w.seed(**options)
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    return str(w.status()["stableRS"])


async def test_initial_deploy(world: Any) -> None:
    w: World = await world()
    stable = await deployed(w)
    status = w.status()
    (rs,) = w.replica_sets().values()
    assert rs["spec"]["replicas"] == 2
    assert rs["metadata"]["name"] == f"demo-{stable}"
    assert status["stableRS"] == _hash(rs) == status["currentPodHash"]
    assert status["availableReplicas"] == 2
    assert w.annotations()[ACTION] == forward(0, 100)
    for svc in ("stable", "canary"):
        assert w.get("services", svc)["spec"]["selector"][HASH] == stable
    assert w.reconciler.describe(f"{NS}/demo")["state"] == "Promoted"  # type: ignore[index]


async def test_canary_steps_to_promotion(world: Any) -> None:
    w: World = await world()
    stable = await deployed(w, steps=[{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}])
    old_pods = {p["metadata"]["uid"] for p in w.storage.list("pods", NS)}

    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused at the pause step")
    status = w.status()
    canary = status["currentPodHash"]
    assert canary != stable
    assert status["message"] == "CanaryPauseStep"
    assert status["currentStepIndex"] == 1
    assert [c["reason"] for c in status["pauseConditions"]] == ["CanaryPauseStep"]
    assert w.annotations()[ACTION] == forward(20, 80)
    sets = w.replica_sets()
    assert sets[f"demo-{canary}"]["spec"]["replicas"] == 1
    assert sets[f"demo-{stable}"]["spec"]["replicas"] == 2
    assert w.get("services", "canary")["spec"]["selector"][HASH] == canary
    assert w.get("services", "stable")["spec"]["selector"][HASH] == stable
    assert w.events("TrafficWeightUpdated")[-1] == "Traffic weight updated from 0 to 20"
    assert w.events("PatchingALBIngress")[-1] == "Updating Ingress `app` to desiredWeight '20'"
    await w.lbc.settled()
    assert w.alb_weights() == {"canary": 20, "stable": 80}

    # kubectl argo rollouts promote demo
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"pauseConditions": None}}, subresource="status")
    await w.settle(lambda: w.status().get("stableRS") == canary, what="promoted")
    assert "Rollout step 2/3 completed (pause)" in w.events("RolloutStepCompleted")
    assert w.events("RolloutCompleted") == [
        f"Rollout completed update to revision 1 ({stable}): Initial deploy",
        f"Rollout completed update to revision 2 ({canary}): Completed all 3 canary steps"]
    status = w.status()
    assert status["phase"] == "Healthy"
    assert w.annotations()[ACTION] == forward(0, 100)
    assert w.get("services", "stable")["spec"]["selector"][HASH] == canary
    old = w.replica_sets()[f"demo-{stable}"]
    assert old["spec"]["replicas"] == 2  # not before scaleDownDelaySeconds
    assert old["metadata"]["annotations"]["scale-down-deadline"] == "2026-01-01T00:00:30Z"
    assert w.outcomes[-1].requeue_after == 30.0

    described = w.reconciler.describe(f"{NS}/demo")
    assert described is not None
    # the history also keeps the syncs that wrote something (the stable Service moves after promotion)
    moves = [(t["trigger"], t["to"], t["reason"]) for t in described["transitions"] if t["trigger"] != "sync"]
    assert ("pause", "Paused", "paused: CanaryPauseStep") in moves
    assert ("resume", "Progressing", "Rollout step 2/3 completed (pause)") in moves
    assert ("promote", "Promoted", "Completed all 3 canary steps") in moves
    # promoted, the stable Service moves first; weight returns to it once its targets serve the new pods
    assert moves[-2:] == [("wait_for_targets", "WaitingForTargets", f"waiting for Service stable's targets "
                                                                    f"to serve pods {canary}"),
                          ("targets_ready", "Promoted", "Completed all 3 canary steps")]
    table = {row["trigger"] for row in machine.describe()}
    assert all(trigger in table for trigger, _, _ in moves)  # every move was one of the table's
    promote = next(t for t in reversed(described["transitions"]) if t["trigger"] == "promote")
    assert "status written" in promote["effects"]
    w.clock.advance(30.0)
    await w.settle(lambda: w.replica_sets()[f"demo-{stable}"]["spec"]["replicas"] == 0, what="scaled down")
    assert old_pods  # the old pods existed, and the new ones are a different set
    await w.lbc.settled()
    assert w.alb_weights() == {"canary": 0, "stable": 100}


async def test_abort_returns_traffic_to_stable(world: Any) -> None:
    w: World = await world()
    stable = await deployed(w)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused")
    assert w.annotations()[ACTION] == forward(20, 80)

    # kubectl argo rollouts abort demo
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"abort": True}}, subresource="status")
    await w.settle(lambda: w.status().get("phase") == "Degraded", what="aborted")
    status = w.status()
    assert status["message"] == "RolloutAborted: Rollout aborted update to revision 2"
    assert w.annotations()[ACTION] == forward(0, 100)
    assert w.get("services", "canary")["spec"]["selector"][HASH] == stable
    assert w.events("RolloutAborted") == ["Rollout aborted update to revision 2"]
    await w.lbc.settled()
    assert w.alb_weights() == {"canary": 0, "stable": 100}
    assert w.reconciler.describe(f"{NS}/demo")["state"] == "Aborted"  # type: ignore[index]


async def test_hpa_reads_the_scale_subresource_from_the_status(world: Any) -> None:
    """status.selector and status.HPAReplicas are written, so the scale subresource (and an HPA) work."""
    w: World = await world()
    w.seed()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    status = w.status()
    assert (status["selector"], status["HPAReplicas"]) == ("app=demo", 2)
    api = kube_client.CustomObjectsApi(w.informers.rollouts.api)
    scale = await api.get_namespaced_custom_object_scale("argoproj.io", "v1alpha1", NS, "rollouts", "demo")
    assert (scale["spec"]["replicas"], scale["status"]["replicas"], scale["status"]["selector"]) == (
        2, 2, "app=demo")
