"""Reconciling the routing variants: ping-pong with a rootService, and setHeaderRoute steps.

Aspects: ping-pong writes `actions.<rootService>` with the ping/pong target groups by
status.canary.stablePingPong, flips them on promotion, and the LBC simulator's ALB follows; a setHeaderRoute
step writes the route's action and condition annotations (from revision 2 on) and the end of the rollout
removes them.
"""

from __future__ import annotations

import json
from typing import Any

from .world import (
    BOOKKEEPING,
    HASH,
    INGRESSES,
    NS,
    ROLLOUTS,
    World,
    forward,
    ingress,
    rollout,
    service,
    template,
)

ROOT = "alb.ingress.kubernetes.io/actions.root"


def _backends(w: World) -> list[str]:
    paths = w.get(INGRESSES, "app")["spec"]["rules"][0]["http"]["paths"]
    return [p["backend"]["service"]["name"] for p in paths]


async def test_ping_pong_flips_on_promotion(world: Any) -> None:
    w: World = await world()
    for name in ("ping", "pong"):
        w.apply("services", service(name))
    w.apply(INGRESSES, ingress(backends=("root",)))
    body = rollout(stable="", canary="", pingPong={"pingService": "ping", "pongService": "pong"})
    canary = body["spec"]["strategy"]["canary"]
    del canary["stableService"], canary["canaryService"]
    canary["trafficRouting"]["alb"]["rootService"] = "root"
    w.apply(ROLLOUTS, body)
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    first = w.status()["stableRS"]
    assert w.status()["canary"]["stablePingPong"] == "ping"
    assert w.annotations()[ROOT] == forward(0, 100, "pong", "ping")
    assert w.get("services", "ping")["spec"]["selector"][HASH] == first

    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused")
    assert w.annotations()[ROOT] == forward(20, 80, "pong", "ping")
    second = w.status()["currentPodHash"]
    assert w.get("services", "pong")["spec"]["selector"][HASH] == second
    await w.lbc.settled()
    assert w.alb_weights() == {"pong": 20, "ping": 80}

    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"pauseConditions": None}}, subresource="status")
    await w.settle(lambda: w.status().get("stableRS") == second, what="promoted")
    assert w.status()["canary"]["stablePingPong"] == "pong"
    assert w.annotations()[ROOT] == forward(0, 100, "ping", "pong")
    assert json.loads(w.annotations()[BOOKKEEPING]) == {"demo": [ROOT]}
    await w.lbc.settled()
    assert w.alb_weights() == {"ping": 0, "pong": 100}


async def test_header_route_written_then_removed(world: Any) -> None:
    w: World = await world()
    steps = [{"setWeight": 20},
             {"setHeaderRoute": {"name": "beta", "match": [{"headerName": "X-Beta",
                                                            "headerValue": {"exact": "yes"}}]}},
             {"pause": {}}]
    w.seed(steps=steps, trafficRouting={"alb": {"ingress": "app", "servicePort": 80},
                                        "managedRoutes": [{"name": "beta"}]})
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused after the header route")
    annotations = w.annotations()
    assert json.loads(annotations["alb.ingress.kubernetes.io/conditions.beta"]) == [
        {"field": "http-header", "httpHeaderConfig": {"httpHeaderName": "X-Beta", "values": ["yes"]}}]
    assert "alb.ingress.kubernetes.io/actions.beta" in annotations
    assert _backends(w)[0] == "beta"

    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"pauseConditions": None}}, subresource="status")
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="promoted")
    annotations = w.annotations()
    assert "alb.ingress.kubernetes.io/conditions.beta" not in annotations
    assert "alb.ingress.kubernetes.io/actions.beta" not in annotations
    assert _backends(w) == ["stable"]
