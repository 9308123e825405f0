"""Progress deadline on the sandbox: a canary whose pods never become ready does not stay Progressing.

Aspects: with `progressDeadlineSeconds` the Rollout turns Degraded `ProgressDeadlineExceeded` once no progress
was made for that long; with `progressDeadlineAbort` it is aborted too: traffic returns to the stable Service,
the canary's pods go, a Warning `RolloutAborted` event says which ReplicaSet timed out.
"""

from __future__ import annotations

from typing import Any

from .world import ACTION, HASH, NS, ROLLOUTS, World, forward, template


async def _stuck_update(w: World, *, abort: bool) -> str:
    w.seed(replicas=2, steps=[{"setWeight": 50}, {"pause": {}}])
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"progressDeadlineSeconds": 10,
                                                         "progressDeadlineAbort": abort}})
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    stable = str(w.status()["stableRS"])
    w.cluster.pod_ready_seconds = 3600.0  # a crash-looping canary: its pods never become ready
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("currentPodHash") != stable and len(w.replica_sets()) == 2,
                   what="canary created")
    w.clock.advance(11.0)
    return stable


async def test_a_stuck_canary_times_out(world: Any) -> None:
    w: World = await world()
    await _stuck_update(w, abort=False)
    await w.settle(lambda: w.status().get("phase") == "Degraded", what="timed out")
    canary = w.status()["currentPodHash"]
    assert w.status()["message"] == (
        f'ProgressDeadlineExceeded: ReplicaSet "demo-{canary}" has timed out progressing.')
    assert not w.status().get("abort")


async def test_progress_deadline_abort_aborts_a_stuck_canary(world: Any) -> None:
    w: World = await world()
    stable = await _stuck_update(w, abort=True)
    await w.settle(lambda: w.status().get("abort") is True and w.status().get("phase") == "Degraded",
                   what="aborted")
    canary = w.status()["currentPodHash"]
    assert w.status()["message"] == "RolloutAborted: Rollout aborted update to revision 2"
    assert w.events("RolloutAborted")[0] == f'ReplicaSet "demo-{canary}" has timed out progressing.'
    assert w.annotations()[ACTION] == forward(0, 100)
    assert w.get("services", "canary")["spec"]["selector"][HASH] == stable
    w.clock.advance(31.0)  # abortScaleDownDelaySeconds
    await w.settle(lambda: w.replica_sets()[f"demo-{canary}"]["spec"]["replicas"] == 0, what="scaled down")
