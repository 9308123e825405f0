"""Reconciling a Rollout against the in-process sandbox (API server, cluster, LBC simulator, moto).

Aspects: initial deploy (ReplicaSet created, pods ready, stable promoted, Healthy, annotation 0/100).
"""

from __future__ import annotations

from .world import ACTION, NS, World, forward


async def test_initial_deploy(world) -> None:
    w: World = await world()
    w.seed()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    status = w.status()
    sets = w.replica_sets()
    assert len(sets) == 1
    (rs,) = sets.values()
    pod_hash = rs["metadata"]["labels"]["rollouts-pod-template-hash"]
    assert rs["spec"]["replicas"] == 2
    assert status["stableRS"] == pod_hash == status["currentPodHash"]
    assert w.annotations()[ACTION] == forward(0, 100)
    assert w.get("services", "stable")["spec"]["selector"]["rollouts-pod-template-hash"] == pod_hash
    assert NS
