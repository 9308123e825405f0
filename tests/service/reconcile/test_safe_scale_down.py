"""Safe scale-down on the sandbox: an older ReplicaSet still receiving traffic is never scaled down.

Aspects: v2 is the canary at 20% when v3 arrives while the stable ReplicaSet is not fully available (one pod
replaced, not ready yet), so the weights are held; v2 stays scaled up for as long as the ALB sends it traffic
or a Service selects it, even past its scale-down deadline, and a traffic probe sampled every 0.1 s and after
every reconcile (from once the ALB no longer sends requests to the lost pod) sees no failed request; once
traffic has left v2 it is dated and scaled down as usual. Pure
rules: `traffic_safety.referenced` and `scale_down_budget` (the reference's minAvailable guard). Beyond
scaleDownDelayRevisionLimit older ReplicaSets go at once; beyond revisionHistoryLimit the oldest are deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sandbox import aws, traffic
from tests.sandbox.polling import until

from .test_reconciling_traffic import Sampler
from .world import HASH, NS, ROLLOUTS, World, rollout, template


async def test_a_canary_interrupted_while_the_stable_is_short_keeps_its_pods_while_it_has_traffic(
        world: Any) -> None:
    w: World = await world()
    w.seed(replicas=4, steps=[{"setWeight": 20}, {"pause": {}}])
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    stable = str(w.status()["stableRS"])
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="v2 paused at 20%")
    v2 = str(w.status()["currentPodHash"])
    await w.lbc.settled()
    assert w.alb_weights() == {"canary": 20, "stable": 80}

    async with aws.client("elbv2", w.elbv2_endpoint) as elbv2:
        async def serving(requests: int = 20) -> bool:
            return (await traffic.probe(w.storage, elbv2, NS, "app", requests=requests)).failed == 0

        await until(serving, within=30, what="v2 at 20% to serve")
        # the stable loses a pod whose replacement is slow to become ready. The lost pod fails the requests
        # the ALB still sends it until the LBC deregisters it, as a crashed pod does (no doing of the
        # controller): 200 requests miss its target (a fifth of the traffic) with a chance of 0.8^200
        w.cluster.pod_ready_seconds = 5.0  # still not ready when v3 comes, also on a loaded machine
        victim = next(p for p in w.storage.list("pods", NS) if p["metadata"]["labels"].get(HASH) == stable)
        w.storage.delete("pods", NS, victim["metadata"]["name"])
        await until(lambda: serving(200), within=30, what="the lost stable pod's target deregistered")
        sampler = Sampler(w, elbv2)
        sampling = asyncio.create_task(sampler.run())
        v2_name = f"demo-{v2}"
        try:
            # then v3 arrives while the stable is short
            w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:3")}})
            await w.caught_up()

            async def step(why: str) -> None:
                try:
                    await w.reconcile()
                except Exception as error:  # the worker would retry it
                    w.errors.append(error)
                await sampler.sample(why)
                v2_spec = w.replica_sets()[v2_name]["spec"]["replicas"]
                if v2_spec == 0:  # only once no traffic can reach v2's pods
                    selected = w.get("services", "canary")["spec"]["selector"].get(HASH)
                    assert selected != v2, f"v2 scaled down while the canary Service selects it: {w.status()}"
                    assert w.status()["canary"]["weights"]["canary"]["podTemplateHash"] != v2

            # while held: v2 keeps its pods, even past any scale-down deadline
            for _ in range(5):
                await step("held")
                w.clock.advance(31.0)
            assert w.replica_sets()[v2_name]["spec"]["replicas"] == 1
            assert w.status()["canary"]["weights"]["canary"]["podTemplateHash"] == v2

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while w.replica_sets()[v2_name]["spec"]["replicas"] != 0:
                await step("until v2 is drained")
                w.clock.advance(5.0)
                assert loop.time() < deadline, f"v2 never drained: {w.status()} {w.alb_weights()}"
                await asyncio.sleep(0.05)
            await w.lbc.settled()
            await sampler.sample("v2 drained")
        finally:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
    assert sampler.requests > 0
    assert sampler.failed == 0, "\n".join(sampler.story)


def _old_rs(name: str, revision: int, *, dated: bool = True) -> dict[str, Any]:
    annotations = {"rollout.argoproj.io/revision": str(revision)}
    if dated:
        annotations["scale-down-deadline"] = "2020-01-01T00:00:00Z"
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": NS, "labels": {HASH: name}, "annotations": annotations},
            "spec": {"replicas": 1, "selector": {"matchLabels": {HASH: name}},
                     "template": {"metadata": {"labels": {HASH: name}}, "spec": {"containers": []}}}}


async def test_old_replicasets_go_newest_first_within_the_budget_and_never_when_referenced(
        world: Any) -> None:
    w: World = await world()
    others = tuple(w.apply("replicasets.apps", _old_rs(name, revision))
                   for name, revision in (("v1", 1), ("v2", 2), ("v3", 3)))
    await w.caught_up()
    sync = w.reconciler.applier.replicasets
    done: list[str] = []
    await sync.scale_down_others(NS, others, now=w.clock.now(), delay=30, done=done, budget=0)
    assert done == []  # no availability to spare: nothing moves
    await sync.scale_down_others(NS, others, now=w.clock.now(), delay=30, done=done, budget=1,
                                 keep=frozenset({"v3"}))
    assert done == ["scaled old ReplicaSet v2 to 0"]  # v3 still referenced; v1 past the budget
    assert {name: w.get("replicasets.apps", name)["spec"]["replicas"] for name in ("v1", "v2", "v3")} == {
        "v1": 1, "v2": 0, "v3": 1}


async def test_beyond_scale_down_delay_revision_limit_old_replicasets_go_at_once(world: Any) -> None:
    w: World = await world()
    others = tuple(w.apply("replicasets.apps", _old_rs(name, revision, dated=False))
                   for name, revision in (("v1", 1), ("v2", 2), ("v3", 3)))
    await w.caught_up()
    done: list[str] = []
    await w.reconciler.applier.replicasets.scale_down_others(NS, others, now=w.clock.now(), delay=30,
                                                             done=done, revision_limit=1)
    assert done == ["dated ReplicaSet v3 for scale-down at 2026-01-01T00:00:30Z",
                    "scaled old ReplicaSet v2 to 0", "scaled old ReplicaSet v1 to 0"]


async def test_revision_history_limit_deletes_the_oldest_replicasets(world: Any) -> None:
    w: World = await world()
    body = _basic_rollout()
    w.apply(ROLLOUTS, body)
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="v1 healthy")
    hashes = [str(w.status()["stableRS"])]
    for image in ("app:2", "app:3", "app:4"):
        w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template(image)}})
        await w.settle(lambda: w.status().get("phase") == "Healthy" and w.status()["stableRS"] != hashes[-1],
                       what=f"{image} healthy")
        hashes.append(str(w.status()["stableRS"]))
    await w.settle(lambda: len(w.replica_sets()) == 2, what="pruned to the current and one old")
    assert set(w.replica_sets()) == {f"demo-{hashes[-1]}", f"demo-{hashes[-2]}"}


def _basic_rollout() -> dict[str, Any]:
    body = rollout(replicas=1, steps=[])
    canary = body["spec"]["strategy"]["canary"]
    for key in ("trafficRouting", "canaryService", "stableService"):
        del canary[key]
    body["spec"]["revisionHistoryLimit"] = 1
    return body
