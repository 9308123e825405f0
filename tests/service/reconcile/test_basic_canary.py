"""The basic canary (no trafficRouting) on the sandbox: setWeight is a replica ratio, paced by maxSurge and
maxUnavailable.

Aspects: the first deploy takes every replica; an update scales the canary and the stable one role per cycle
so that, sampled after every reconcile, the Rollout never runs more than replicas + maxSurge pods by spec nor
fewer than replicas - maxUnavailable available; a setWeight step completes only at the desired counts; the
plugin's promote resumes a pause; the end of the steps promotes and the older ReplicaSet is scaled to 0 at
once (no scaleDownDelaySeconds without routing); no Ingress is read or written; the Services still follow the
roles; an abort returns every replica to the stable ReplicaSet; phase messages as the reference words them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .world import HASH, INGRESSES, NS, ROLLOUTS, World, rollout, service, template

STEPS = [{"setWeight": 25}, {"pause": {}}, {"setWeight": 75}, {"pause": {}}]


def _basic(replicas: int = 4, steps: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    body = rollout(replicas=replicas, steps=steps if steps is not None else STEPS, **extra)
    del body["spec"]["strategy"]["canary"]["trafficRouting"]
    return body


def _sizes(w: World) -> dict[str, tuple[int, int]]:
    """ReplicaSet hash -> (spec.replicas, status.availableReplicas)."""
    return {rs["metadata"]["labels"][HASH]: (rs["spec"]["replicas"],
                                            (rs.get("status") or {}).get("availableReplicas", 0))
            for rs in w.replica_sets().values()}


async def _walk(w: World, until: Any, what: str, *, surge: int, unavailable: int, replicas: int = 4,
                within: float = 60.0) -> None:
    """Reconcile until `until()`, checking the maxSurge/maxUnavailable bounds after every reconcile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    await w.caught_up()
    while not until():
        before = len(w.writer.writes)
        await w.reconcile()
        sizes = _sizes(w).values()
        assert sum(spec for spec, _ in sizes) <= replicas + surge, _sizes(w)
        assert sum(available for _, available in sizes) >= replicas - unavailable, _sizes(w)
        if len(w.writer.writes) == before:
            await asyncio.sleep(0.02)  # let the cluster and the caches move
        assert loop.time() < deadline, f"not reached: {what}; status={w.status()} sets={_sizes(w)}"


async def _deploy(w: World, **options: Any) -> str:
    for name in ("stable", "canary"):
        w.apply("services", service(name))
    w.apply(ROLLOUTS, _basic(**options))
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    return str(w.status()["stableRS"])


async def test_steps_set_the_replica_ratio_within_surge_and_unavailable(world: Any) -> None:
    w: World = await world()
    stable = await _deploy(w)
    assert _sizes(w) == {stable: (4, 4)}
    assert w.storage.list(INGRESSES, NS) == []

    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await _walk(w, lambda: w.status().get("phase") == "Paused", "paused at 25%", surge=1, unavailable=1)
    canary = str(w.status()["currentPodHash"])
    assert _sizes(w) == {stable: (3, 3), canary: (1, 1)}
    status = w.status()
    assert (status["currentStepIndex"], status["message"]) == (1, "CanaryPauseStep")
    assert "canary" not in status or not status["canary"].get("weights")
    assert w.get("services", "canary")["spec"]["selector"][HASH] == canary
    assert w.get("services", "stable")["spec"]["selector"][HASH] == stable
    assert w.events("RolloutStepCompleted") == ["Rollout step 1/4 completed (setWeight: 25)"]

    # kubectl argo rollouts promote demo
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"pauseConditions": None}}, subresource="status")
    await _walk(w, lambda: w.status().get("currentStepIndex") == 3 and w.status().get("phase") == "Paused",
                "paused at 75%", surge=1, unavailable=1)
    assert _sizes(w) == {stable: (1, 1), canary: (3, 3)}

    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"pauseConditions": None}}, subresource="status")
    await _walk(w, lambda: w.status().get("phase") == "Healthy", "promoted", surge=1, unavailable=1)
    await w.settle(lambda: True, what="quiet")  # the stable Service follows a promotion on the next cycle
    assert w.status()["stableRS"] == canary
    assert _sizes(w) == {stable: (0, 0), canary: (4, 4)}
    assert w.get("services", "stable")["spec"]["selector"][HASH] == canary
    assert w.events("RolloutCompleted")[-1] == (
        f"Rollout completed update to revision 2 ({canary}): Completed all 4 canary steps")
    assert w.storage.list(INGRESSES, NS) == []
    assert not any(name == "patch_ingress" for name, _ in w.writer.writes)


