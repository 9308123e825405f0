"""Blue-green behind an ALB on the sandbox, through the real wire (issue 10).

Aspects: the first deploy points the active and preview Services at the first ReplicaSet and promotes it
(`Initial deploy`); an update brings the new ReplicaSet up behind the preview Service, switches the active
Service once it is saturated, promotes (`Completed blue-green update`) only once the active Service's
endpoints are the new pods, and scales the old ReplicaSet down after `scaleDownDelaySeconds`;
`autoPromotionEnabled: false` pauses with `BlueGreenPause` until the plugin's promote; abort switches the
active Service back; no Ingress annotation is ever written. The cutover is made before it breaks (ours): with
`--aws-verify-target-group`, the LBC simulator's registration window and its lag (0, 3 and 10 s), a traffic
probe sampling the ALB every 0.1 s through the update, the promotion and the old stack's scale-down sees no
failed request; the active Service is widened (`WidenService`) before it is switched (`SwitchService`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from sandbox import aws, traffic
from tests.sandbox.polling import until

from .test_reconciling_traffic import Sampler
from .world import HASH, INGRESSES, NS, ROLLOUTS, World, rollout, service, template

MANAGED_BY = "argo-rollouts.argoproj.io/managed-by-rollouts"


def _blue_green(**extra: Any) -> dict[str, Any]:
    body = rollout(replicas=2)
    body["spec"]["strategy"] = {"blueGreen": {"activeService": "active", "previewService": "preview",
                                              **extra}}
    return body


def _ingress() -> dict[str, Any]:
    backend = {"service": {"name": "active", "port": {"number": 80}}}
    path = {"path": "/", "pathType": "Prefix", "backend": backend}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "app", "namespace": NS},
            "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [path]}}]}}


async def _deploy(w: World, **extra: Any) -> str:
    for name in ("active", "preview"):
        w.apply("services", service(name))
    w.apply(INGRESSES, _ingress())
    w.apply(ROLLOUTS, _blue_green(**extra))
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    return str(w.status()["stableRS"])


def _selects(w: World, name: str) -> str | None:
    selected = w.get("services", name)["spec"]["selector"].get(HASH)
    return None if selected is None else str(selected)


async def test_first_deploy_and_an_update_with_auto_promotion(world: Any) -> None:
    w: World = await world()
    h1 = await _deploy(w)
    status = w.status()
    assert status["blueGreen"] == {"activeSelector": h1, "previewSelector": h1}
    assert _selects(w, "active") == h1 and _selects(w, "preview") == h1
    assert w.get("services", "active")["metadata"]["annotations"][MANAGED_BY] == "demo"
    assert w.events("RolloutCompleted") == [f"Rollout completed update to revision 1 ({h1}): Initial deploy"]

    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("stableRS") not in (None, h1) and w.status()["phase"] == "Healthy",
                   what="promoted")
    h2 = str(w.status()["currentPodHash"])
    assert w.status()["blueGreen"] == {"activeSelector": h2, "previewSelector": h2}
    assert _selects(w, "active") == h2 and _selects(w, "preview") == h2
    assert w.events("RolloutCompleted")[-1] == (
        f"Rollout completed update to revision 2 ({h2}): Completed blue-green update")
    old = w.replica_sets()[f"demo-{h1}"]
    assert old["spec"]["replicas"] == 2 and "scale-down-deadline" in old["metadata"]["annotations"]
    w.clock.advance(31.0)
    await w.settle(lambda: w.replica_sets()[f"demo-{h1}"]["spec"]["replicas"] == 0, what="old scaled down")
    assert not any(key.startswith("alb.ingress.kubernetes.io/actions")
                   for key in (w.get(INGRESSES, "app")["metadata"].get("annotations") or {}))


async def test_manual_promotion_pauses_then_the_plugin_promotes(world: Any) -> None:
    w: World = await world()
    h1 = await _deploy(w, autoPromotionEnabled=False)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused before the switch")
    h2 = str(w.status()["currentPodHash"])
    assert w.status()["message"] == "BlueGreenPause"
    assert _selects(w, "active") == h1 and _selects(w, "preview") == h2
    # kubectl argo rollouts promote demo
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"pauseConditions": None}}, subresource="status")
    await w.settle(lambda: w.status().get("stableRS") == h2 and w.status()["phase"] == "Healthy",
                   what="promoted")
    assert _selects(w, "active") == h2


async def test_abort_switches_the_active_service_back(world: Any) -> None:
    w: World = await world()
    h1 = await _deploy(w, autoPromotionEnabled=False)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused before the switch")
    # kubectl argo rollouts abort demo
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"abort": True}}, subresource="status")
    await w.settle(lambda: w.status().get("phase") == "Degraded", what="aborted")
    assert w.status()["message"] == "RolloutAborted: Rollout aborted update to revision 2"
    assert _selects(w, "active") == h1



@pytest.mark.parametrize("lag", [0.0, 3.0, 10.0], ids=["lag-0s", "lag-3s", "lag-10s"])
async def test_the_cutover_fails_no_request(world: Any, lag: float) -> None:
    w: World = await world(verify=True, retry_interval=0.5)
    w.lbc.configure({"targetRegistrationSeconds": 0.6, "targetInitialSeconds": 0.6})
    h1 = await _deploy(w)
    async with aws.client("elbv2", w.elbv2_endpoint) as elbv2:
        async def serving() -> bool:
            return (await traffic.probe(w.storage, elbv2, NS, "app", requests=20)).failed == 0

        await until(serving, within=30, what="the first deploy to serve")
        w.lbc.configure({"lagSeconds": lag})  # from here on: the first deploy need not wait for it
        sampler = Sampler(w, elbv2)
        sampling = asyncio.create_task(sampler.run())
        try:
            w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
            await w.settle(lambda: w.status().get("stableRS") not in (None, h1)
                           and w.status()["phase"] == "Healthy", what="promoted", within=120)
            await w.lbc.settled()
            await sampler.sample("after promotion")
            # dated once the LBC has let go of the old pods (§14 item 3), which a lagging LBC does later
            await w.settle(lambda: "scale-down-deadline" in (
                w.replica_sets()[f"demo-{h1}"]["metadata"].get("annotations") or {}), what="dated")
            w.clock.advance(31.0)
            await w.settle(lambda: w.replica_sets()[f"demo-{h1}"]["spec"]["replicas"] == 0,
                           what="scaled down")
            await w.lbc.settled()
            await sampler.sample("after scale-down")
        finally:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
    assert sampler.requests > 0
    assert sampler.failed == 0, f"{sampler.failed}/{sampler.requests} failed:\n" + "\n".join(sampler.story)
    h2 = str(w.status()["stableRS"])
    assert w.events("WidenService") == [
        f"Widened selector for service 'active' to pods '{h1}' and '{h2}' before switching it to '{h2}'"]
    assert w.events("SwitchService")[-1] == f"Switched selector for service 'active' from '{h1}' to '{h2}'"


@pytest.mark.parametrize("delay", [30, 0], ids=["scaleDownDelaySeconds-30", "scaleDownDelaySeconds-0"])
async def test_old_pods_are_not_retired_while_the_alb_still_routes_to_them(world: Any, delay: int) -> None:
    """§14 item 3 (ours): with the LBC stopped after the new targets came to serve, the switch and the
    promotion go ahead, but the old ReplicaSet is neither dated nor scaled down while its pods are still
    registered (not draining) in the active Service's target group; once the LBC deregisters them it is."""
    w: World = await world(verify=True, retry_interval=0.2)
    h1 = await _deploy(w, scaleDownDelaySeconds=delay)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    # the widened active Service serves the new pods; the ALB keeps the old pods registered from here on
    await w.pause_the_lbc_once_serving("active")
    await w.settle(lambda: w.status().get("stableRS") not in (None, h1) and w.status()["phase"] == "Healthy",
                   what="promoted", quiet=False)
    assert _selects(w, "active") == w.status()["stableRS"]
    w.clock.advance(delay + 5.0)
    for _ in range(3):
        await w.reconcile()
    old = w.replica_sets()[f"demo-{h1}"]
    assert old["spec"]["replicas"] == 2
    assert "scale-down-deadline" not in (old["metadata"].get("annotations") or {})

    w.lbc.configure({"paused": False})
    if delay:
        await w.settle(lambda: "scale-down-deadline" in (
            w.replica_sets()[f"demo-{h1}"]["metadata"].get("annotations") or {}), what="dated", quiet=False)
        w.clock.advance(delay + 1.0)
    await w.settle(lambda: w.replica_sets()[f"demo-{h1}"]["spec"]["replicas"] == 0, what="scaled down")
