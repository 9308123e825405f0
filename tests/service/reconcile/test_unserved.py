"""Rollouts whose strategy we do not serve: never written to, never Degraded, said once.

Aspects: canaries routed by smi or istio (or by alb next to nginx) get no write at all
(no ReplicaSet, no status, no Service or Ingress change) and one Warning event `StrategyNotServed` naming the
strategy and `--instance-id`, however often they are reconciled; they are listed by the debug description and
counted in `alb_rollouts_unserved_rollouts`; the gauge drops when one is deleted or changed to a strategy we
serve (which is then served as usual).
"""

from __future__ import annotations

import copy
from typing import Any

from prometheus_client import CollectorRegistry

from service import reconciling, results, rollout_metrics

from .world import NS, ROLLOUTS, World, rollout

EVENT = "StrategyNotServed"


def _smi(name: str) -> dict[str, Any]:
    return _routed_by(name, {"smi": {"rootService": "root"}})


def _routed_by(name: str, routing: dict[str, Any]) -> dict[str, Any]:
    body = rollout(name)
    body["spec"]["strategy"]["canary"]["trafficRouting"] = routing
    return body


async def test_unserved_rollouts_are_left_alone_and_said_once(world: Any) -> None:
    w: World = await world()
    registry = CollectorRegistry()
    w.reconciler.metrics = rollout_metrics.RolloutMetrics(registry)
    w.seed(name="served")
    w.apply(ROLLOUTS, _smi("bg"))
    w.apply(ROLLOUTS, _routed_by("mesh", {"istio": {"virtualService": {"name": "vs"}}}))
    w.apply(ROLLOUTS, _routed_by("both", {"alb": {"ingress": "app", "servicePort": 80},
                                          "nginx": {"stableIngress": "app"}}))
    await w.caught_up()
    before = {name: copy.deepcopy(w.get(ROLLOUTS, name)) for name in ("bg", "mesh", "both")}
    for _ in range(2):
        for name in ("bg", "mesh", "both"):
            assert await w.reconcile(f"{NS}/{name}") == results.Result()
    assert w.writer.writes == []
    assert w.replica_sets("bg") == {} and w.replica_sets("mesh") == {} and w.replica_sets("both") == {}
    for name, body in before.items():
        assert w.get(ROLLOUTS, name) == body  # no status, no Degraded
    messages = sorted(w.events(EVENT))
    assert len(messages) == 3
    assert all(e.get("count") == 1 and e["type"] == "Warning"
               for e in w.storage.list("events", NS) if e.get("reason") == EVENT)
    assert messages[0].startswith("alb-rollouts does not serve trafficRouting.istio: this Rollout is left "
                                  "to the Argo Rollouts controller, and alb-rollouts never writes to it.")
    assert "--instance-id" in messages[0]
    assert "argo-rollouts.argoproj.io/controller-instance-id=<id>" in messages[0]
    assert any("does not serve trafficRouting.istio:" in m for m in messages)
    assert any("does not serve trafficRouting.nginx (alb-rollouts routes with trafficRouting.alb alone)" in m
               for m in messages)
    assert w.reconciler.unserved() == {
        f"{NS}/both": "trafficRouting.nginx (alb-rollouts routes with trafficRouting.alb alone)",
        f"{NS}/bg": "trafficRouting.smi", f"{NS}/mesh": "trafficRouting.istio"}
    assert w.reconciler.describe(f"{NS}/mesh") == {"rollout": f"{NS}/mesh", "state": None,
                                                   "unserved": "trafficRouting.istio"}
    assert registry.get_sample_value("alb_rollouts_unserved_rollouts") == 3

    w.storage.delete(ROLLOUTS, NS, "bg")
    w.storage.merge_patch(ROLLOUTS, NS, "mesh", {"spec": {"strategy": {"canary": {"trafficRouting": {
        "istio": None, "alb": {"ingress": "app", "servicePort": 80}}}}}})
    await w.caught_up()
    await w.reconcile(f"{NS}/bg")
    await w.settle(lambda: w.status("mesh").get("phase") is not None, key=f"{NS}/mesh")
    assert registry.get_sample_value("alb_rollouts_unserved_rollouts") == 1
    assert w.reconciler.unserved() == {
        f"{NS}/both": "trafficRouting.nginx (alb-rollouts routes with trafficRouting.alb alone)"}
    assert w.replica_sets("mesh") != {}  # served now


async def test_an_event_that_could_not_be_written_is_said_again(world: Any) -> None:
    w: World = await world()
    w.apply(ROLLOUTS, _smi("bg"))
    await w.caught_up()
    w.faults.fail_next("create", "events", code=500)
    first = await w.reconcile(f"{NS}/bg")
    assert first == results.Result(requeue_after=reconciling.UNSERVED_EVENT_RETRY)
    assert w.events(EVENT) == []
    assert await w.reconcile(f"{NS}/bg") == results.Result()
    assert len(w.events(EVENT)) == 1
    assert w.writer.writes == []