async def test_max_surge_zero_scales_down_before_up(world: Any) -> None:
    w: World = await world()
    stable = await _deploy(w, maxSurge=0, maxUnavailable=1)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await _walk(w, lambda: w.status().get("phase") == "Paused", "paused at 25%", surge=0, unavailable=1)
    canary = str(w.status()["currentPodHash"])
    assert _sizes(w) == {stable: (3, 3), canary: (1, 1)}


async def test_abort_returns_every_replica_to_the_stable(world: Any) -> None:
    w: World = await world()
    stable = await _deploy(w)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await _walk(w, lambda: w.status().get("phase") == "Paused", "paused at 25%", surge=1, unavailable=1)
    canary = str(w.status()["currentPodHash"])

    # kubectl argo rollouts abort demo
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"abort": True}}, subresource="status")
    await _walk(w, lambda: _sizes(w) == {stable: (4, 4), canary: (0, 0)}, "stable back to 4", surge=1,
                unavailable=1)
    await w.settle(lambda: w.status().get("phase") == "Degraded", what="aborted")
    assert w.status()["message"] == "RolloutAborted: Rollout aborted update to revision 2"
    assert w.get("services", "canary")["spec"]["selector"][HASH] == stable


async def test_a_basic_canary_without_services(world: Any) -> None:
    w: World = await world()
    body = _basic(steps=[{"setWeight": 50}, {"pause": {"duration": 5}}])
    del body["spec"]["strategy"]["canary"]["canaryService"]
    del body["spec"]["strategy"]["canary"]["stableService"]
    w.apply(ROLLOUTS, body)
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    stable = str(w.status()["stableRS"])
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await _walk(w, lambda: w.status().get("phase") == "Paused", "paused at 50%", surge=1, unavailable=1)
    canary = str(w.status()["currentPodHash"])
    assert _sizes(w) == {stable: (2, 2), canary: (2, 2)}
    w.clock.advance(6.0)
    await _walk(w, lambda: w.status().get("phase") == "Healthy", "promoted after the timed pause", surge=1,
                unavailable=1)
    assert _sizes(w) == {stable: (0, 0), canary: (4, 4)}


async def test_an_update_during_an_update_drains_the_older_canary_within_max_unavailable(world: Any) -> None:
    w: World = await world()
    stable = await _deploy(w)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await _walk(w, lambda: w.status().get("phase") == "Paused", "paused at 25%", surge=1, unavailable=1)
    v2 = str(w.status()["currentPodHash"])
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"pauseConditions": None}}, subresource="status")
    await _walk(w, lambda: w.status().get("currentStepIndex") == 3, "paused at 75%", surge=1, unavailable=1)

    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:3")}})
    await _walk(w, lambda: w.status().get("phase") == "Paused" and w.status().get("currentPodHash") != v2,
                "v3 paused at 25%", surge=1, unavailable=1)
    v3 = str(w.status()["currentPodHash"])
    assert _sizes(w) == {stable: (3, 3), v2: (0, 0), v3: (1, 1)}
    assert not any("scale-down-deadline" in (rs["metadata"].get("annotations") or {})
                   for rs in w.replica_sets().values())
