"""The reference's `PatchingALBIngress` events for header routes and managed-route removal (reference §1.6).

Aspects: which of the reference's three writes (remove managed routes, set header route, set weight) one
body stands for (`ingress_patch.patch_for`), each only when it changes the Ingress; on the sandbox, a
setHeaderRoute step emits `` Updating Ingress `app` to headerRoute 'beta' `` once, without a weight event
when the weight did not move, the promotion emits `` removing managed routes `` once, and so does an
abort; a failed write still says what it tried, then TrafficRoutingError, and the retry writes the route.
"""

from __future__ import annotations

from typing import Any

from service.alb import actions, ingress_patch
from service.alb.ingress_patch import HeaderRoute, Routing
from tests.service.alb.builders import apply_merge_patch

from .world import NS, ROLLOUTS, World, ingress, template

PATCHING = "PatchingALBIngress"
ROUTE = "Updating Ingress `app` to headerRoute 'beta'"
REMOVED = "Updating Ingress `app` removing managed routes"
BETA = {"name": "beta", "match": [{"headerName": "X-Beta", "headerValue": {"exact": "yes"}}]}
STEPS = [{"setWeight": 20}, {"setHeaderRoute": BETA}, {"pause": {}}]
ROUTING: dict[str, Any] = {"trafficRouting": {"alb": {"ingress": "app", "servicePort": 80},
                                              "managedRoutes": [{"name": "beta"}]}}
RULES = Routing(rollout="demo", action_service="stable", canary_service="canary", stable_service="stable",
                port=80, managed_routes=("beta",))
ON = HeaderRoute("beta", (actions.Match("X-Beta", "yes"),))


def _said(w: World, type_: str = "Normal") -> dict[str, int]:
    """Message → count of the Rollout's events of reason PatchingALBIngress (the recorder bumps counts)."""
    return {e["message"]: int(e.get("count") or 1) for e in w.storage.list("events", NS)
            if e.get("reason") == PATCHING and e.get("type") == type_}


def _applied(current: dict[str, Any], body: dict[str, Any] | None) -> dict[str, Any]:
    assert body is not None
    return apply_merge_patch(current, body)  # type: ignore[no-any-return]


# ---- which parts a body stands for (pure) ---------------------------------------------------------------
def test_parts_of_a_body() -> None:
    current = ingress()
    first = ingress_patch.patch_for(current, RULES, desired_weight=20)
    assert (first.header_route, first.routes_removed, first.weight) == (False, False, True)
    weighted = _applied(current, first.body)

    routed = ingress_patch.patch_for(weighted, RULES, desired_weight=20, header_route=ON)
    assert (routed.header_route, routed.routes_removed, routed.weight) == (True, False, False)
    with_route = _applied(weighted, routed.body)
    assert ingress_patch.patch_for(with_route, RULES, desired_weight=20, header_route=ON).body is None

    promoted = ingress_patch.patch_for(with_route, RULES, desired_weight=0, remove_managed_routes=True)
    assert (promoted.header_route, promoted.routes_removed, promoted.weight) == (False, True, True)
    # the body is the one weight_patch sends, byte for byte
    assert promoted.body == ingress_patch.weight_patch(with_route, RULES, desired_weight=0,
                                                       remove_managed_routes=True)
    done = _applied(with_route, promoted.body)
    again = ingress_patch.patch_for(done, RULES, desired_weight=0, remove_managed_routes=True)
    assert again == ingress_patch.IngressPatch(None)


def test_removing_a_route_that_is_not_there_changes_nothing() -> None:
    weighted = _applied(ingress(), ingress_patch.patch_for(ingress(), RULES, desired_weight=0).body)
    off = HeaderRoute("beta", None)
    assert ingress_patch.patch_for(weighted, RULES, desired_weight=0, header_route=off).body is None
    assert ingress_patch.patch_for(weighted, RULES, desired_weight=0, remove_managed_routes=True).body is None


# ---- on the sandbox ------------------------------------------------------------------------------------
async def _on_the_route(w: World) -> None:
    w.seed(steps=STEPS, **ROUTING)
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused after the header route")
    assert "alb.ingress.kubernetes.io/actions.beta" in w.annotations()


async def test_header_route_then_promotion(world: Any) -> None:
    w: World = await world()
    await _on_the_route(w)
    said = _said(w)
    assert said[ROUTE] == 1
    assert said["Updating Ingress `app` to desiredWeight '20'"] == 1  # the route's write did not repeat it
    assert REMOVED not in said

    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"pauseConditions": None}}, subresource="status")
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="promoted")
    assert "alb.ingress.kubernetes.io/actions.beta" not in w.annotations()
    said = _said(w)
    assert (said[ROUTE], said[REMOVED]) == (1, 1)


async def test_abort_removes_the_managed_routes(world: Any) -> None:
    w: World = await world()
    await _on_the_route(w)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"abort": True}}, subresource="status")
    await w.settle(lambda: w.status().get("phase") == "Degraded", what="aborted")
    annotations = w.annotations()
    assert "alb.ingress.kubernetes.io/actions.beta" not in annotations
    assert "alb.ingress.kubernetes.io/conditions.beta" not in annotations
    said = _said(w)
    assert (said[ROUTE], said[REMOVED]) == (1, 1)


async def test_a_failed_route_write_is_said_then_retried(world: Any) -> None:
    w: World = await world()
    w.seed(steps=STEPS, **ROUTING)
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("currentStepIndex") == 1, what="on the setHeaderRoute step",
                   quiet=False)
    w.faults.fail_next("patch", "ingresses", code=500, message="etcd is away")
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused after the header route")
    assert "alb.ingress.kubernetes.io/actions.beta" in w.annotations()
    assert any("etcd is away" in str(error) for error in w.errors)
    warnings = [e["message"] for e in w.storage.list("events", NS)
                if e.get("reason") == "TrafficRoutingError"]
    assert any(m.startswith("error patching alb ingress `app`: ") for m in warnings)
    assert _said(w)[ROUTE] == 2  # said before each attempt, as the reference does
